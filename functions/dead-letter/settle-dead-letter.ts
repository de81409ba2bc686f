import { z } from 'zod';
import type { Dispatcher } from '#shared/dispatch';
import { processMessageSchema } from '#shared/dispatch';
import { type Job, JobStatus, jobIdFromUploadKey } from '#shared/job';
import type { JobFailure, JobStore } from '#shared/job-store';
import { countJob, JobMetric, logger } from '#shared/observability';

export interface DeadLetterDeps {
  store: JobStore;
  dispatcher: Dispatcher;
}

/** What Lambda puts on an asynchronous function's dead-letter queue: the S3 event it could not handle. */
const s3EventSchema = z.object({
  Records: z.array(z.object({ s3: z.object({ object: z.object({ key: z.string() }) }) })).min(1),
});

/**
 * Turns a message that reached a dead-letter queue into a `failed` job with a readable error, so that
 * no job waits forever for work that will never happen. Two kinds arrive: processing messages whose
 * every delivery crashed or timed out (image and video DLQs), and S3 events that ingest could not
 * handle after Lambda's asynchronous retries (ingest DLQ). Jobs that did reach an outcome meanwhile
 * are left as they are.
 */
export const settleDeadLetter = async (deps: DeadLetterDeps, body: string): Promise<void> => {
  const parsed = parseJson(body);
  const processing = processMessageSchema.safeParse(parsed);
  if (processing.success) {
    const unfinished = (job: Job) => job.status === JobStatus.Queued || job.status === JobStatus.Processing;
    await failUnfinished(deps, processing.data.job_id, unfinished, (job) => ({
      code: 'Processing::DeadLettered',
      message: `processing did not finish: the processor crashed or timed out on every delivery (${job.attempts} attempt${job.attempts === 1 ? '' : 's'} counted); retry the job`,
    }));
    return;
  }
  const s3Event = s3EventSchema.safeParse(parsed);
  if (s3Event.success) {
    for (const record of s3Event.data.Records) {
      const jobId = jobIdFromUploadKey(decodeURIComponent(record.s3.object.key.replace(/\+/g, ' ')));
      if (!jobId) continue;
      await failUnfinished(deps, jobId, neverQueued, () => ({
        code: 'Upload::IngestFailed',
        message: 'the upload could not be ingested after several tries; upload the file again',
      }));
    }
    return;
  }
  logger.error('unrecognised dead letter; leaving it unsettled', { body: body.slice(0, 200) });
};

/** Ingest gave up before the job reached its processor: still waiting, or queued but never sent. */
const neverQueued = (job: Job) =>
  job.status === JobStatus.AwaitingUpload || (job.status === JobStatus.Queued && !job.enqueued_at);

const failUnfinished = async (
  deps: DeadLetterDeps,
  jobId: string,
  isStuck: (job: Job) => boolean,
  failure: (job: Job) => JobFailure,
): Promise<void> => {
  const job = await deps.store.get(jobId);
  if (!job || !isStuck(job)) {
    logger.info('dead letter for a job that is already settled or still on its way', {
      job_id: jobId,
      status: job?.status,
    });
    return;
  }
  const failed = await deps.store.fail(jobId, 'deadLettered', failure(job), [job.status]);
  if (!failed) return;
  countJob(JobMetric.Failed);
  logger.warn('job failed from its dead letter', { job_id: jobId, error_code: failed.error_code });
  await deps.dispatcher.announceOutcome(failed);
};

const parseJson = (body: string): unknown => {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
};
