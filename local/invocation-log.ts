import type { InvokeOutcome } from './types.ts';

/**
 * One line per invocation, so that a developer can follow a job through the pipeline:
 *
 *   12:01:02.345 api          http POST /api/media            41 ms ok 201  job=0b9f…
 *   12:01:02.512 ingest       s3 uploads/0b9f…               310 ms ok  job=0b9f…  (cold)
 *   12:01:03.020 image        sqs image-queue                 812 ms error handler Error: …  job=0b9f…
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

const oneLine = (text: string, max: number): string => {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

const describeOutcome = (record: InvocationRecord): string => {
  const { outcome, event } = record;
  if (!outcome.ok)
    return `error ${outcome.kind} ${oneLine(`${outcome.error.name}: ${outcome.error.message}`, 160)}`;
  const parts = ['ok'];
  const result = outcome.result;
  if (isRecord(result) && typeof result.statusCode === 'number') parts.push(String(result.statusCode));
  if (isRecord(result) && Array.isArray(result.batchItemFailures) && result.batchItemFailures.length > 0) {
    const total = isRecord(event) && Array.isArray(event.Records) ? event.Records.length : undefined;
    parts.push(`${result.batchItemFailures.length}${total === undefined ? '' : `/${total}`} items failed`);
  }
  return parts.join(' ');
};

/** The invocation's line (no trailing newline). */
export const formatInvocation = (record: InvocationRecord): string => {
  const jobs = findJobIds(record.outcome.ok ? record.outcome.result : undefined, record.event);
  const job =
    jobs.length === 0
      ? ''
      : `  job=${jobs.slice(0, 3).join(',')}${jobs.length > 3 ? ` +${jobs.length - 3}` : ''}`;
  return [
    time(record.startedAt),
    record.functionName.padEnd(12),
    oneLine(record.trigger, 60).padEnd(30),
    `${String(Math.round(record.outcome.durationMs)).padStart(6)} ms`,
    `${describeOutcome(record)}${job}${record.coldStart ? '  (cold)' : ''}`,
  ].join(' ');
};

/** A `LambdaPoolOptions.onInvocation` that writes one line per invocation. */
export const createInvocationLog =
  (write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)) =>
  (record: InvocationRecord): void =>
    write(formatInvocation(record));
