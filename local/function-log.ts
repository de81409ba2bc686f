/**
 * The functions' own log lines as the local runtime prints them. Powertools Logger writes one JSON
 * object per line (600 characters for a WARN with an error, most of it the function's ARN, memory,
 * trace id and stack): locally that becomes `[image] WARN attempt failed job=0b9f5a52 attempts=1
 * error="TimeoutError: …"`, the fields that say something about the job, cut to a line. Lines that
 * are not such JSON pass unchanged.
 */
import { SHORT_ID } from './invocation-log.ts';

/** Powertools' standard keys: the same in every line of a function, or in the invocation line already. */
const CONTEXT_KEYS = new Set([
  'level',
  'message',
  'timestamp',
  'service',
  'cold_start',
  'function_arn',
  'function_memory_size',
  'function_name',
  'function_request_id',
  'function_version',
  'sampling_rate',
  'xray_trace_id',
  'correlation_id',
]);
const MAX_LINE = 240;
const MAX_VALUE = 120;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const cut = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

const renderValue = (key: string, value: unknown): string => {
  if (key === 'job_id' && typeof value === 'string') return value.slice(0, SHORT_ID);
  // An error is its name and message; its stack and location are for `FUNCTION_LOG_LEVEL` and AWS.
  if (isRecord(value) && typeof value.message === 'string')
    return JSON.stringify(
      cut(`${typeof value.name === 'string' ? `${value.name}: ` : ''}${value.message}`, MAX_VALUE),
    );
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return /[\s"=]/.test(text) || text === '' ? JSON.stringify(cut(text, MAX_VALUE)) : cut(text, MAX_VALUE);
};

/** `WARN attempt failed job=0b9f5a52 attempts=1 error="Error: …"`, or undefined if `line` is not a log record. */
export const renderLogRecord = (line: string): string | undefined => {
  if (!line.startsWith('{')) return undefined;
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!isRecord(record) || typeof record.level !== 'string' || !('message' in record)) return undefined;
  const message = typeof record.message === 'string' ? record.message : JSON.stringify(record.message);
  const fields = Object.entries(record)
    .filter(([key, value]) => !CONTEXT_KEYS.has(key) && value !== undefined && value !== null)
    // The job first: it is what a reader follows.
    .sort(([a], [b]) => Number(b === 'job_id') - Number(a === 'job_id'))
    .map(([key, value]) => `${key === 'job_id' ? 'job' : key}=${renderValue(key, value)}`);
  return cut([record.level.toUpperCase(), message.replace(/\s+/g, ' '), ...fields].join(' '), MAX_LINE);
};

/** A `LambdaPoolOptions.output` that prints `[function] line`, log records rendered as above. */
export const functionLogOutput = (line: string, stream: 'stdout' | 'stderr', fn: { name: string }): void => {
  (stream === 'stdout' ? process.stdout : process.stderr).write(
    `[${fn.name}] ${renderLogRecord(line) ?? line}\n`,
  );
};
