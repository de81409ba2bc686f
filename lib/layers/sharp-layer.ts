import { LayerVersion, Runtime } from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { lambdaPlatform, type StageOptions, stageSharpLayer } from '../../layers/stage.ts';
import { architectureOf, cdkArchitecture } from '../architecture.ts';
import { stagedLayerCode } from './layer-code.ts';

/** Bundles that use the layer leave this module out (`externalModules`) and `require` it at run time. */
export const SHARP_MODULE = 'sharp';

export interface SharpLayerProps {
  /**
   * Where to stage the layer from and to (the architecture is the stack's).
   * @default - the project's node_modules (packages of another platform fetched at their locked
   * versions), staged to layers/sharp/build/<architecture>
   */
  readonly staging?: Omit<StageOptions, 'architecture'>;
}

/**
 * sharp with its libvips binaries for linux (glibc) on the stack's architecture in
 * /opt/nodejs/node_modules, which Lambda puts on NODE_PATH: a CommonJS bundle that keeps `sharp`
 * external finds it there.
 */
export class SharpLayer extends LayerVersion {
  /** The packages (and versions) in the layer. */
  readonly packages: readonly { readonly name: string; readonly version: string }[];
  /** The directory the layer's asset was made from. */
  readonly stagedDirectory: string;

  constructor(scope: Construct, id: string, props: SharpLayerProps = {}) {
    const architecture = architectureOf(scope);
    const staged = stageSharpLayer({ ...props.staging, architecture });
    const sharp = staged.packages.find((p) => p.name === SHARP_MODULE);
    super(scope, id, {
      code: stagedLayerCode(staged.directory),
      compatibleRuntimes: [Runtime.NODEJS_22_X],
      compatibleArchitectures: [cdkArchitecture(architecture)],
      description: `sharp ${sharp?.version ?? ''} for linux-${lambdaPlatform(architecture).cpu} in /opt/nodejs/node_modules`,
      license: 'Apache-2.0 AND LGPL-3.0-or-later',
    });
    this.packages = staged.packages;
    this.stagedDirectory = staged.directory;
  }
}
