/**
 * Synthesizes the stack in-process for the local runtime, or reuses the assembly a previous run left
 * when nothing it was made from has changed since. The CDK app is loaded only when a synth is needed,
 * so a reuse costs a few file stats instead of loading aws-cdk-lib and bundling every function.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostArchitecture } from '../lib/architecture.ts';
import type { CfnTemplate, SynthesizedStack } from './types.ts';

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** What the assembly is made from: anything here newer than the assembly means synthesizing again. */
export const SYNTH_SOURCES: readonly string[] = [
  'bin',
  'lib',
  'functions',
  // The upload page is built into the web function's asset at synth time, with the client it imports.
  'web',
  'client',
  'layers/stage.ts',
  'presets.json',
  'package-lock.json',
];

/** Directories under the sources that are outputs, not inputs. */
const SKIPPED_DIRECTORIES = new Set(['node_modules', 'build', 'cdk.out']);

/**
 * Context of a local synth, over cdk.json's: a developer's own webhook receiver on localhost must work.
 * `retainData` means nothing locally (nothing is ever deleted), so it is left as cdk.json has it.
 * `architecture` is the host's: the runtime runs the layers' binaries on this machine, so they are
 * staged for its CPU (Linux; on another OS they cannot run here whichever architecture is staged).
 */
export const LOCAL_CONTEXT: Readonly<Record<string, unknown>> = {
  ...(hostArchitecture() ? { architecture: hostArchitecture() } : {}),
  allowLoopbackCallbacks: true,
  quotaJobsPerDay: 0,
  quotaBytesPerDay: 0,
};

/**
 * Context the CDK CLI passes and an in-process `new App()` does not get by itself: without it the
 * template carries no `aws:asset:path` metadata, which is how the runtime finds each function's code.
 */
const CLI_CONTEXT: Readonly<Record<string, unknown>> = {
  'aws:cdk:enable-asset-metadata': true,
  'aws:cdk:enable-path-metadata': true,
};

const STAMP_FILE = 'local-synth.json';

interface Stamp {
  /** When the synth that wrote the assembly started: a source modified later makes it stale. */
  startedAtMs: number;
  context: Record<string, unknown>;
  stackName: string;
  templateFile: string;
}

export interface SynthOptions {
  /** The cloud assembly directory (cdk.out of the local runtime). */
  outdir: string;
  /** Context over cdk.json's and LOCAL_CONTEXT. */
  context?: Record<string, unknown>;
  /** Synthesize even if the assembly is up to date. */
  force?: boolean;
  /**
   * Called before a synth starts (not when the assembly is reused), with why and how many functions it
   * bundles: a synth with bundling takes about a minute, and the runtime says so.
   */
  onSynthesize?: (reason: string, functionCount: number) => void;
}

/** The functions a synth bundles: one per `functions/<name>/handler.ts`. */
export const countFunctions = async (root: string = PROJECT_ROOT): Promise<number> => {
  const entries = await readdir(join(root, 'functions'), { withFileTypes: true }).catch(() => []);
  return entries.filter(
    (entry) => entry.isDirectory() && existsSync(join(root, 'functions', entry.name, 'handler.ts')),
  ).length;
};

export interface SynthResult extends SynthesizedStack {
  /** True when the existing assembly was reused. */
  reused: boolean;
  durationMs: number;
}

/** cdk.json's context (feature flags included) and cdk.context.json's cached lookups, as the CLI reads them. */
const projectContext = async (): Promise<Record<string, unknown>> => {
  const readContext = async (file: string, key?: string): Promise<Record<string, unknown>> => {
    const path = join(PROJECT_ROOT, file);
    if (!existsSync(path)) return {};
    const json = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    return ((key ? json[key] : json) ?? {}) as Record<string, unknown>;
  };
  return { ...(await readContext('cdk.context.json')), ...(await readContext('cdk.json', 'context')) };
};

/** The context a local synth runs with. */
export const effectiveContext = async (
  context: Record<string, unknown> = {},
): Promise<Record<string, unknown>> => ({
  ...(await projectContext()),
  ...LOCAL_CONTEXT,
  ...context,
  ...CLI_CONTEXT,
});

/** A stable JSON rendering (sorted keys), to compare contexts. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, item: unknown) =>
    item !== null && typeof item === 'object' && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => a.localeCompare(b)))
      : item,
  );

/** The latest modification time of any file under `paths` (relative to `root`), and that file. */
export const newestSource = async (
  root: string,
  paths: readonly string[] = SYNTH_SOURCES,
): Promise<{ path: string; mtimeMs: number } | undefined> => {
  let newest: { path: string; mtimeMs: number } | undefined;
  const visit = async (path: string): Promise<void> => {
    const stats = await stat(path).catch(() => undefined);
    if (!stats) return;
    if (stats.isDirectory()) {
      const entries = await readdir(path, { withFileTypes: true });
      await Promise.all(
        entries
          .filter((entry) => !(entry.isDirectory() && SKIPPED_DIRECTORIES.has(entry.name)))
          .map((entry) => visit(join(path, entry.name))),
      );
      return;
    }
    if (!newest || stats.mtimeMs > newest.mtimeMs) newest = { path, mtimeMs: stats.mtimeMs };
  };
  await Promise.all(paths.map((path) => visit(join(root, path))));
  return newest;
};

/**
 * Why the assembly in `outdir` cannot be reused for `context`, or undefined when it can: it exists,
 * was made with the same context, and no source is newer than the synth that made it.
 */
export const staleReason = async (
  outdir: string,
  context: Record<string, unknown>,
  options: { root?: string; sources?: readonly string[] } = {},
): Promise<string | undefined> => {
  const stamp = await readStamp(outdir);
  if (!stamp) return 'no previous local synth';
  if (canonical(stamp.context) !== canonical(context)) return 'the context changed';
  if (!existsSync(join(outdir, stamp.templateFile))) return 'the template is missing';
  const newest = await newestSource(options.root ?? PROJECT_ROOT, options.sources);
  if (newest && newest.mtimeMs >= stamp.startedAtMs) return `${newest.path} changed`;
  return undefined;
};

const readStamp = async (outdir: string): Promise<Stamp | undefined> => {
  try {
    return JSON.parse(await readFile(join(outdir, STAMP_FILE), 'utf8')) as Stamp;
  } catch {
    return undefined;
  }
};

const writeStamp = async (outdir: string, stamp: Stamp): Promise<void> => {
  const path = join(outdir, STAMP_FILE);
  await writeFile(`${path}.tmp`, `${JSON.stringify(stamp, null, 2)}\n`);
  await rename(`${path}.tmp`, path);
};

/**
 * The stack's template and assembly directory: synthesized in-process (`defineMediaPipeline`, so
 * cdk-nag runs as in `npm run synth`), or the previous assembly when it is up to date.
 */
export const synthesizeStack = async (options: SynthOptions): Promise<SynthResult> => {
  const started = Date.now();
  const outdir = resolve(options.outdir);
  const context = await effectiveContext(options.context);
  const reason = options.force ? 'asked to' : await staleReason(outdir, context);
  if (reason === undefined) {
    const stamp = (await readStamp(outdir)) as Stamp;
    const template = JSON.parse(await readFile(join(outdir, stamp.templateFile), 'utf8')) as CfnTemplate;
    return {
      stackName: stamp.stackName,
      template,
      assemblyDir: outdir,
      reused: true,
      durationMs: Date.now() - started,
    };
  }

  options.onSynthesize?.(reason, await countFunctions());
  await mkdir(outdir, { recursive: true });
  // A synth that fails halfway may have rewritten the template: until one succeeds, nothing is reusable.
  await rm(join(outdir, STAMP_FILE), { force: true });
  const [{ App }, { defineMediaPipeline }] = await Promise.all([
    import('aws-cdk-lib'),
    import('../lib/app.ts'),
  ]);
  // CloudFormation's schema validation is `npm run synth`'s job; locally checkSupport checks what matters.
  const app = new App({ outdir, context, builtinCloudFormationValidation: false });
  const stack = defineMediaPipeline(app);
  const assembly = app.synth();
  const artifact = assembly.getStackArtifact(stack.artifactId);
  await writeStamp(outdir, {
    startedAtMs: started,
    context,
    stackName: artifact.stackName,
    templateFile: artifact.templateFile,
  });
  return {
    stackName: artifact.stackName,
    template: artifact.template as CfnTemplate,
    assemblyDir: outdir,
    reused: false,
    durationMs: Date.now() - started,
  };
};
