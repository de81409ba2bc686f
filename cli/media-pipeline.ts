import { openAsBlob } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  createMediaClient,
  guessContentType,
  type JobStatus,
  type JobView,
  MediaApiError,
  type MediaAuth,
  type MediaClient,
  MediaTimeoutError,
  MediaUploadError,
  type PresetsResponse,
} from '../client/media-client.ts';
import { nodeTransport } from '../client/node-transport.ts';
import {
  describeJobList,
  formatBytes,
  lineProgress,
  type Output,
  type ProgressView,
  painter,
  renderTable,
  silentProgress,
  terminalProgress,
} from './render.ts';
import { UsageError } from './usage-error.ts';

/**
 * `media-pipeline`: upload files to the media pipeline and follow their jobs, from a terminal or a
 * script, through the typed client (client/media-client.ts). Progress goes to stderr (bars on a
 * terminal, plain lines otherwise), the summary to stdout; `--json` prints only JSON on stdout.
 *
 * Exit codes: 0 all went well; 1 a job failed, a file was refused or the API refused the request;
 * 2 the command line is wrong; 130 interrupted (Ctrl-C; multipart uploads in flight are aborted).
 */

export const DEFAULT_API_URL = 'http://127.0.0.1:3000';

const JOB_STATUSES: readonly JobStatus[] = ['awaiting_upload', 'queued', 'processing', 'done', 'failed'];

export const USAGE = `Usage: media-pipeline <command> [options]

Commands:
  upload <files…> --preset <name>   upload files and create a job for each
        [--callback-url URL]        a webhook URL told when each job is done or failed
        [--wait]                    follow the jobs until they are done or failed
        [--concurrency N]           parts in flight per file for large files (default 4)
        [--content-type TYPE]       the media type, when a file's extension does not tell it
        [--resume JOB_ID]           finish an interrupted multipart upload of one file
  status <job-id> [--wait]          show a job (and wait for it to finish)
  retry <job-id> [--wait]           re-queue a failed job
  list [--status S] [--limit N]     your jobs, newest first, N a page (default 50, at most 100);
       [--cursor C]                 S: ${JOB_STATUSES.slice(0, -1).join(', ')} or ${JOB_STATUSES.at(-1)};
                                    C: the cursor a page ends with, for the next page
  delete <job-id>                   delete a job, its upload and its results (not while it runs)
  presets                           list the presets and limits

Keys (written to the Tenants table directly, with your own access, not through the API):
  keys create --tenant NAME         a new API key (the last line of the output) for a tenant; a new
                                    tenant's webhook signing secret is shown too
  keys add-tenant --tenant NAME     register a tenant without a key (a JWT deployment's token subject)
                                    with its own webhook signing secret, shown once
  keys list                         every key: id, tenant, created, revoked
  keys revoke KEY_ID                revoke a key (the API may accept it for up to 5 more minutes)
  keys rotate-secret --tenant NAME  sign the tenant's webhooks with a new secret beside the current one;
       [--finish]                   --finish drops the old one once receivers use the new one
  Target: the running local runtime (found through $MEDIA_PIPELINE_DATA_DIR/runtime.json, default
  .local), or with --stack NAME [--region R] a deployed stack (its output TenantsTableName, with your
  AWS credentials).

Options:
  --api-url URL      the API (default: $MEDIA_PIPELINE_API_URL, else ${DEFAULT_API_URL})
  --api-key KEY      the API key to send (default: $MEDIA_PIPELINE_API_KEY); \`npm start\` prints the
                     local dev key, \`keys create\` makes others
  --token TOKEN      an OIDC token instead, for a deployment with auth: jwt
                     (default: $MEDIA_PIPELINE_TOKEN)
  --json             print machine-readable JSON only
  --timeout SECONDS  how long --wait waits (default 600)
  -h, --help         show this help

Exit codes: 0 success; 1 a job failed, a file was refused or the API refused; 2 usage; 130 interrupted.
`;

export interface CliIo {
  stdout: Output;
  stderr: Output;
  env: NodeJS.ProcessEnv;
  /** For tests: the client's fetch. */
  fetch?: typeof fetch;
  /** Aborted on Ctrl-C. */
  signal?: AbortSignal;
}

const OPTIONS = {
  preset: { type: 'string' },
  'callback-url': { type: 'string' },
  wait: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  concurrency: { type: 'string' },
  'content-type': { type: 'string' },
  resume: { type: 'string' },
  'api-url': { type: 'string' },
  'api-key': { type: 'string' },
  token: { type: 'string' },
  status: { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  tenant: { type: 'string' },
  finish: { type: 'boolean', default: false },
  stack: { type: 'string' },
  region: { type: 'string' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

type Flags = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

const positiveInt = (name: string, value: string | undefined, fallback: number, max: number): number => {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1 || number > max) {
    throw new UsageError(`--${name} must be a whole number from 1 to ${max}, not ${JSON.stringify(value)}`);
  }
  return number;
};

/** One line per file in the summary, and one object per file in `--json`. */
export interface UploadRow {
  file: string;
  job_id: string | null;
  /** A job status, or what stopped the file before it had one. */
  status: JobView['status'] | 'refused' | 'upload_failed' | 'cancelled' | 'timed_out';
  error: string | null;
  error_code: string | null;
  result_urls: Record<string, string> | null;
  result: Record<string, unknown> | null;
  /** Set when an interrupted multipart upload can be finished with --resume. */
  resume_job_id?: string;
}

const SUCCESS_AFTER_WAIT = new Set(['done']);
const SUCCESS_WITHOUT_WAIT = new Set(['awaiting_upload', 'queued', 'processing', 'done']);

/** Files uploaded at once; each large one sends its own parts in parallel. */
const PARALLEL_FILES = 2;

/** The message, with the cause a bare `fetch failed` hides (ECONNREFUSED and the like). */
const errorText = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? error.cause.message : undefined;
  return cause && error instanceof TypeError ? `${error.message} (${cause})` : error.message;
};

const isAbort = (error: unknown): boolean =>
  (error instanceof DOMException || error instanceof Error) && error.name === 'AbortError';

/** What the summary says beside a job: its outputs' URLs, or its error. */
const detailOf = (row: UploadRow): string => {
  if (row.error) return row.error_code ? `${row.error} [${row.error_code}]` : row.error;
  if (row.result_urls) {
    return Object.entries(row.result_urls)
      .map(([name, url]) => `${name}: ${url}`)
      .join('\n');
  }
  return '';
};

const rowFromJob = (file: string, job: JobView): UploadRow => ({
  file,
  job_id: job.id,
  status: job.status,
  error: job.error,
  error_code: job.error_code,
  result_urls: job.result_urls,
  result: job.result,
});

const rowFromError = (file: string, jobId: string | undefined, error: unknown): UploadRow => {
  const base = { file, job_id: jobId ?? null, result_urls: null, result: null };
  if (isAbort(error)) {
    return { ...base, status: 'cancelled', error: 'cancelled', error_code: 'Upload::Aborted' };
  }
  if (error instanceof MediaTimeoutError) {
    return { ...base, status: 'timed_out', error: error.message, error_code: null };
  }
  if (error instanceof MediaApiError) {
    return { ...base, status: 'refused', error: error.message, error_code: error.code };
  }
  if (error instanceof MediaUploadError) {
    return {
      ...base,
      job_id: error.jobId,
      status: 'upload_failed',
      error: error.message,
      error_code: null,
      ...(error.resumable ? { resume_job_id: error.jobId } : {}),
    };
  }
  return { ...base, status: 'upload_failed', error: errorText(error), error_code: null };
};

interface Context {
  client: MediaClient;
  flags: Flags;
  io: CliIo;
  signal: AbortSignal;
  timeoutMs: number;
}

const uploadOne = async (
  context: Context,
  path: string,
  view: ProgressView,
  index: number,
): Promise<UploadRow> => {
  const { client, flags, signal } = context;
  const file = basename(path);
  let jobId: string | undefined = flags.resume;
  try {
    const stats = await stat(path).catch(() => undefined);
    if (!stats?.isFile()) throw new UsageError(`${path} is not a file`);
    const contentType = flags['content-type'] ?? guessContentType(file);
    if (!contentType) {
      throw new UsageError(
        `cannot tell the media type of ${file} from its name; pass --content-type (e.g. image/jpeg or video/mp4)`,
      );
    }
    const blob = await openAsBlob(path, { type: contentType });
    let method: string | undefined;
    view.update(index, { kind: 'uploading', sent: 0, total: stats.size });
    await client.upload(blob, {
      preset: flags.preset ?? '',
      ...(flags['callback-url'] ? { callbackUrl: flags['callback-url'] } : {}),
      ...(flags.resume ? { resumeJobId: flags.resume } : {}),
      concurrency: positiveInt('concurrency', flags.concurrency, 4, 32),
      fileName: file,
      contentType,
      signal,
      onCreated: (created) => {
        jobId = created.jobId;
        method = created.upload.method;
      },
      onProgress: (sent, total) =>
        view.update(index, { kind: 'uploading', sent, total, ...(method ? { method } : {}) }),
    });
    const id = jobId ?? '';
    const job = flags.wait
      ? await client.waitForJob(id, {
          signal,
          timeoutMs: context.timeoutMs,
          onUpdate: (update) => view.update(index, { kind: 'job', status: update.status }),
        })
      : await client.getJob(id, { signal });
    const row = rowFromJob(file, job);
    view.update(index, { kind: 'finished', status: row.status, ...(row.error ? { detail: row.error } : {}) });
    return row;
  } catch (error) {
    const row =
      error instanceof UsageError
        ? { ...rowFromError(file, jobId, error), status: 'refused' as const }
        : rowFromError(file, jobId, error);
    view.update(index, { kind: 'finished', status: row.status, detail: row.error ?? '' });
    return row;
  }
};

/** Runs `work` over `items` with at most `limit` at once, keeping the results in order. */
const mapLimited = async <T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
) => {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < items.length; index = next++) {
      results[index] = await work(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
};

const uploadCommand = async (context: Context, paths: string[]): Promise<number> => {
  const { flags, io } = context;
  if (paths.length === 0) throw new UsageError('upload needs at least one file');
  if (!flags.preset) throw new UsageError('upload needs --preset <name> (media-pipeline presets lists them)');
  if (flags.resume && paths.length !== 1) throw new UsageError('--resume takes exactly one file');
  positiveInt('concurrency', flags.concurrency, 4, 32);

  const labels = paths.map((path) => basename(path));
  const view = flags.json
    ? silentProgress
    : io.stderr.isTTY
      ? terminalProgress(io.stderr, labels)
      : lineProgress(io.stderr, labels);
  const rows = await mapLimited(paths, PARALLEL_FILES, (path, index) =>
    uploadOne(context, path, view, index),
  );
  view.stop();

  const succeeded = flags.wait ? SUCCESS_AFTER_WAIT : SUCCESS_WITHOUT_WAIT;
  const ok = rows.every((row) => succeeded.has(row.status));
  if (flags.json) {
    io.stdout.write(`${JSON.stringify({ ok, uploads: rows }, null, 2)}\n`);
  } else {
    const paint = painter(io.stdout, io.env);
    io.stdout.write(
      renderTable(
        ['FILE', 'JOB ID', 'STATUS', flags.wait ? 'RESULT' : 'DETAIL'],
        rows.map((row) => [row.file, row.job_id ?? '-', row.status, detailOf(row)]),
        paint,
      ),
    );
    for (const row of rows.filter((candidate) => candidate.resume_job_id)) {
      io.stderr.write(
        `To finish ${row.file}: media-pipeline upload ${row.file} --preset ${flags.preset} --resume ${row.resume_job_id}\n`,
      );
    }
  }
  if (context.signal.aborted) return 130;
  return ok ? 0 : 1;
};

const describeJob = (job: JobView): string => {
  const lines: Array<[string, string]> = [
    ['job', job.id],
    ['status', job.status],
    ['file', `${job.file_name} (${job.content_type}, ${formatBytes(job.size)})`],
    ['preset', job.preset],
    ['attempts', `${job.attempts} of ${job.max_attempts}`],
  ];
  if (job.duplicate_of) lines.push(['duplicate of', job.duplicate_of]);
  if (job.error) lines.push(['error', job.error_code ? `${job.error} [${job.error_code}]` : job.error]);
  if (job.webhook) lines.push(['webhook', `${job.webhook.status} after ${job.webhook.attempts} attempt(s)`]);
  for (const [name, url] of Object.entries(job.result_urls ?? {})) lines.push([name, url]);
  const width = Math.max(...lines.map(([key]) => key.length));
  return `${lines.map(([key, value]) => `${key.padEnd(width)}  ${value}`).join('\n')}\n`;
};

const jobIdArgument = (command: string, positionals: string[]): string => {
  const [id, ...rest] = positionals;
  if (!id || rest.length > 0) throw new UsageError(`${command} takes one job id`);
  return id;
};

const followJob = (context: Context, id: string): Promise<JobView> => {
  const { io, flags } = context;
  const view = flags.json
    ? silentProgress
    : io.stderr.isTTY
      ? terminalProgress(io.stderr, [id])
      : lineProgress(io.stderr, [id]);
  return context.client
    .waitForJob(id, {
      signal: context.signal,
      timeoutMs: context.timeoutMs,
      onUpdate: (job) => view.update(0, { kind: 'job', status: job.status }),
    })
    .finally(() => view.stop());
};

const printJob = (context: Context, job: JobView): number => {
  context.io.stdout.write(context.flags.json ? `${JSON.stringify(job, null, 2)}\n` : describeJob(job));
  return job.status === 'failed' ? 1 : 0;
};

const statusCommand = async (context: Context, positionals: string[]): Promise<number> => {
  const id = jobIdArgument('status', positionals);
  const job = context.flags.wait ? await followJob(context, id) : await context.client.getJob(id);
  return printJob(context, job);
};

const retryCommand = async (context: Context, positionals: string[]): Promise<number> => {
  const id = jobIdArgument('retry', positionals);
  const retried = await context.client.retryJob(id);
  if (context.flags.wait) return printJob(context, await followJob(context, id));
  context.io.stdout.write(
    context.flags.json
      ? `${JSON.stringify(retried, null, 2)}\n`
      : `job ${retried.job_id} is queued again (attempt ${retried.attempts + 1})\n`,
  );
  return 0;
};

const describePresets = (listing: PresetsResponse, paint: ReturnType<typeof painter>): string => {
  const rows = listing.presets.map((preset) => {
    const images = preset.image?.variants
      .map((v) => `${v.name} ${v.width}×${v.height} ${v.format}`)
      .join('\n');
    const video = preset.video
      ? `poster ${preset.video.poster.width} px ${preset.video.poster.format} at ${preset.video.poster.at_second} s`
      : '';
    return [
      preset.name,
      preset.accept.join('\n'),
      [images, video].filter(Boolean).join('\n'),
      preset.description,
    ];
  });
  const { limits } = listing;
  return (
    renderTable(['PRESET', 'ACCEPTS', 'MAKES', 'DESCRIPTION'], rows, paint) +
    `\nImages up to ${formatBytes(limits.image_max_bytes)} and ${limits.image_max_pixels.toLocaleString('en')} pixels; ` +
    `videos up to ${formatBytes(limits.video_max_bytes)} and ${limits.video_max_duration_seconds} s. ` +
    `Files over ${formatBytes(limits.multipart_threshold_bytes)} are sent in parts.\n`
  );
};

const presetsCommand = async (context: Context, positionals: string[]): Promise<number> => {
  if (positionals.length > 0) throw new UsageError('presets takes no arguments');
  const listing = await context.client.listPresets();
  context.io.stdout.write(
    context.flags.json
      ? `${JSON.stringify(listing, null, 2)}\n`
      : describePresets(listing, painter(context.io.stdout, context.io.env)),
  );
  return 0;
};

const isJobStatus = (value: string): value is JobStatus =>
  (JOB_STATUSES as readonly string[]).includes(value);

const listCommand = async (context: Context, positionals: string[]): Promise<number> => {
  const { flags, io } = context;
  if (positionals.length > 0) throw new UsageError('list takes no arguments (filter with --status)');
  const status = flags.status;
  if (status !== undefined && !isJobStatus(status)) {
    throw new UsageError(`--status must be one of ${JOB_STATUSES.join(', ')}, not ${JSON.stringify(status)}`);
  }
  const limit = flags.limit === undefined ? undefined : positiveInt('limit', flags.limit, 50, 100);
  const page = await context.client.listJobs({
    ...(limit === undefined ? {} : { limit }),
    ...(flags.cursor ? { cursor: flags.cursor } : {}),
    ...(status ? { status } : {}),
    signal: context.signal,
  });
  if (flags.json) {
    io.stdout.write(`${JSON.stringify(page, null, 2)}\n`);
    return 0;
  }
  const again = ['media-pipeline list', status ? `--status ${status}` : '', limit ? `--limit ${limit}` : '']
    .filter(Boolean)
    .join(' ');
  io.stdout.write(describeJobList(page, again, painter(io.stdout, io.env)));
  return 0;
};

const deleteCommand = async (context: Context, positionals: string[]): Promise<number> => {
  const id = jobIdArgument('delete', positionals);
  await context.client.deleteJob(id);
  context.io.stdout.write(
    context.flags.json ? `${JSON.stringify({ job_id: id, deleted: true })}\n` : `job ${id} is deleted\n`,
  );
  return 0;
};

const keysCommand = async (context: Context, positionals: string[]): Promise<number> => {
  // Loaded only here: the DynamoDB and CloudFormation clients are of no use to the other commands.
  const keys = await import('./keys.ts');
  return keys.keysCommand(positionals, context.flags, context.io);
};

const COMMANDS: Record<string, (context: Context, positionals: string[]) => Promise<number>> = {
  upload: uploadCommand,
  status: statusCommand,
  retry: retryCommand,
  list: listCommand,
  delete: deleteCommand,
  presets: presetsCommand,
  keys: keysCommand,
};

/** What to say in a 401 sent without a credential: this CLI's ways of passing one. */
export const CLI_AUTH_HINT =
  'pass --api-key KEY or set MEDIA_PIPELINE_API_KEY (npm start prints the local dev key; `media-pipeline keys create --tenant NAME` makes one), or --token / MEDIA_PIPELINE_TOKEN for an OIDC token';

/** The credential from the flags, else from the environment; both kinds at once is a usage error. */
export const credentialOf = (
  flags: Pick<Flags, 'api-key' | 'token'>,
  env: NodeJS.ProcessEnv,
): MediaAuth | undefined => {
  if (flags['api-key'] !== undefined && flags.token !== undefined) {
    throw new UsageError('pass --api-key or --token, not both');
  }
  if (flags['api-key'] !== undefined) return { apiKey: flags['api-key'] };
  if (flags.token !== undefined) return { token: flags.token };
  const apiKey = env.MEDIA_PIPELINE_API_KEY || undefined;
  const token = env.MEDIA_PIPELINE_TOKEN || undefined;
  if (apiKey && token) {
    throw new UsageError(
      'MEDIA_PIPELINE_API_KEY and MEDIA_PIPELINE_TOKEN are both set: unset one, or choose with --api-key or --token',
    );
  }
  if (apiKey) return { apiKey };
  if (token) return { token };
  return undefined;
};

/** Runs the CLI with these arguments (without `node` and the script) and returns its exit code. */
export const run = async (argv: string[], io: CliIo): Promise<number> => {
  let flags: Flags | undefined;
  let baseUrl: string | undefined;
  try {
    const parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    flags = parsed.values;
    const [command, ...positionals] = parsed.positionals;
    if (flags.help || !command) {
      (flags.help ? io.stdout : io.stderr).write(USAGE);
      return flags.help ? 0 : 2;
    }
    const handler = COMMANDS[command];
    if (!handler) throw new UsageError(`unknown command "${command}"`);
    baseUrl = flags['api-url'] ?? io.env.MEDIA_PIPELINE_API_URL ?? DEFAULT_API_URL;
    if (!/^https?:\/\//.test(baseUrl))
      throw new UsageError(`the API URL must start with http:// or https://, not ${baseUrl}`);
    const auth = credentialOf(flags, io.env);
    // nodeTransport: progress as each body streams out, where fetch reports it only when a request ends.
    const client = createMediaClient({
      baseUrl,
      ...(auth ? { auth } : {}),
      authHint: CLI_AUTH_HINT,
      transport: nodeTransport,
      ...(io.fetch ? { fetch: io.fetch } : {}),
    });
    const timeoutMs = positiveInt('timeout', flags.timeout, 600, 86_400) * 1000;
    return await handler(
      { client, flags, io, signal: io.signal ?? new AbortController().signal, timeoutMs },
      positionals,
    );
  } catch (error) {
    const usage =
      error instanceof UsageError ||
      (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'));
    if (flags?.json) {
      const body =
        error instanceof MediaApiError
          ? { code: error.code, message: error.message, status: error.status }
          : { code: usage ? 'Cli::Usage' : 'Cli::Failed', message: errorText(error) };
      io.stdout.write(`${JSON.stringify({ ok: false, error: body }, null, 2)}\n`);
    } else {
      const unreachable =
        error instanceof TypeError && !usage && baseUrl ? `; is the API running at ${baseUrl}?` : '';
      io.stderr.write(`media-pipeline: ${errorText(error)}${unreachable}${usage ? `\n\n${USAGE}` : '\n'}`);
    }
    if (isAbort(error)) return 130;
    return usage ? 2 : 1;
  }
};

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);

/** The process entry (cli/media-pipeline.mjs, or `tsx cli/media-pipeline.ts`): Ctrl-C cancels cleanly. */
export const main = async (argv: string[] = process.argv.slice(2)): Promise<void> => {
  const controller = new AbortController();
  let interrupts = 0;
  process.on('SIGINT', () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    process.stderr.write('\ncancelling (Ctrl-C again to quit at once)…\n');
    controller.abort();
  });
  process.exitCode = await run(argv, {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    signal: controller.signal,
  });
};

if (isMain) await main();
