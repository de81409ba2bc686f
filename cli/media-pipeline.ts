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
import { invocationOf, shellCommand } from './invocation.ts';
import {
  describeJobList,
  describeResult,
  displayStatus,
  formatBytes,
  lineProgress,
  type Output,
  type ProgressView,
  painter,
  renderTable,
  silentProgress,
  terminalProgress,
} from './render.ts';
import { dropNote, keepNote } from './unfinished-uploads.ts';
import { UsageError } from './usage-error.ts';

/**
 * `media-pipeline`: upload files to the media pipeline and follow their jobs, from a terminal or a
 * script, through the typed client (client/media-client.ts). Progress goes to stderr (bars on a
 * terminal, plain lines otherwise), the summary to stdout; `--json` prints only JSON on stdout.
 *
 * Exit codes: 0 all went well; 1 a job failed, a file was refused or the API refused the request;
 * 2 the command line is wrong; 130 interrupted by Ctrl-C, 129 by a closed terminal (SIGHUP), 143 by
 * SIGTERM. An interrupted multipart upload keeps its parts and prints the command that resumes it; a
 * second Ctrl-C within a few seconds aborts it for real.
 */

export const DEFAULT_API_URL = 'http://127.0.0.1:3000';

const JOB_STATUSES: readonly JobStatus[] = ['awaiting_upload', 'queued', 'processing', 'done', 'failed'];

/** After a first Ctrl-C, how long a second one aborts the interrupted uploads for real. */
export const ABORT_WINDOW_MS = 3_000;

/**
 * Signals this close after the one before are the same keypress: npm (npx, npm run) and tsx relay a
 * Ctrl-C to the child that the terminal already sent it, milliseconds apart.
 */
export const RELAYED_SIGNAL_MS = 500;

export type InterruptSignal = 'SIGINT' | 'SIGHUP' | 'SIGTERM';

/** The reason of the CLI's AbortSignal: which signal stopped it. An AbortError, as the client expects. */
export class Interrupted extends Error {
  override readonly name = 'AbortError';
  constructor(readonly signalName: InterruptSignal) {
    super(`interrupted (${signalName})`);
  }
}

const EXIT_CODE_OF: Record<InterruptSignal, number> = { SIGINT: 130, SIGHUP: 129, SIGTERM: 143 };

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
  --urls             show the result URLs (presigned, an hour long) in upload's and status's output
  --timeout SECONDS  how long --wait waits (default 600)
  -h, --help         show this help

Ctrl-C during an upload keeps the parts already sent and prints the command that resumes it (a
second Ctrl-C within ${ABORT_WINDOW_MS / 1000} s aborts it instead); so does a closed terminal, and each unfinished
upload also leaves that command in $XDG_STATE_HOME/media-pipeline/unfinished-uploads/ (~/.local/state).

Exit codes: 0 success; 1 a job failed, a file was refused or the API refused; 2 usage; 130 Ctrl-C;
129 the terminal closed (SIGHUP); 143 SIGTERM.
`;

export interface CliIo {
  stdout: Output;
  stderr: Output;
  env: NodeJS.ProcessEnv;
  /** For tests: the client's fetch. */
  fetch?: typeof fetch;
  /** Aborted at the first Ctrl-C, SIGHUP or SIGTERM, with an {@link Interrupted} reason. */
  signal?: AbortSignal;
  /** Resolves true when Ctrl-C comes again within `ms` (or came already); absent: it never does. */
  confirmAbort?: (ms: number) => Promise<boolean>;
  /** How the user started the CLI, for the commands it prints (invocation.ts). @default ['media-pipeline'] */
  invocation?: string[];
  /** Where the CLI runs (the unfinished-upload notes `cd` there). @default process.cwd() */
  cwd?: string;
}

const OPTIONS = {
  preset: { type: 'string' },
  'callback-url': { type: 'string' },
  wait: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  urls: { type: 'boolean', default: false },
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
  /**
   * A job status, or what stopped the file: `interrupted` (a signal stopped its upload; a multipart
   * upload keeps its parts), `cancelled` (stopped before its job existed).
   */
  status: JobView['status'] | 'refused' | 'upload_failed' | 'cancelled' | 'interrupted' | 'timed_out';
  error: string | null;
  error_code: string | null;
  result_urls: Record<string, string> | null;
  result: Record<string, unknown> | null;
  /** The job whose results this one shares (the same bytes were uploaded before). */
  duplicate_of?: string;
  /** Set when an interrupted multipart upload can be finished with --resume. */
  resume_job_id?: string;
  /** The command that finishes it, quoted for a POSIX shell. */
  resume_command?: string;
  /** Parts of an interrupted multipart upload that storage holds, when it could be asked. */
  parts_kept?: { count: number; of: number; bytes: number };
}

const SUCCESS_AFTER_WAIT = new Set(['done']);
const SUCCESS_WITHOUT_WAIT = new Set(['awaiting_upload', 'queued', 'processing', 'done']);

/** Files uploaded at once; each large one sends its own parts in parallel. */
const PARALLEL_FILES = 2;

/** Error codes of a connection that never reached the API (`fetch failed` hides them in `cause`). */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

const codeOf = (error: unknown): string | undefined =>
  error && typeof error === 'object' && 'code' in error ? String(error.code) : undefined;

/** fetch could not reach the API at all: no answer, as opposed to an answer that refused. */
export const isConnectionFailure = (error: unknown): boolean => {
  if (!(error instanceof TypeError)) return false;
  for (let cause: unknown = error.cause, depth = 0; cause && depth < 4; depth++) {
    const code = codeOf(cause);
    if (code && CONNECTION_CODES.has(code)) return true;
    // AggregateError (every address of a host refused): its errors carry the codes.
    if (
      cause instanceof AggregateError &&
      cause.errors.some((inner) => CONNECTION_CODES.has(codeOf(inner) ?? ''))
    ) {
      return true;
    }
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return false;
};

/**
 * The message, with the cause a bare `fetch failed` hides (ECONNREFUSED and the like), and where the
 * API could not be reached at all, the question worth asking.
 */
const errorText = (error: unknown, baseUrl?: string): string => {
  if (!(error instanceof Error)) return String(error);
  const cause =
    error.cause instanceof Error ? error.cause.message || codeOf(error.cause) || error.cause.name : undefined;
  const text = cause && error instanceof TypeError ? `${error.message} (${cause})` : error.message;
  return baseUrl && isConnectionFailure(error) ? `${text}; is the API running at ${baseUrl}?` : text;
};

const isAbort = (error: unknown): boolean =>
  (error instanceof DOMException || error instanceof Error) && error.name === 'AbortError';

/** What the summary says beside a job: its error, else what it made (no URLs unless asked). */
const detailOf = (row: UploadRow, urls: boolean): string => {
  const lines: string[] = [];
  if (row.duplicate_of) lines.push(`duplicate of ${row.duplicate_of}`);
  if (row.parts_kept) {
    lines.push(
      `${row.parts_kept.count} of ${row.parts_kept.of} parts (${formatBytes(row.parts_kept.bytes)}) kept for --resume`,
    );
  } else if (row.error) lines.push(row.error_code ? `${row.error} [${row.error_code}]` : row.error);
  else lines.push(...describeResult(row.result, row.result_urls, { urls }));
  return lines.join('\n');
};

const rowFromJob = (file: string, job: JobView): UploadRow => ({
  file,
  job_id: job.id,
  status: job.status,
  error: job.error,
  error_code: job.error_code,
  result_urls: job.result_urls,
  result: job.result,
  ...(job.duplicate_of ? { duplicate_of: job.duplicate_of } : {}),
});

const rowFromError = (
  file: string,
  jobId: string | undefined,
  error: unknown,
  baseUrl?: string,
): UploadRow => {
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
  return { ...base, status: 'upload_failed', error: errorText(error, baseUrl), error_code: null };
};

interface Context {
  client: MediaClient;
  flags: Flags;
  io: CliIo;
  signal: AbortSignal;
  timeoutMs: number;
  baseUrl: string;
  /** The words that start the CLI again, as the user started it. */
  invocation: string[];
}

/** The words of a command of this CLI as the user can paste it (the program as they ran it). */
const commandLine = (context: Context, words: string[]): string =>
  shellCommand([...context.invocation, ...words]);

/** The command that finishes the interrupted multipart upload of `path` (as the user gave it). */
const resumeCommandOf = (context: Context, path: string, jobId: string): string => {
  const { flags, baseUrl } = context;
  return commandLine(context, [
    'upload',
    path,
    '--preset',
    flags.preset ?? '',
    '--resume',
    jobId,
    ...(baseUrl === DEFAULT_API_URL ? [] : ['--api-url', baseUrl]),
    ...(flags['content-type'] ? ['--content-type', flags['content-type']] : []),
    ...(flags.concurrency ? ['--concurrency', flags.concurrency] : []),
    ...(flags.wait ? ['--wait'] : []),
  ]);
};

/** A credential passed as a flag is not printed: the resume command then needs it added. */
const credentialReminder = (flags: Flags): string =>
  flags['api-key'] !== undefined
    ? ' (add your --api-key: it is not printed)'
    : flags.token !== undefined
      ? ' (add your --token: it is not printed)'
      : '';

/** What became of one file, with what the summary and the interruption message need beyond the row. */
interface Outcome {
  row: UploadRow;
  /** The path as the user gave it. */
  path: string;
  /** Every byte reached storage (a job still `awaiting_upload` is then being checked). */
  uploaded: boolean;
  method: 'PUT' | 'multipart' | undefined;
  /** The unfinished-upload note on disk, while there is one. */
  note: string | undefined;
}

const uploadOne = async (
  context: Context,
  path: string,
  view: ProgressView,
  index: number,
): Promise<Outcome> => {
  const { client, flags, signal, io } = context;
  const file = basename(path);
  let jobId: string | undefined = flags.resume;
  let method: Outcome['method'] = flags.resume ? 'multipart' : undefined;
  let uploaded = false;
  let lastStatus: JobView['status'] | undefined;
  let note: string | undefined;
  const outcome = (row: UploadRow): Outcome => ({ row, path, uploaded, method, note });
  const remember = (id: string, size: number) => {
    note = keepNote(io.env, {
      jobId: id,
      file: path,
      size: formatBytes(size),
      cwd: io.cwd ?? process.cwd(),
      resumeCommand: resumeCommandOf(context, path, id),
      startedAt: new Date(),
    });
  };
  try {
    const stats = await stat(path).catch((error: unknown) => error as NodeJS.ErrnoException);
    if (stats instanceof Error) {
      throw new UsageError(
        stats.code === 'ENOENT' ? `${path} does not exist` : `${path} cannot be read: ${stats.message}`,
      );
    }
    if (stats.isDirectory()) throw new UsageError(`${path} is a directory, not a file`);
    if (!stats.isFile()) throw new UsageError(`${path} is not a regular file`);
    const contentType = flags['content-type'] ?? guessContentType(file);
    if (!contentType) {
      throw new UsageError(
        `cannot tell the media type of ${file} from its name; pass --content-type (e.g. image/jpeg or video/mp4)`,
      );
    }
    const blob = await openAsBlob(path, { type: contentType });
    // Nothing is shown as sent before the job exists: the API may still refuse the file.
    view.update(index, { kind: 'preparing' });
    if (flags.resume) {
      view.log(`${file}: job ${flags.resume}, resuming its upload`);
      remember(flags.resume, stats.size);
    }
    const result = await client.upload(blob, {
      preset: flags.preset ?? '',
      ...(flags['callback-url'] ? { callbackUrl: flags['callback-url'] } : {}),
      ...(flags.resume ? { resumeJobId: flags.resume } : {}),
      concurrency: positiveInt('concurrency', flags.concurrency, 4, 32),
      fileName: file,
      contentType,
      signal,
      // Ctrl-C must not throw away what was sent: the parts stay for --resume (a second Ctrl-C aborts).
      keepPartsOnCancel: true,
      onCreated: (created) => {
        jobId = created.jobId;
        method = created.upload.method;
        const plan = created.upload;
        view.log(
          `${file}: job ${created.jobId}${plan.method === 'multipart' ? ` (${formatBytes(stats.size)} in ${plan.part_count} parts)` : ''}`,
        );
        if (plan.method === 'multipart') remember(created.jobId, stats.size);
        view.update(index, { kind: 'uploading', sent: 0, total: stats.size, method: plan.method });
      },
      onProgress: (sent, total) =>
        view.update(index, { kind: 'uploading', sent, total, ...(method ? { method } : {}) }),
    });
    uploaded = true;
    dropNote(note);
    note = undefined;
    if (result.parts && result.parts.skipped > 0) {
      view.log(
        `${file}: ${result.parts.skipped} parts were in storage already, ${result.parts.sent} sent now`,
      );
    }
    const id = jobId ?? '';
    const job = flags.wait
      ? await client.waitForJob(id, {
          signal,
          timeoutMs: context.timeoutMs,
          onUpdate: (update) => {
            lastStatus = update.status;
            view.update(index, { kind: 'job', status: displayStatus(update.status, true) });
          },
        })
      : await client.getJob(id, { signal });
    const row = rowFromJob(file, job);
    view.update(index, { kind: 'finished', status: displayStatus(row.status, true) });
    return outcome(row);
  } catch (error) {
    let row: UploadRow;
    if (isAbort(error) && jobId && uploaded) {
      // Stopped while following the job: the job goes on without us.
      row = {
        ...rowFromError(file, jobId, error),
        status: lastStatus ?? 'awaiting_upload',
        error: null,
        error_code: null,
      };
    } else if (isAbort(error) && jobId) {
      row = {
        ...rowFromError(file, jobId, error),
        status: 'interrupted',
        error_code: null,
        ...(method === 'multipart'
          ? {
              error: 'interrupted; the parts sent are kept for --resume',
              resume_job_id: jobId,
              resume_command: resumeCommandOf(context, path, jobId),
            }
          : { error: 'interrupted before the file was sent: upload it again' }),
      };
    } else if (error instanceof UsageError) {
      row = { ...rowFromError(file, jobId, error), status: 'refused' };
    } else {
      row = rowFromError(file, jobId, error, context.baseUrl);
      if (row.resume_job_id) row.resume_command = resumeCommandOf(context, path, row.resume_job_id);
    }
    if (!row.resume_job_id) {
      dropNote(note);
      note = undefined;
    }
    view.update(index, { kind: 'finished', status: displayStatus(row.status, uploaded) });
    return outcome(row);
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

/** Asks storage what an interrupted upload kept (briefly: the user is waiting, the terminal may be gone). */
const countKeptParts = async (context: Context, outcome: Outcome): Promise<void> => {
  const { row } = outcome;
  if (!row.resume_job_id) return;
  try {
    const listed = await context.client.listUploadedParts(row.resume_job_id, {
      signal: AbortSignal.timeout(3_000),
    });
    row.parts_kept = {
      count: listed.parts.length,
      of: listed.part_count,
      bytes: listed.parts.reduce((sum, part) => sum + part.size, 0),
    };
  } catch {
    // The count is a courtesy; the command below is what matters.
  }
};

/**
 * After a signal: the interrupted uploads, their job ids and the commands that finish them, on stderr
 * (in --json mode too: stdout is for the JSON). After a Ctrl-C, a second one within the window aborts
 * the uploads for real; a closed terminal (SIGHUP) or SIGTERM leaves them for --resume.
 */
const reportInterruption = async (
  context: Context,
  outcomes: Outcome[],
  reason: InterruptSignal,
): Promise<void> => {
  const { io } = context;
  const kept = outcomes.filter((outcome) => outcome.row.resume_job_id);
  const cause =
    reason === 'SIGINT' ? 'Interrupted' : reason === 'SIGHUP' ? 'The terminal closed' : 'Stopped (SIGTERM)';
  const lines: string[] = [];
  if (kept.length > 0) {
    lines.push(`${cause}: the parts already sent are kept.`);
    for (const { row } of kept) {
      const parts = row.parts_kept
        ? `, ${row.parts_kept.count} of ${row.parts_kept.of} parts (${formatBytes(row.parts_kept.bytes)}) in storage`
        : '';
      lines.push(`  ${row.file}: job ${row.resume_job_id}${parts}`);
    }
    lines.push(`To finish ${kept.length === 1 ? 'it' : 'them'}, run:${credentialReminder(context.flags)}`);
    for (const { row } of kept) lines.push(`  ${row.resume_command}`);
    const notes = kept.map((outcome) => outcome.note).filter(Boolean);
    if (notes.length > 0)
      lines.push(`(Also written to ${notes.join(', ')}; S3 drops the parts after a day.)`);
  }
  for (const { row } of outcomes.filter((o) => o.row.status === 'interrupted' && !o.row.resume_job_id)) {
    lines.push(`${row.file}: job ${row.job_id} never got its file: upload it again.`);
  }
  const following = outcomes.filter((outcome) => outcome.uploaded && outcome.row.job_id);
  if (following.length > 0) {
    lines.push(`Stopped waiting; the ${following.length === 1 ? 'job goes' : 'jobs go'} on. Follow with:`);
    for (const { row } of following)
      lines.push(`  ${commandLine(context, ['status', row.job_id ?? '', '--wait'])}`);
  }
  if (lines.length === 0) return;
  const offer = reason === 'SIGINT' && kept.length > 0 && io.confirmAbort;
  if (offer) {
    lines.push(
      `Press Ctrl-C again within ${ABORT_WINDOW_MS / 1000} s to abort ${kept.length === 1 ? 'this upload' : 'these uploads'} instead and discard the parts.`,
    );
  }
  io.stderr.write(`\n${lines.join('\n')}\n`);
  if (!offer || !(await offer(ABORT_WINDOW_MS))) return;
  for (const outcome of kept) {
    const id = outcome.row.resume_job_id ?? '';
    try {
      await context.client.abortUpload(id);
      dropNote(outcome.note);
      io.stderr.write(`Aborted: job ${id}'s parts are discarded and the job fails (Upload::Aborted).\n`);
    } catch (error) {
      io.stderr.write(`Could not abort job ${id}: ${errorText(error, context.baseUrl)}\n`);
    }
  }
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
  const outcomes = await mapLimited(paths, PARALLEL_FILES, (path, index) =>
    uploadOne(context, path, view, index),
  );
  view.stop();
  const interrupted = context.signal.aborted
    ? context.signal.reason instanceof Interrupted
      ? context.signal.reason.signalName
      : 'SIGINT'
    : undefined;
  if (interrupted) await Promise.all(outcomes.map((outcome) => countKeptParts(context, outcome)));

  const rows = outcomes.map((outcome) => outcome.row);
  const succeeded = flags.wait ? SUCCESS_AFTER_WAIT : SUCCESS_WITHOUT_WAIT;
  const ok = rows.every((row) => succeeded.has(row.status));
  if (flags.json) {
    io.stdout.write(`${JSON.stringify({ ok, uploads: rows }, null, 2)}\n`);
  } else {
    const paint = painter(io.stdout, io.env);
    io.stdout.write(
      renderTable(
        ['FILE', 'JOB ID', 'STATUS', flags.wait ? 'RESULT' : 'DETAIL'],
        outcomes.map(({ row, uploaded }) => [
          row.file,
          row.job_id ?? '-',
          displayStatus(row.status, uploaded),
          detailOf(row, flags.urls),
        ]),
        paint,
      ),
    );
  }
  if (interrupted) {
    await reportInterruption(context, outcomes, interrupted);
    return EXIT_CODE_OF[interrupted];
  }
  for (const { row } of outcomes.filter((outcome) => outcome.row.resume_command)) {
    io.stderr.write(`To finish ${row.file}, run:${credentialReminder(flags)}\n  ${row.resume_command}\n`);
  }
  return ok ? 0 : 1;
};

const describeJob = (job: JobView, urls: boolean): string => {
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
  describeResult(job.result, job.result_urls, { urls }).forEach((line, index) => {
    lines.push([index === 0 ? 'result' : '', line]);
  });
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
  context.io.stdout.write(
    context.flags.json ? `${JSON.stringify(job, null, 2)}\n` : describeJob(job, context.flags.urls),
  );
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
      : `job ${retried.job_id} is queued again (retry ${retried.run - 1}: run ${retried.run}, attempt ${retried.attempt})\n`,
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
  const again = commandLine(context, [
    'list',
    ...(status ? ['--status', status] : []),
    ...(limit ? ['--limit', String(limit)] : []),
  ]);
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
      {
        client,
        flags,
        io,
        signal: io.signal ?? new AbortController().signal,
        timeoutMs,
        baseUrl,
        invocation: io.invocation ?? ['media-pipeline'],
      },
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
      io.stderr.write(
        `media-pipeline: ${errorText(error, usage ? undefined : baseUrl)}${usage ? `\n\n${USAGE}` : '\n'}`,
      );
    }
    if (isAbort(error)) {
      const reason = io.signal?.reason;
      return reason instanceof Interrupted ? EXIT_CODE_OF[reason.signalName] : 130;
    }
    return usage ? 2 : 1;
  }
};

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);

/**
 * Turns signals into the CLI's AbortSignal. The first Ctrl-C, SIGHUP or SIGTERM aborts it; Ctrl-C
 * again (not a relay of the same one) confirms an abort for real; a third quits at once.
 */
export const signalHandling = (
  on: (signal: InterruptSignal, listener: () => void) => void,
  exit: (code: number) => void,
  now = () => Date.now(),
) => {
  const controller = new AbortController();
  let acceptedAt = Number.NEGATIVE_INFINITY;
  let again = false;
  let confirm: ((yes: boolean) => void) | undefined;
  on('SIGINT', () => {
    const at = now();
    if (at - acceptedAt < RELAYED_SIGNAL_MS) return;
    acceptedAt = at;
    if (!controller.signal.aborted) controller.abort(new Interrupted('SIGINT'));
    else if (!again) {
      again = true;
      confirm?.(true);
    } else exit(130);
  });
  for (const signal of ['SIGHUP', 'SIGTERM'] as const) {
    on(signal, () => {
      if (!controller.signal.aborted) controller.abort(new Interrupted(signal));
    });
  }
  return {
    signal: controller.signal,
    confirmAbort: (ms: number): Promise<boolean> =>
      again
        ? Promise.resolve(true)
        : new Promise((resolve) => {
            const timer = setTimeout(() => resolve(false), ms);
            confirm = (yes) => {
              clearTimeout(timer);
              resolve(yes);
            };
          }),
  };
};

/** The process entry (cli/media-pipeline.mjs, or `tsx cli/media-pipeline.ts`). */
export const main = async (argv: string[] = process.argv.slice(2)): Promise<void> => {
  // A closed terminal (EIO) or a reader gone (EPIPE) fails writes: the work goes on, the notes on disk
  // keep what stderr could not say.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  const { signal, confirmAbort } = signalHandling(
    (name, listener) => process.on(name, listener),
    (code) => process.exit(code),
  );
  process.exitCode = await run(argv, {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    signal,
    confirmAbort,
    invocation: invocationOf({ env: process.env, script: process.argv[1], cwd: process.cwd() }),
    cwd: process.cwd(),
  });
};

if (isMain) await main();
