import { z } from 'zod';
import { ValidationError } from '#shared/errors';
import { DUPLICATE, JobStatus, type StoredStatus } from '#shared/job';
import type { TenantJobsPosition } from '#shared/job-store';
import { type JobView, type JobViewDeps, renderJobView } from './job-view.ts';

export const DEFAULT_LIST_LIMIT = 50;
export const MAX_LIST_LIMIT = 100;
/** Index pages one request reads at most while a status filter skips jobs: a bound on its work. */
const MAX_PAGES_PER_REQUEST = 10;

export interface JobListing {
  items: JobView[];
  /** Pass as `cursor` for the next page; null when there is none. */
  next_cursor: string | null;
}

export interface ListRequest {
  limit: number;
  status?: JobStatus;
  from?: TenantJobsPosition;
}

const LISTED_STATUSES = Object.values(JobStatus);

const invalid = (code: string, message: string, field: string) => new ValidationError(code, message, field);

const positionSchema = z.strictObject({
  pk: z.uuid(),
  tenant: z.string().min(1),
  created_at: z.iso.datetime(),
});

/** The cursor a page ends with: the index key of its last job, as base64url JSON. */
export const encodeCursor = (position: TenantJobsPosition): string =>
  Buffer.from(
    JSON.stringify({ pk: position.pk, tenant: position.tenant, created_at: position.created_at }),
  ).toString('base64url');

/** A cursor this API gave the same tenant, or a 400: a cursor can never move into another tenant's jobs. */
export const decodeCursor = (cursor: string, tenant: string): TenantJobsPosition => {
  const refused = invalid(
    'Request::InvalidCursor',
    'cursor is not one this API gave you; pass the next_cursor of the previous page as it is, or leave it out to start from the newest job',
    'cursor',
  );
  let decoded: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw refused;
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw refused;
  }
  const parsed = positionSchema.safeParse(decoded);
  if (!parsed.success || parsed.data.tenant !== tenant) throw refused;
  return parsed.data;
};

/** `?limit=&cursor=&status=` of GET /api/media/, each checked with a message saying what to send. */
export const parseListQuery = (
  query: Readonly<Record<string, string | undefined>>,
  tenant: string,
): ListRequest => {
  const rawLimit = query.limit;
  let limit = DEFAULT_LIST_LIMIT;
  if (rawLimit !== undefined) {
    limit = /^\d{1,4}$/.test(rawLimit) ? Number(rawLimit) : Number.NaN;
    if (!(limit >= 1 && limit <= MAX_LIST_LIMIT)) {
      throw invalid(
        'Request::InvalidLimit',
        `limit must be a whole number from 1 to ${MAX_LIST_LIMIT} (default ${DEFAULT_LIST_LIMIT}), not ${JSON.stringify(rawLimit)}`,
        'limit',
      );
    }
  }
  const status = query.status;
  if (status !== undefined && !(LISTED_STATUSES as readonly string[]).includes(status)) {
    throw invalid(
      'Request::InvalidStatus',
      `status must be one of ${LISTED_STATUSES.join(', ')}, not ${JSON.stringify(status)}`,
      'status',
    );
  }
  return {
    limit,
    ...(status ? { status: status as JobStatus } : {}),
    ...(query.cursor !== undefined ? { from: decodeCursor(query.cursor, tenant) } : {}),
  };
};

/**
 * The tenant's jobs, newest first, as GET /api/media/{id}/ shows each (a duplicate with its canonical
 * job's status and results), from the tenant-jobs index: a Query, never a Scan. A status filter applies
 * to that shown status, so duplicates are read with their canonical job and kept or skipped by it; jobs
 * stored in other statuses are skipped by the index read itself. The next cursor is the index position of the
 * last job read (the last one returned, unless a filter skipped jobs after it), so paging never skips or
 * repeats a job; a request reads a bounded number of index pages and may return fewer than `limit` jobs
 * with a cursor to go on from.
 */
export const listJobs = async (
  deps: JobViewDeps,
  tenant: string,
  request: ListRequest,
): Promise<JobListing> => {
  const statuses: StoredStatus[] | undefined = request.status ? [request.status, DUPLICATE] : undefined;
  const items: JobView[] = [];
  let from = request.from;
  for (let page = 0; page < MAX_PAGES_PER_REQUEST; page++) {
    const wanted = request.limit - items.length;
    const result = await deps.store.listByTenant(tenant, {
      limit: wanted,
      ...(from ? { from } : {}),
      ...(statuses ? { statuses } : {}),
    });
    for (const job of result.jobs) {
      const view = await renderJobView(deps, job);
      if (!request.status || view.status === request.status) items.push(view);
    }
    // Every job the page evaluated was taken or filtered out (a page holds at most `wanted`), so the
    // index's own position, that of the last job read, is where the next page starts.
    if (!result.next) return { items, next_cursor: null };
    from = result.next;
    if (items.length >= request.limit) break;
  }
  return { items, next_cursor: from ? encodeCursor(from) : null };
};
