import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { AppError } from '#shared/errors';
import { DUPLICATE, type Job, type JobStatus, runOf, type WebhookState } from '#shared/job';
import type { JobStore } from '#shared/job-store';
import { ownJob } from './job-access.ts';
import { retryRefusal } from './retry-job.ts';

export interface JobViewDeps {
  store: JobStore;
  presigner: S3Client;
  resultsBucket: string;
  resultUrlTtlSeconds: number;
  /** Attempts of one run. */
  maxAttempts: number;
  /** Manual retries of a job (runs after the first), for `retryable`. */
  maxRetries: number;
  /** Days originals are kept (0: kept), for `retryable`. */
  uploadRetentionDays: number;
}

/**
 * A job as callers see it: the original project's fields, every one present (null when absent), plus
 * `error_code`, `webhook`, `max_attempts`, `run` and `retryable`. A stored `duplicate` never shows: such a job reports the
 * canonical job's progress and outputs, since that job does the work for both.
 */
export interface JobView {
  id: string;
  status: JobStatus;
  file_name: string;
  content_type: string;
  size: number;
  preset: string;
  file_hash: string | null;
  attempts: number;
  result: Record<string, unknown> | null;
  result_urls: Record<string, string> | null;
  error: string | null;
  duplicate_of: string | null;
  created_at: string;
  updated_at: string;
  error_code: string | null;
  webhook: WebhookState | null;
  /** Attempts of one run (`attempts` counts those of the current run). */
  max_attempts: number;
  /** The run: 1 for the job's first processing, one more for each retry (POST /api/media/{id}/retry/). */
  run: number;
  /**
   * Whether POST /api/media/{id}/retry/ would start another run now: a failed job whose failure was
   * transient, with retries left and its original still kept. False for anything else (a duplicate too:
   * retry the job it duplicates).
   */
  retryable: boolean;
}

const presignResults = async (deps: JobViewDeps, job: Job): Promise<Record<string, string> | null> => {
  if (!job.outputs) return null;
  const entries = await Promise.all(
    job.outputs.map(
      async (output) =>
        [
          output.name,
          await getSignedUrl(
            deps.presigner,
            new GetObjectCommand({ Bucket: deps.resultsBucket, Key: output.key }),
            {
              expiresIn: deps.resultUrlTtlSeconds,
            },
          ),
        ] as const,
    ),
  );
  return Object.fromEntries(entries);
};

/** The job whose progress `job` reports: itself, or for a duplicate the canonical job. */
const progressSource = async (store: JobStore, job: Job): Promise<Job> => {
  if (job.status !== DUPLICATE) return job;
  const canonical = job.duplicate_of ? await store.get(job.duplicate_of) : undefined;
  if (!canonical) {
    throw new AppError(
      'Job::CanonicalMissing',
      `duplicate job ${job.id} points to ${job.duplicate_of}, which is missing`,
    );
  }
  return canonical;
};

export const renderJobView = async (deps: JobViewDeps, job: Job): Promise<JobView> => {
  const source = await progressSource(deps.store, job);
  return {
    id: job.id,
    // A canonical job is never itself a duplicate: the dedup key always names the job that claimed it.
    status: source.status as JobStatus,
    file_name: job.file_name,
    content_type: job.content_type,
    size: job.size,
    preset: job.preset,
    file_hash: source.file_hash ?? job.file_hash ?? null,
    attempts: source.attempts,
    result: source.result ?? null,
    result_urls: await presignResults(deps, source),
    error: source.error ?? null,
    duplicate_of: job.duplicate_of ?? null,
    created_at: job.created_at,
    // The view changes when the canonical job does: its later update time is the view's.
    updated_at:
      Date.parse(source.updated_at) > Date.parse(job.updated_at) ? source.updated_at : job.updated_at,
    error_code: source.error_code ?? null,
    webhook: job.webhook ?? null,
    max_attempts: deps.maxAttempts,
    run: runOf(source),
    retryable:
      retryRefusal(job, { maxRetries: deps.maxRetries, uploadRetentionDays: deps.uploadRetentionDays }) ===
      undefined,
  };
};

/** The caller's job as GET /api/media/{id}/ shows it; 404 for anyone else's. */
export const viewJob = async (deps: JobViewDeps, tenant: string, jobId: string): Promise<JobView> =>
  renderJobView(deps, await ownJob(deps.store, tenant, jobId));
