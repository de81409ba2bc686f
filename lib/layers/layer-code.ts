import { AssetHashType, FileSystem } from 'aws-cdk-lib';
import { Code } from 'aws-cdk-lib/aws-lambda';
import { layerAssetSalt } from '../../layers/stage.ts';

/**
 * A staged layer directory as Lambda code, its asset hash covering the files' modes as well as their
 * paths and contents. CDK's own hash (`AssetHashType.SOURCE`) leaves modes out, so a binary once staged
 * without its execute bit would keep its hash after the fix and CloudFormation would keep the broken
 * zip; here the hash is CDK's fingerprint of the directory salted with every file's mode and the
 * staging version (layers/stage.ts `layerAssetSalt`).
 */
export const stagedLayerCode = (directory: string) =>
  Code.fromAsset(directory, {
    assetHashType: AssetHashType.CUSTOM,
    assetHash: FileSystem.fingerprint(directory, { extraHash: layerAssetSalt(directory) }),
  });
