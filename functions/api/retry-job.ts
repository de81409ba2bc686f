import type { Dispatcher } from '#shared/dispatch';
import { ConflictError, describeError } from '#shared/errors';
import { DUPLICATE, type Job, JobStatus } from '#shared/job';
import type { JobStore } from '#shared/job-store';
import { logger } from '#shared/observability';
import { retryDeadline } from '#shared/retention';
import { ServiceUnavailableError } from './api-errors.ts';
import { isVisibleTo, jobNotFound, ownJob } from './job-access.ts';

export interface RetryJobDeps {
  store: JobStore;
  dispatcher: Dispatcher;
  maxAttempts: number;
  /** Days originals are kept (0: kept): a retry must start while the original is sure to be there. */
  uploadRetentionDays: number;
}

/** What a retry is judged against besides the job. */
export interface RetryLimits {
  maxAttempts: number;
  /** Days originals are kept; 0 or absent: kept, so no retry deadline. */
  uploadRetentionDays?: number;
  now?: Date;
}

export interface RetriedJob {
  job_id: string;
  status: typeof JobStatus.Queued;
  /** Processing attempts already used (the failed ones), as in the job view. */
  attempts: number;
  /** The attempt this retry queues: `attempts + 1`. */
  attempt: number;
}

/** Why a job cannot be retried now, or undefined when it can. */
export const retryRefusal = (
  job: Job,
  { maxAttempts, uploadRetentionDays = 0, now = new Date() }: RetryLimits,
): ConflictError | undefined => {
  switch (job.status) {
    case DUPLICATE:
      return new ConflictError(
        'Retry::Duplicate',
        `job ${job.id} is a duplicate of ${job.duplicate_of}; retry ${job.duplicate_of}`,
      );
    case JobStatus.Done:
      return new ConflictError('Retry::JobDone', `job ${job.id} cannot be retried: the job is done`);
    case JobStatus.AwaitingUpload:
      return new ConflictError(
        'Retry::AwaitingUpload',
        `job ${job.id} cannot be retried: the job is still waiting for its upload; upload the file to its URL`,
      );
    case JobStatus.Queued:
    case JobStatus.Processing:
      return new ConflictError(
        'Retry::JobInProgress',
        `job ${job.id} cannot be retried: the job is still processing (${job.status}); wait for it to finish`,
      );
    case JobStatus.Failed:
      break;
  }
  // Ingest refused the bytes before any processor saw them: running again cannot change that.
  if (!job.media_kind || job.error_code?.startsWith('Upload::')) {
    return new ConflictError(
      'Retry::UploadRefused',
      `job ${job.id} cannot be retried: the upload was refused: ${job.error ?? 'the file could not be accepted'}; upload a valid file instead`,
    );
  }
  if (job.attempts >= maxAttempts) {
    return new ConflictError(
      'Retry::AttemptsExhausted',
      `job ${job.id} cannot be retried: ${job.attempts} of ${maxAttempts} attempts used; upload the file again to start a new job`,
    );
  }
  const deadline = retryDeadline(job.created_at, uploadRetentionDays);
  if (deadline && now >= deadline) {
    return new ConflictError(
      'Retry::OriginalExpiring',
      `job ${job.id} cannot be retried: uploaded files are deleted ${uploadRetentionDays} days after upload, so retries must start by ${deadline.toISOString()}; upload the file again to start a new job`,
    );
  }
  return undefined;
};

/** Puts a failed job back on its processor's queue, if it failed in processing and has attempts left. */
export const retryJob = async (deps: RetryJobDeps, tenant: string, jobId: string): Promise<RetriedJob> => {
  const job = await ownJob(deps.store, tenant, jobId);
  const limits: RetryLimits = {
    maxAttempts: deps.maxAttempts,
    uploadRetentionDays: deps.uploadRetentionDays,
  };
  const refusal = retryRefusal(job, limits);
  if (refusal) throw refusal;

  const requeued = await deps.store.requeue(jobId, deps.maxAttempts);
  if (!requeued) {
    // Changed between the read and the conditional write (a concurrent retry, say): report its new state.
    const current = await deps.store.get(jobId);
    // Deleted meanwhile: a tombstone never moves again (JobStore refuses it), and it is not there to see.
    if (!isVisibleTo(current, tenant)) throw jobNotFound(jobId);
    throw (
      retryRefusal(current, limits) ??
      new ConflictError(
        'Retry::Conflict',
        `job ${jobId} changed while it was being retried; fetch it and try again`,
      )
    );
  }

  try {
    await deps.dispatcher.enqueueProcessing(requeued);
    await deps.store.markEnqueued(jobId);
  } catch (error) {
    logger.error('retry could not be queued; reverting the job to failed', {
      job_id: jobId,
      error: error as Error,
    });
    // Back to the failure the caller saw, so a later retry starts from the same state.
    const previous = {
      code: job.error_code ?? describeError(error).code,
      message: job.error ?? 'processing failed',
    };
    await deps.store.revertRequeue(jobId, previous).catch((revertError: unknown) => {
      logger.error('could not revert the job to failed', { job_id: jobId, error: revertError as Error });
    });
    throw new ServiceUnavailableError(
      'Retry::QueueUnavailable',
      `job ${jobId} could not be queued right now and is still failed; retry again in a minute`,
      { cause: error },
    );
  }
  return {
    job_id: jobId,
    status: JobStatus.Queued,
    attempts: requeued.attempts,
    attempt: requeued.attempts + 1,
  };
};
