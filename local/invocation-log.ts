import type { InvokeOutcome } from './types.ts';

/**
 * One line per invocation, written when it ends and stamped with its end time, so that a developer can
 * follow a job through the pipeline (the header says which time it is):
 *
 *   ended        function     trigger                                  took  outcome
 *   12:01:02.386 api          http POST /api/media                    41 ms  ok 201  job 0b9f5a52  (cold)
 *   12:01:02.822 ingest       s3 uploads/default/0b9f5a52…/original  310 ms  ok  job 0b9f5a52
 *   12:01:03.832 image        sqs ImageQueue                         812 ms  failed 1/4  jobs 0b9f5a52,…
 *   12:01:04.100 api          http POST /api/media/0b9f5a52…/retry    12 ms  error 500
 *
 * `failed` is the function's own verdict on the work (SQS partial batch failures, or the job it worked
 * on ended `failed`); `error` is the invocation's (it threw, timed out or crashed; an HTTP 5xx).
 */

export interface InvocationRecord {
  startedAt: Date;
  functionName: string;
  logicalId: string;
  /** InvokeMeta.trigger: `http POST /api/media`, `sqs ImageQueue`, `s3 uploads/…`. */
  trigger: string;
  requestId: string;
  /** The invocation started a new execution environment. */
  coldStart: boolean;
  event: unknown;
  outcome: InvokeOutcome;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
/** Fields that name a job outright. */
const JOB_ID_FIELDS = new Set(['job_id', 'jobId']);
/** Fields that carry a job id when they carry a UUID: a job's own id, an S3 key, a request path. */
const UUID_FIELDS = new Set(['id', 'key', 'rawPath']);
/** JSON inside strings (HTTP bodies, SQS message bodies, DLQ'd S3 events) is looked into up to this size. */
const MAX_EMBEDDED_JSON = 256 * 1024;
const MAX_DEPTH = 8;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Job ids found in an invocation's result and event, result first, without duplicates: `job_id` /
 * `jobId` fields, UUIDs in `id`, S3 `key` and `rawPath` fields, looking into JSON bodies.
 */
export const findJobIds = (...values: unknown[]): string[] => {
  const found = new Set<string>();
  const visit = (value: unknown, depth: number): void => {
    if (depth > MAX_DEPTH) return;
    if (typeof value === 'string') {
      const trimmed = value.trimStart();
      if (value.length <= MAX_EMBEDDED_JSON && (trimmed.startsWith('{') || trimmed.startsWith('['))) {
        try {
          visit(JSON.parse(value), depth + 1);
        } catch {
          // Not JSON after all.
        }
      }
      return;
    }
    if (Array.isArray(value)) {
      for (const item of value) visit(item, depth + 1);
      return;
    }
    if (!isRecord(value)) return;
    for (const [field, inner] of Object.entries(value)) {
      if (JOB_ID_FIELDS.has(field) && typeof inner === 'string' && inner !== '') found.add(inner);
      else if (UUID_FIELDS.has(field) && typeof inner === 'string') {
        for (const match of safeDecode(inner).matchAll(UUID)) found.add(match[0].toLowerCase());
      } else visit(inner, depth + 1);
    }
  };
  for (const value of values) visit(value, 0);
  return [...found];
};

const safeDecode = (value: string): string => {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return value;
  }
};

const time = (date: Date): string =>
  `${[date.getHours(), date.getMinutes(), date.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':')}.${String(date.getMilliseconds()).padStart(3, '0')}`;

/** Column widths of the line (the header below lines up with them). */
const FUNCTION_WIDTH = 12;
const TRIGGER_WIDTH = 40;
/** Characters of a job id shown: enough to tell jobs apart and to grep for them. */
export const SHORT_ID = 8;

export const INVOCATION_LOG_HEADER = `${'ended'.padEnd(12)} ${'function'.padEnd(FUNCTION_WIDTH)} ${'trigger'.padEnd(TRIGGER_WIDTH)} ${'took'.padStart(9)}  outcome`;

/** Whitespace folded; when too long, cut in the middle, so that both ends (`…/retry`, `…/complete`) stay. */
export const fitMiddle = (text: string, max: number): string => {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat.length <= max) return flat;
  const tail = Math.floor((max - 1) / 2);
  return `${flat.slice(0, max - 1 - tail)}…${flat.slice(flat.length - tail)}`;
};

const cutEnd = (text: string, max: number): string => {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

const IS_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const shortId = (id: string): string => (IS_UUID.test(id) ? id.slice(0, SHORT_ID) : cutEnd(id, 12));

/** The trigger with every UUID in it shortened (`/api/media/0b9f5a52…/retry`). */
const shortenIds = (trigger: string): string =>
  safeDecode(trigger).replace(UUID, (uuid) => `${uuid.slice(0, SHORT_ID)}…`);

/** What the job an invocation worked on became, when the runtime can tell (local/runtime.ts asks the jobs table). */
export interface JobVerdict {
  jobId: string;
  status: string;
  /** The job's `error_code` when it failed (`Image::Corrupt`). */
  errorCode?: string | undefined;
  /** The job's `updated_at`: a job counts as failed by this invocation only if it moved while it ran. */
  updatedAt?: string | undefined;
}

/** Clock slack between the worker that wrote `updated_at` and this process (the same machine). */
const VERDICT_SLACK_MS = 50;

/** The invocation's verdict: `ok 201`, `error 500`, `failed 1/4`, `failed Image::Corrupt`, `error timeout …`, `stopped`. */
export const describeOutcome = (record: InvocationRecord, verdicts: readonly JobVerdict[] = []): string => {
  const { outcome, event } = record;
  if (!outcome.ok) {
    if (outcome.error.name === 'Runtime.Shutdown') return 'stopped (the runtime stopped while it ran)';
    return `error ${outcome.kind} ${cutEnd(`${outcome.error.name}: ${outcome.error.message}`, 160)}`;
  }
  const result = outcome.result;
  if (isRecord(result) && typeof result.statusCode === 'number')
    return `${result.statusCode >= 500 ? 'error' : 'ok'} ${result.statusCode}`;
  if (isRecord(result) && Array.isArray(result.batchItemFailures) && result.batchItemFailures.length > 0) {
    const total = isRecord(event) && Array.isArray(event.Records) ? event.Records.length : undefined;
    return `failed ${result.batchItemFailures.length}${total === undefined ? '' : `/${total}`}`;
  }
  const from = record.startedAt.getTime() - VERDICT_SLACK_MS;
  const to = record.startedAt.getTime() + outcome.durationMs + VERDICT_SLACK_MS;
  // A job that failed earlier (a webhook announcing it, a retry refused) is not this invocation's failure.
  const failed = verdicts.filter((verdict) => {
    const at = verdict.updatedAt ? Date.parse(verdict.updatedAt) : Number.NaN;
    return verdict.status === 'failed' && at >= from && at <= to;
  });
  if (failed.length > 0) {
    const codes = [...new Set(failed.map((verdict) => verdict.errorCode ?? 'no error code'))];
    return `failed ${failed.length > 1 ? `${failed.length} jobs ` : ''}${codes.join(', ')}`;
  }
  return 'ok';
};

/** The invocation's line (no trailing newline), stamped with its end time. */
export const formatInvocation = (record: InvocationRecord, verdicts: readonly JobVerdict[] = []): string => {
  const trigger = fitMiddle(shortenIds(record.trigger), TRIGGER_WIDTH);
  const jobs = findJobIds(record.outcome.ok ? record.outcome.result : undefined, record.event).filter(
    // Named in the trigger already (a path, a key): once is enough.
    (id) => !trigger.includes(shortId(id)),
  );
  const job =
    jobs.length === 0
      ? ''
      : `  ${jobs.length === 1 ? 'job' : 'jobs'} ${jobs.slice(0, 2).map(shortId).join(',')}${jobs.length > 2 ? ` +${jobs.length - 2}` : ''}`;
  const endedAt = new Date(record.startedAt.getTime() + record.outcome.durationMs);
  return [
    time(endedAt),
    cutEnd(record.functionName, FUNCTION_WIDTH).padEnd(FUNCTION_WIDTH),
    trigger.padEnd(TRIGGER_WIDTH),
    `${String(Math.round(record.outcome.durationMs)).padStart(6)} ms `,
    `${describeOutcome(record, verdicts)}${job}${record.coldStart ? '  (cold)' : ''}`,
  ].join(' ');
};

export interface InvocationLogOptions {
  /** @default - stdout, one line each */
  write?: (line: string) => void;
  /**
   * What a job became, for invocations that are not HTTP requests: a processor that marks a job failed
   * and returns normally succeeded as an invocation, and its line says `failed` only if told so.
   * Undefined when the job is unknown. @default - not asked
   */
  jobVerdict?: (jobId: string) => Promise<JobVerdict | undefined>;
  /** How long a line waits for the verdicts. @default 1000 ms */
  verdictTimeoutMs?: number;
}

/**
 * A `LambdaPoolOptions.onInvocation` that writes one line per invocation, in the order the
 * invocations ended (a line that waits for its jobs' verdicts holds back the ones after it).
 */
export const createInvocationLog = (
  options: InvocationLogOptions | ((line: string) => void) = {},
): ((record: InvocationRecord) => void) => {
  const { write = (line: string) => process.stdout.write(`${line}\n`), ...rest } =
    typeof options === 'function' ? { write: options } : options;
  let queue: Promise<void> = Promise.resolve();
  return (record) => {
    const pending = verdictsOf(record, rest);
    queue = queue.then(async () => write(formatInvocation(record, await pending)));
  };
};

const verdictsOf = async (
  record: InvocationRecord,
  { jobVerdict, verdictTimeoutMs = 1_000 }: Omit<InvocationLogOptions, 'write'>,
): Promise<JobVerdict[]> => {
  if (!jobVerdict || !record.outcome.ok || record.trigger.startsWith('http ')) return [];
  const ids = findJobIds(record.outcome.result, record.event).slice(0, 10);
  if (ids.length === 0) return [];
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<JobVerdict[]>((resolve) => {
    timer = setTimeout(() => resolve([]), verdictTimeoutMs);
  });
  const asked = Promise.all(ids.map((id) => jobVerdict(id).catch(() => undefined))).then((found) =>
    found.filter((verdict): verdict is JobVerdict => verdict !== undefined),
  );
  return Promise.race([asked, timeout]).finally(() => clearTimeout(timer));
};
