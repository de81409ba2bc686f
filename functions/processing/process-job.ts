import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import type { Dispatcher } from '#shared/dispatch';
import { processMessageSchema } from '#shared/dispatch';
import { AppError, describeError, isPermanent } from '#shared/errors';
import { describeIssues, jsonStringified } from '#shared/events';
import { FailureKind, isTerminal, type Job, type JobOutput, JobStatus, runOf } from '#shared/job';
import type { JobFailure, JobStore } from '#shared/job-store';
import { countJob, JobMetric, logger, recordProcessingTime, withRecordContext } from '#shared/observability';
import { type BackoffPolicy, delayRedelivery, fullJitterDelaySeconds } from '#shared/retry';

/** What a processor made of a job: the `result` the API shows and the objects behind `result_urls`. */
export interface ProcessedMedia {
  result: Record<string, unknown>;
  outputs: JobOutput[];
}

export interface JobRunnerDeps {
  store: JobStore;
  dispatcher: Dispatcher;
  sqs: SQSClient;
  /** The queue the records come from, for delaying a retry. */
  queueUrl: string;
  /** Attempts of one run of a job (a manual retry starts another run with as many). */
  maxAttempts: number;
  /**
   * How long an attempt may run (the function's timeout). A message for a job whose attempt started
   * less long ago is another copy (a reconciler's re-send, a redelivery): it does not start a second
   * attempt beside the live one.
   */
  attemptTimeoutSeconds: number;
  backoff: BackoffPolicy;
  process(job: Job): Promise<ProcessedMedia>;
}

const processMessageBody = jsonStringified(processMessageSchema);

/** Thrown to make the batch processor report the record as failed, after its retry was scheduled. */
export class RetryScheduledError extends AppError {
  constructor(jobId: string, delaySeconds: number, options: { cause: unknown }) {
    super('Processing::RetryScheduled', `job ${jobId} will be retried in ${delaySeconds} s`, options);
  }
}

/**
 * Runs one processing attempt for an SQS record, shared by the image and video functions:
 * - the attempt is counted on the job before any work, so crashes and timeouts count too;
 * - success → done; a permanent failure (corrupt, unsupported, over a cap) → failed at once, recorded
 *   as permanent (the retry route refuses it);
 * - a transient failure with attempts of the run left → back to queued, and the message comes back
 *   after an exponential backoff with full jitter (its visibility is changed, then the record is
 *   reported failed);
 * - no attempts of the run left → failed with the last error, recorded as transient (a manual retry
 *   starts another run).
 * Every terminal outcome is announced to the webhook queue, for the job and its duplicates.
 */
export const createJobRunner =
  (deps: JobRunnerDeps) =>
  async (record: SQSRecord): Promise<void> => {
    const message = processMessageBody.safeParse(record.body);
    if (!message.success) {
      // It names no job it could ever process: acknowledged, so it does not cycle into the dead-letter queue.
      logger.error('malformed processing message; dropping it', {
        message_id: record.messageId,
        issues: describeIssues(message.error),
      });
      return;
    }
    const jobId = message.data.job_id;
    // The record's own log context: records of a batch run concurrently, so never `logger.appendKeys`.
    await withRecordContext({ job_id: jobId }, () => runAttempt(deps, record, jobId));
  };

const runAttempt = async (deps: JobRunnerDeps, record: SQSRecord, jobId: string): Promise<void> => {
  const liveSince = new Date(Date.now() - deps.attemptTimeoutSeconds * 1000).toISOString();
  const job = await deps.store.startAttempt(jobId, deps.maxAttempts, { staleBefore: liveSince });
  if (!job) {
    await settleUnstartable(deps, jobId, liveSince);
    return;
  }

  const started = Date.now();
  try {
    const processed = await deps.process(job);
    const done = await deps.store.complete(jobId, processed.result, processed.outputs);
    if (!done) {
      logger.warn('job changed state while it was processed; its outcome was not recorded');
      return;
    }
    recordProcessingTime(Date.now() - started);
    countJob(JobMetric.Done);
    logger.info('job done', { attempts: done.attempts, run: runOf(done), duration_ms: Date.now() - started });
    await deps.dispatcher.announceOutcome(done);
  } catch (error) {
    const failure = describeError(error);
    if (isPermanent(error)) {
      logger.info('job failed permanently', { error_code: failure.code, error_message: failure.message });
      await failAndAnnounce(deps, jobId, { ...failure, kind: FailureKind.Permanent });
      return;
    }
    logger.warn('attempt failed', { attempts: job.attempts, run: runOf(job), error });
    if (job.attempts >= deps.maxAttempts) {
      await failAndAnnounce(deps, jobId, {
        code: failure.code,
        message: `gave up after ${job.attempts} attempts: ${failure.message}`,
      });
      return;
    }
    // The job shows `queued` with the last attempt's error until the next attempt starts.
    await deps.store.deferRetry(jobId, failure);
    const delay = fullJitterDelaySeconds(job.attempts, deps.backoff);
    await delayRedelivery(deps.sqs, deps.queueUrl, record.receiptHandle, delay);
    throw new RetryScheduledError(jobId, delay, { cause: error });
  }
};

const failAndAnnounce = async (deps: JobRunnerDeps, jobId: string, failure: JobFailure): Promise<void> => {
  const failed = await deps.store.fail(jobId, 'processingFailed', failure);
  if (!failed) return;
  countJob(JobMetric.Failed);
  await deps.dispatcher.announceOutcome(failed);
};

/**
 * The attempt could not start: the message is stale (the job already finished, or never was queued),
 * or every attempt was used by deliveries that crashed or timed out before recording anything.
 */
const settleUnstartable = async (deps: JobRunnerDeps, jobId: string, liveSince: string): Promise<void> => {
  const job = await deps.store.get(jobId);
  if (!job) {
    logger.warn('processing message for an unknown job; dropping it');
    return;
  }
  if (job.status === JobStatus.Processing && job.updated_at >= liveSince) {
    // Another copy of the message while an attempt runs: that attempt settles the job (and, should it
    // die, its message comes back, or the reconciler sends one).
    logger.info('processing message for a job whose attempt is running; dropping this copy');
    return;
  }
  if (isTerminal(job.status)) {
    // A redelivery after the outcome was recorded: make sure it was announced (webhook ids dedupe).
    await deps.dispatcher.announceOutcome(job);
    return;
  }
  if (
    (job.status === JobStatus.Queued || job.status === JobStatus.Processing) &&
    job.attempts >= deps.maxAttempts
  ) {
    const last = job.error ?? 'the processor stopped (crashed or timed out) before finishing';
    const failed = await deps.store.fail(jobId, 'attemptsExhausted', {
      code: job.error_code ?? 'Processing::AttemptsExhausted',
      message: `gave up after ${job.attempts} attempts: ${last}`,
    });
    if (failed) {
      countJob(JobMetric.Failed);
      await deps.dispatcher.announceOutcome(failed);
    }
    return;
  }
  logger.warn('processing message for a job that is not queued; dropping it', { status: job.status });
};
