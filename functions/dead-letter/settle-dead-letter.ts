import { z } from 'zod';
import type { Dispatcher } from '#shared/dispatch';
import { processMessageSchema } from '#shared/dispatch';
import { describeIssues, jsonStringified, s3EventSchema } from '#shared/events';
import { FailureKind, type Job, JobStatus, jobIdFromUploadKey } from '#shared/job';
import type { JobFailure, JobStore } from '#shared/job-store';
import { countJob, JobMetric, logger, withRecordContext } from '#shared/observability';

export interface DeadLetterDeps {
  store: JobStore;
  dispatcher: Dispatcher;
  /** Whether the upload's object is in S3 (HeadObject on the uploads bucket). */
  uploadExists(key: string): Promise<boolean>;
}

/**
 * What reaches the dead-letter queues: a processing message every delivery of which crashed (image and
 * video DLQs), or the S3 event Lambda could not hand to ingest (ingest's DLQ).
 */
const deadLetterSchema = jsonStringified(z.union([processMessageSchema, s3EventSchema]));

/**
 * Turns a message that reached a dead-letter queue into a `failed` job with a readable error, so that
 * no job waits forever for work that will never happen. Two kinds arrive: processing messages whose
 * every delivery crashed or timed out (image and video DLQs), and S3 events that ingest could not
 * handle after Lambda's asynchronous retries (ingest DLQ). Jobs that did reach an outcome meanwhile
 * are left as they are.
 */
export const settleDeadLetter = async (deps: DeadLetterDeps, body: string): Promise<void> => {
  const parsed = deadLetterSchema.safeParse(body);
  if (!parsed.success) {
    // Nothing to settle it against: acknowledged, so it does not sit in the queue being retried.
    logger.error('unrecognised dead letter; dropping it', { issues: describeIssues(parsed.error) });
    return;
  }
  const letter = parsed.data;
  if ('job_id' in letter) {
    const unfinished = (job: Job) => job.status === JobStatus.Queued || job.status === JobStatus.Processing;
    await failUnfinished(deps, letter.job_id, unfinished, (job) => ({
      code: 'Processing::DeadLettered',
      message: `processing did not finish: the processor crashed or timed out on every delivery (${job.attempts} attempt${job.attempts === 1 ? '' : 's'} counted); retry the job`,
    }));
    return;
  }
  for (const record of letter.Records) {
    const jobId = jobIdFromUploadKey(record.s3.object.key);
    if (!jobId) continue;
    await settleIngestLetter(deps, jobId, record.s3.object.key);
  }
};

/**
 * Ingest gave up on an upload (an outage outlasted Lambda's asynchronous retries, a throttling burst, a
 * timeout). Bytes that are in S3 are not failed for that: the upload URL writes once, so the job could
 * never be uploaded again, and the reconciler ingests it once the cause is gone (a job queued but never
 * sent, likewise, is the reconciler's to send). Only an upload whose object is gone fails here.
 */
const settleIngestLetter = (deps: DeadLetterDeps, jobId: string, key: string): Promise<void> =>
  withRecordContext({ job_id: jobId }, async () => {
    const job = await deps.store.get(jobId);
    if (job?.status === JobStatus.Queued && !job.enqueued_at) {
      logger.warn('ingest gave up after queueing the job; the reconciler sends its message');
      return;
    }
    if (job?.status === JobStatus.AwaitingUpload && (await deps.uploadExists(key))) {
      logger.warn('ingest gave up on an upload whose bytes are in S3; the reconciler ingests it');
      return;
    }
    await failUnfinished(deps, jobId, awaitingUpload, () => ({
      code: 'Upload::IngestFailed',
      message: 'the upload could not be ingested and its file is no longer in storage; upload the file again',
      // Its file is gone: no run can process it.
      kind: FailureKind.Permanent,
    }));
  });

const awaitingUpload = (job: Job) => job.status === JobStatus.AwaitingUpload;

/** In the job's own log context: a batch's dead letters are settled concurrently. */
const failUnfinished = (
  deps: DeadLetterDeps,
  jobId: string,
  isStuck: (job: Job) => boolean,
  failure: (job: Job) => JobFailure,
): Promise<void> =>
  withRecordContext({ job_id: jobId }, async () => {
    const job = await deps.store.get(jobId);
    if (!job || !isStuck(job)) {
      logger.info('dead letter for a job that is already settled or still on its way', {
        status: job?.status,
      });
      return;
    }
    const failed = await deps.store.fail(jobId, 'deadLettered', failure(job), [job.status]);
    if (!failed) return;
    countJob(JobMetric.Failed);
    logger.warn('job failed from its dead letter', { error_code: failed.error_code });
    await deps.dispatcher.announceOutcome(failed);
  });
