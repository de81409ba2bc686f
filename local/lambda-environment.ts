/**
 * The environment a function's worker process starts with, standing in for Lambda's sandbox:
 * - /opt: nothing is mounted there locally, so every environment value under `/opt/` is rewritten to
 *   the same path inside the function's layer directories when the file exists there (later layers
 *   win, as later layers overwrite earlier ones in /opt). `FFMPEG_PATH=/opt/bin/ffmpeg` becomes
 *   `<ffmpeg layer>/bin/ffmpeg`. NODE_PATH gets each layer's `nodejs/node22/node_modules` and
 *   `nodejs/node_modules`, PATH each layer's `bin`, LD_LIBRARY_PATH each layer's `lib`.
 * - Environment, later wins: a minimal base (PATH, NODE_PATH, LD_LIBRARY_PATH, TZ=UTC, LANG, HOME,
 *   TMPDIR, the SDK's Node-version notice off: it concerns the host's Node, not nodejs22.x), the function's own variables, Lambda's reserved ones (AWS_REGION, AWS_LAMBDA_*,
 *   LAMBDA_TASK_ROOT, _HANDLER), then `extraEnv` (endpoints and credentials the runtime hands every
 *   function). The parent's other variables do not leak in.
 */
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { type FunctionSpec, LOCAL_REGION } from './types.ts';

/** Rewrites `/opt/...` (alone or inside a `:`-separated list) to an existing file of one of the layers. */
export const resolveOptPath = (value: string, layerDirs: readonly string[]): string =>
  value
    .split(':')
    .map((part) => {
      if (!part.startsWith('/opt/')) return part;
      const relative = part.slice('/opt/'.length);
      for (const layerDir of [...layerDirs].reverse()) {
        const candidate = join(layerDir, relative);
        if (existsSync(candidate)) return candidate;
      }
      return part;
    })
    .join(':');

/**
 * Rewrites `/var/task/...` (Lambda's LAMBDA_TASK_ROOT, where the function's asset is) to the same path in
 * the function's asset directory: a template that bundles binaries into the asset (the `localstack`
 * target's `FFMPEG_PATH=/var/task/bin/ffmpeg`) runs here too.
 */
export const resolveTaskRootPath = (value: string, codeDir: string): string =>
  value
    .split(':')
    .map((part) => (part.startsWith('/var/task/') ? join(codeDir, part.slice('/var/task/'.length)) : part))
    .join(':');

const prependPaths = (paths: string[], existing: string | undefined): string =>
  [...paths, ...(existing ? [existing] : [])].join(delimiter);

/** The environment a function's worker starts with (see the module comment for the precedence). */
export const functionEnvironment = (
  spec: FunctionSpec,
  options: { extraEnv?: Record<string, string>; region?: string } = {},
): Record<string, string> => {
  const region = options.region ?? LOCAL_REGION;
  // Later layers overwrite earlier ones in /opt, so they come first in lookups.
  const layers = [...spec.layerDirs].reverse();
  // Lambda's unreserved variables: a function's own environment may override these.
  const base: Record<string, string> = {
    TZ: 'UTC',
    LANG: 'en_US.UTF-8',
    PATH: prependPaths(
      layers.map((layer) => join(layer, 'bin')),
      process.env.PATH,
    ),
    LD_LIBRARY_PATH: prependPaths(
      layers.map((layer) => join(layer, 'lib')),
      process.env.LD_LIBRARY_PATH,
    ),
    NODE_PATH: [
      ...layers.flatMap((layer) => [
        join(layer, 'nodejs', 'node22', 'node_modules'),
        join(layer, 'nodejs', 'node_modules'),
      ]),
      spec.codeDir,
    ].join(delimiter),
  };
  // The functions run on nodejs22.x in AWS; here on the host's Node, whose age the SDK's notice is about.
  base.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  for (const name of ['HOME', 'TMPDIR', 'USER', 'SystemRoot']) {
    const value = process.env[name];
    if (value !== undefined) base[name] = value;
  }
  const reserved: Record<string, string> = {
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_LAMBDA_FUNCTION_NAME: spec.name,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(spec.memoryMb),
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${spec.name}`,
    AWS_LAMBDA_LOG_STREAM_NAME: `local/[$LATEST]${spec.logicalId}`,
    LAMBDA_TASK_ROOT: spec.codeDir,
    _HANDLER: spec.handler,
  };
  const merged: Record<string, string> = {
    ...base,
    ...spec.environment,
    ...reserved,
    ...options.extraEnv,
    ...spec.runtimeOverrides,
  };
  for (const [name, value] of Object.entries(merged)) {
    merged[name] = resolveTaskRootPath(resolveOptPath(value, spec.layerDirs), spec.codeDir);
  }
  return merged;
};
