import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { z } from 'zod';
import { dynamodb, sqs } from '#shared/aws-clients';
import { Dispatcher } from '#shared/dispatch';
import type { Job } from '#shared/job';
import { JobStore } from '#shared/job-store';
import { withObservability } from '#shared/middleware';
import { backoffPolicyFrom } from '#shared/retry';
import { processSqsBatch } from '#shared/sqs-batch';
import { createJobRunner, type ProcessedMedia } from './process-job.ts';
import type { processorEnv } from './processor-config.ts';

/**
 * The Lambda handler of a processing queue (images, videos): each record is one attempt of a job,
 * run by `process`, with the attempt counting, retries and announcements of createJobRunner.
 */
export const createProcessorHandler = (
  config: z.infer<typeof processorEnv>,
  process: (job: Job) => Promise<ProcessedMedia>,
) => {
  const store = new JobStore(dynamodb, config.JOBS_TABLE);
  const runJob = createJobRunner({
    store,
    dispatcher: new Dispatcher(sqs, { webhook: config.WEBHOOK_QUEUE_URL }),
    sqs,
    queueUrl: config.QUEUE_URL,
    maxAttempts: config.MAX_ATTEMPTS,
    attemptTimeoutSeconds: config.ATTEMPT_TIMEOUT_SECONDS,
    backoff: backoffPolicyFrom(config),
    process,
  });
  return withObservability(
    (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => processSqsBatch(event, context, runJob),
  );
};
