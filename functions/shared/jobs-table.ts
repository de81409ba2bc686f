/**
 * The jobs table's key and TTL attribute: JobStore writes them, the Storage construct declares them,
 * and the test harness creates its tables with them. Kept apart from the store so that the CDK app and
 * the harness need no SDK to read them.
 */
export const JOBS_TABLE_KEYS = { partitionKey: 'pk', timeToLiveAttribute: 'ttl' } as const;

/**
 * The sparse index of jobs that still need something: the reconciler's only way into the table (no
 * scans). Its key attributes exist only on such jobs, so nothing else is in it:
 * - every job in awaiting_upload, queued or processing;
 * - a done, failed or duplicate job with a callback URL, until the webhook for its outcome reached a
 *   final state (delivered, failed or refused).
 * JobStore sets and removes them, in the same write as the status change (functions/shared/job-store.ts).
 *
 * The partition key spreads the open jobs over a few shards (`open#0`…`open#3`, from the job id), so
 * that the writes of a busy pipeline do not all land on one index partition; the sort key `idle_since`
 * is when the job last moved, or when the reconciler last looked at it and left it alone. A Query per
 * shard for `idle_since < cutoff` returns the jobs that stopped moving, the longest idle first; a job
 * the reconciler looked at goes to the back, so jobs that legitimately wait (an upload that never
 * comes, a webhook still being retried) can never hide the others from a bounded run.
 */
export const OPEN_JOBS_INDEX = {
  indexName: 'open-jobs',
  partitionKey: 'open_shard',
  sortKey: 'idle_since',
  shardCount: 4,
  /** What the reconciler decides from; it reads the whole job (consistently) only for the jobs it moves. */
  projectedAttributes: [
    'status',
    'updated_at',
    'enqueued_at',
    'attempts',
    'media_kind',
    'callback_url',
    'duplicate_of',
    'webhook',
    'upload_key',
    'announced_at',
  ],
} as const;

/** Every shard of the open-jobs index. */
export const openJobShards = (): string[] =>
  Array.from({ length: OPEN_JOBS_INDEX.shardCount }, (_, shard) => `open#${shard}`);

/** A job's shard, from the last hex digit of its id (ids are random UUIDs). */
export const openJobShardFor = (jobId: string): string => {
  const digit = Number.parseInt(jobId.slice(-1), 16);
  return `open#${(Number.isNaN(digit) ? 0 : digit) % OPEN_JOBS_INDEX.shardCount}`;
};

/**
 * Every job of a tenant, newest first: the list route's Query (never a Scan). Its keys are on job records
 * only (dedup and usage items carry no `tenant`), so nothing else is in it; it projects the whole job,
 * since the list renders each one. A job deleted while duplicates still show its results keeps its
 * record (with `deleted_at`) and is filtered out of the listing.
 */
export const TENANT_JOBS_INDEX = {
  indexName: 'tenant-jobs',
  partitionKey: 'tenant',
  sortKey: 'created_at',
} as const;

/** The per-tenant, per-UTC-day usage counter's key (QuotaMeter in functions/api/quotas.ts). */
export const usageKeyFor = (tenant: string, day: string): string => `usage#${tenant}#${day}`;
