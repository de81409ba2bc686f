import type { Dispatcher } from '#shared/dispatch';
import { ConflictError, describeError } from '#shared/errors';
import { DUPLICATE, FailureKind, failureKindOf, type Job, JobStatus, runOf } from '#shared/job';
import type { JobStore } from '#shared/job-store';
import { logger } from '#shared/observability';
import { retryDeadline } from '#shared/retention';
import { ServiceUnavailableError } from './api-errors.ts';
import { isVisibleTo, jobNotFound, ownJob } from './job-access.ts';

export interface RetryJobDeps {
  store: JobStore;
  dispatcher: Dispatcher;
  /** Manual retries of a job: runs after the first (0: none). */
  maxRetries: number;
  /** Days originals are kept (0: kept): a retry must start while the original is sure to be there. */
  uploadRetentionDays: number;
}

/** What a retry is judged against besides the job. */
export interface RetryLimits {
  /** Manual retries of a job: runs after the first (0: none). */
  maxRetries: number;
  /** Days originals are kept; 0 or absent: kept, so no retry deadline. */
  uploadRetentionDays?: number;
  now?: Date;
}

export interface RetriedJob {
  job_id: string;
  status: typeof JobStatus.Queued;
  /** Attempts of the new run used so far: 0 (each run has the stack's `maxAttempts`). */
  attempts: number;
  /** The attempt about to run: `attempts + 1`, the first of the new run. */
  attempt: number;
  /** The run the retry started: 2 for the first retry, one more for each further one. */
  run: number;
}

/** What to do about a permanent failure, by its code, when the job's error does not already say. */
const PERMANENT_FAILURE_ADVICE: Readonly<Record<string, string>> = {
  'Media::TooLarge': 'upload a smaller file as a new job (GET /api/presets/ lists the limits)',
  'Media::TooManyPixels': 'upload a smaller image as a new job (GET /api/presets/ lists the limits)',
  'Media::TooLong': 'upload a shorter video as a new job (GET /api/presets/ lists the limits)',
  'Media::TooComplex': 'upload a smaller or simpler file as a new job',
  'Job::PresetUnavailable': 'upload the file again with another preset',
  // Its error already says to upload the file again.
  'Upload::Changed': '',
};
const DEFAULT_PERMANENT_ADVICE = 'upload a valid file in an accepted format as a new job';

/** Ingest refused the bytes before any processor saw them. */
const refusedAtUpload = (job: Job): boolean =>
  !job.media_kind ||
  (job.error_code?.startsWith('Upload::') === true && job.error_code !== 'Upload::Changed');

/**
 * Why a job cannot be retried now, or undefined when it can: only a failed job whose failure was
 * transient (an outage, a timeout, a crash: its run's automatic attempts ran out) is retried, as a new
 * run with a fresh attempt budget, at most `maxRetries` times, and only while its original is kept.
 */
export const retryRefusal = (
  job: Job,
  { maxRetries, uploadRetentionDays = 0, now = new Date() }: RetryLimits,
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
  if (refusedAtUpload(job)) {
    return new ConflictError(
      'Retry::UploadRefused',
      `job ${job.id} cannot be retried: the upload was refused: ${job.error ?? 'the file could not be accepted'}; upload a valid file instead`,
    );
  }
  if (failureKindOf(job) === FailureKind.Permanent) {
    const advice = PERMANENT_FAILURE_ADVICE[job.error_code ?? ''] ?? DEFAULT_PERMANENT_ADVICE;
    return new ConflictError(
      'Retry::PermanentFailure',
      `job ${job.id} cannot be retried: it failed for a reason another run cannot change: ${job.error ?? job.error_code ?? 'processing failed'}${advice ? `; ${advice}` : ''}`,
    );
  }
  const retries = runOf(job) - 1;
  if (retries >= maxRetries) {
    return new ConflictError(
      'Retry::RetriesExhausted',
      maxRetries === 0
        ? `job ${job.id} cannot be retried: this deployment allows no retries (maxRetries 0); upload the file again to start a new job`
        : `job ${job.id} cannot be retried: it was already retried ${retries} of ${maxRetries} times; upload the file again to start a new job`,
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

/**
 * Requeues the job as judged: the write is conditional on the job not having moved since it was read,
 * so a job that moved meanwhile (a concurrent retry, a new duplicate linked to it) is read and judged
 * again, once. Returns the job as judged and as requeued.
 */
const requeueAsJudged = async (
  deps: RetryJobDeps,
  tenant: string,
  seen: Job,
  limits: RetryLimits,
): Promise<{ judged: Job; requeued: Job }> => {
  let judged = seen;
  for (let tries = 1; ; tries++) {
    const refusal = retryRefusal(judged, limits);
    if (refusal) throw refusal;
    const requeued = await deps.store.requeue(judged, deps.maxRetries);
    if (requeued) return { judged, requeued };
    const current = await deps.store.get(judged.id);
    // Deleted meanwhile: a tombstone never moves again (JobStore refuses it), and it is not there to see.
    if (!isVisibleTo(current, tenant)) throw jobNotFound(judged.id);
    if (tries >= 2) {
      throw (
        retryRefusal(current, limits) ??
        new ConflictError(
          'Retry::Conflict',
          `job ${judged.id} changed while it was being retried; fetch it and try again`,
        )
      );
    }
    judged = current;
  }
};

/**
 * Puts a failed job back on its processor's queue as its next run, with a fresh attempt budget, if its
 * failure was transient and manual runs are left.
 */
export const retryJob = async (deps: RetryJobDeps, tenant: string, jobId: string): Promise<RetriedJob> => {
  const limits: RetryLimits = {
    maxRetries: deps.maxRetries,
    uploadRetentionDays: deps.uploadRetentionDays,
  };
  const { judged: job, requeued } = await requeueAsJudged(
    deps,
    tenant,
    await ownJob(deps.store, tenant, jobId),
    limits,
  );

  try {
    await deps.dispatcher.enqueueProcessing(requeued);
  } catch (error) {
    logger.error('retry could not be queued; reverting the job to failed', {
      job_id: jobId,
      error: error as Error,
    });
    // Back to the failure, run and attempts the caller saw, so a later retry starts from the same state.
    const previous = {
      code: job.error_code ?? describeError(error).code,
      message: job.error ?? 'processing failed',
      kind: FailureKind.Transient,
    };
    await deps.store.revertRequeue(jobId, previous, job).catch((revertError: unknown) => {
      logger.error('could not revert the job to failed', { job_id: jobId, error: revertError as Error });
    });
    throw new ServiceUnavailableError(
      'Retry::QueueUnavailable',
      `job ${jobId} could not be queued right now and is still failed; retry again in a minute`,
      { cause: error },
    );
  }
  // The message is on its queue: the retry stands. A lost `enqueued_at` only lets the reconciler send it
  // once more (a copy the processor drops); reverting here could fail a job already at work.
  await deps.store.markEnqueued(jobId).catch((error: unknown) => {
    logger.warn('retry queued, but its enqueued_at could not be recorded', {
      job_id: jobId,
      error: error as Error,
    });
  });
  return {
    job_id: jobId,
    status: JobStatus.Queued,
    attempts: requeued.attempts,
    attempt: requeued.attempts + 1,
    run: runOf(requeued),
  };
};
