import { Architecture, Code, LayerVersion, Runtime } from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { type StageOptions, stageSharpLayer } from '../../layers/stage.ts';

/** Bundles that use the layer leave this module out (`externalModules`) and `require` it at run time. */
export const SHARP_MODULE = 'sharp';

export interface SharpLayerProps {
  /**
   * Where to stage the layer from and to.
   * @default - the project's node_modules, staged to layers/sharp/build
   */
  readonly staging?: StageOptions;
}

/**
 * sharp with its linux-x64 (glibc) libvips binaries in /opt/nodejs/node_modules, which Lambda puts on
 * NODE_PATH: a CommonJS bundle that keeps `sharp` external finds it there.
 */
export class SharpLayer extends LayerVersion {
  /** The packages (and versions) in the layer. */
  readonly packages: readonly { readonly name: string; readonly version: string }[];

  constructor(scope: Construct, id: string, props: SharpLayerProps = {}) {
    const staged = stageSharpLayer(props.staging);
    const sharp = staged.packages.find((p) => p.name === SHARP_MODULE);
    super(scope, id, {
      code: Code.fromAsset(staged.directory),
      compatibleRuntimes: [Runtime.NODEJS_22_X],
      compatibleArchitectures: [Architecture.X86_64],
      description: `sharp ${sharp?.version ?? ''} for linux-x64 in /opt/nodejs/node_modules`,
      license: 'Apache-2.0 AND LGPL-3.0-or-later',
    });
    this.packages = staged.packages;
  }
}
