import { NotFoundError } from '#shared/errors';
import { type Job, tenantOf } from '#shared/job';
import type { JobStore } from '#shared/job-store';

/** The one answer for a job the caller cannot see: unknown, another tenant's, or deleted alike. */
export const jobNotFound = (jobId: string): NotFoundError =>
  new NotFoundError(
    'Job::NotFound',
    `there is no job ${jobId}; it may have expired before its upload arrived, or been deleted`,
  );

/** Whether `job` is the tenant's and not deleted: what every route taking a job id asks first. */
export const isVisibleTo = (job: Job | undefined, tenant: string): job is Job =>
  job !== undefined && tenantOf(job) === tenant && job.deleted_at === undefined;

/**
 * The caller's job by id. Another tenant's job and a deleted one answer exactly like an id that was
 * never used, so that ids reveal nothing across tenants.
 */
export const ownJob = async (store: JobStore, tenant: string, jobId: string): Promise<Job> => {
  const job = await store.get(jobId);
  if (!isVisibleTo(job, tenant)) throw jobNotFound(jobId);
  return job;
};
