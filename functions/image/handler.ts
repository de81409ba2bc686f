import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import sharp from 'sharp';
import { dynamodb, s3, sqs } from '#shared/aws-clients';
import { loadConfig } from '#shared/config';
import { Dispatcher } from '#shared/dispatch';
import { JobStore } from '#shared/job-store';
import { withObservability } from '#shared/middleware';
import { presetsConfig } from '#shared/presets';
import { createJobRunner } from '#shared/process-job';
import { processorEnv } from '#shared/processor-config';
import { backoffPolicyFrom } from '#shared/retry';
import { processSqsBatch } from '#shared/sqs-batch';
import { createImageJobProcessor } from './process-image-job.ts';

const config = loadConfig(processorEnv);
// Every input is a new file: libvips' operation cache would only hold memory between jobs.
sharp.cache(false);
const store = new JobStore(dynamodb, config.JOBS_TABLE);

const runJob = createJobRunner({
  store,
  dispatcher: new Dispatcher(sqs, store, { webhook: config.WEBHOOK_QUEUE_URL }),
  sqs,
  queueUrl: config.QUEUE_URL,
  maxAttempts: config.MAX_ATTEMPTS,
  backoff: backoffPolicyFrom(config),
  process: createImageJobProcessor({
    s3,
    uploadsBucket: config.UPLOADS_BUCKET,
    resultsBucket: config.RESULTS_BUCKET,
    limits: presetsConfig.limits,
  }),
});

/** Image queue → sized variants per preset (sharp). */
export const handler = withObservability(
  (event: SQSEvent, context): Promise<SQSBatchResponse> => processSqsBatch(event, context, runJob),
);
