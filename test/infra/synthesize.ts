import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { defineMediaPipeline } from '#lib/app';
import type { MediaPipelineStack, MediaPipelineStackProps } from '#lib/media-pipeline-stack';
import { PROJECT_ROOT } from '#lib/paths';

/** The context `cdk synth` runs with (feature flags included), so the tests check what gets deployed. */
export const cdkJsonContext = (): Record<string, unknown> =>
  (JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> })
    .context;

/**
 * An app for construct tests: the project's context (feature flags included), without CDK's built-in
 * CloudFormation template validation, which costs several CPU seconds per synth and checks nothing
 * these tests assert (`npm run synth` runs it; cdk-nag runs wherever a test asks for it).
 */
export const testApp = (context: Record<string, unknown> = {}, outdir?: string): App =>
  new App({ outdir, context: { ...cdkJsonContext(), ...context }, builtinCloudFormationValidation: false });

export interface SynthesizedPipeline {
  readonly app: App;
  readonly stack: MediaPipelineStack;
  readonly template: Template;
  /** The cloud assembly directory: the bundled assets are in `asset.<hash>/`. */
  readonly outdir: string;
  readonly cleanUp: () => void;
}

/**
 * Synthesizes the whole app once (it bundles every function with esbuild, which takes a while): call it
 * in `beforeAll` and share the result. The assembly goes to a temporary directory that `cleanUp` removes.
 */
export const synthesizePipeline = (
  props: MediaPipelineStackProps = {},
  context: Record<string, unknown> = {},
): SynthesizedPipeline => {
  const outdir = mkdtempSync(join(tmpdir(), 'media-pipeline-cdk-'));
  const app = testApp(context, outdir);
  const stack = defineMediaPipeline(app, props);
  const template = Template.fromStack(stack);
  return { app, stack, template, outdir, cleanUp: () => rmSync(outdir, { recursive: true, force: true }) };
};
