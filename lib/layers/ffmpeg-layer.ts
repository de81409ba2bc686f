import { Architecture, Code, LayerVersion, Runtime } from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { type StageOptions, stageFfmpegLayer } from '../../layers/stage.ts';

/** Where the layer puts the binaries in a function's file system. */
export const FFMPEG_PATH = '/opt/bin/ffmpeg';
export const FFPROBE_PATH = '/opt/bin/ffprobe';

export interface FfmpegLayerProps {
  /**
   * Where to stage the layer from and to.
   * @default - the project's node_modules, staged to layers/ffmpeg/build
   */
  readonly staging?: StageOptions;
}

/**
 * Static ffmpeg and ffprobe builds for linux-x64 at /opt/bin, staged at synth time from the
 * `@ffmpeg-installer/linux-x64` and `@ffprobe-installer/linux-x64` packages.
 */
export class FfmpegLayer extends LayerVersion {
  /** The installer packages (and versions) the binaries come from. */
  readonly packages: readonly { readonly name: string; readonly version: string }[];

  constructor(scope: Construct, id: string, props: FfmpegLayerProps = {}) {
    const staged = stageFfmpegLayer(props.staging);
    super(scope, id, {
      code: Code.fromAsset(staged.directory),
      compatibleRuntimes: [Runtime.NODEJS_22_X],
      compatibleArchitectures: [Architecture.X86_64],
      description: `ffmpeg and ffprobe (${staged.packages.map((p) => `${p.name}@${p.version}`).join(', ')}) in /opt/bin`,
      license: 'GPL-3.0',
    });
    this.packages = staged.packages;
  }
}
