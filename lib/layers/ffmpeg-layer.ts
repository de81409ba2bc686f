import { LayerVersion, Runtime } from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { type StageOptions, stageFfmpegLayer } from '../../layers/stage.ts';
import { architectureOf, cdkArchitecture } from '../architecture.ts';
import { stagedLayerCode } from './layer-code.ts';

/** Where the layer puts the binaries in a function's file system. */
export const FFMPEG_PATH = '/opt/bin/ffmpeg';
export const FFPROBE_PATH = '/opt/bin/ffprobe';

export interface FfmpegLayerProps {
  /**
   * Where to stage the layer from and to (the architecture is the stack's).
   * @default - the project's node_modules (packages of another platform fetched at their locked
   * versions), staged to layers/ffmpeg/build/<architecture>
   */
  readonly staging?: Omit<StageOptions, 'architecture'>;
}

/**
 * Static ffmpeg and ffprobe builds for the stack's architecture at /opt/bin, staged at synth time from
 * the `@ffmpeg-installer/linux-<cpu>` and `@ffprobe-installer/linux-<cpu>` packages.
 */
export class FfmpegLayer extends LayerVersion {
  /** The installer packages (and versions) the binaries come from. */
  readonly packages: readonly { readonly name: string; readonly version: string }[];
  /** The directory the layer's asset was made from. */
  readonly stagedDirectory: string;

  constructor(scope: Construct, id: string, props: FfmpegLayerProps = {}) {
    const architecture = architectureOf(scope);
    const staged = stageFfmpegLayer({ ...props.staging, architecture });
    super(scope, id, {
      code: stagedLayerCode(staged.directory),
      compatibleRuntimes: [Runtime.NODEJS_22_X],
      compatibleArchitectures: [cdkArchitecture(architecture)],
      description: `ffmpeg and ffprobe (${staged.packages.map((p) => `${p.name}@${p.version}`).join(', ')}) in /opt/bin`,
      license: 'GPL-3.0',
    });
    this.packages = staged.packages;
    this.stagedDirectory = staged.directory;
  }
}
