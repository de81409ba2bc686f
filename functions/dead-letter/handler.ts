import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { z } from 'zod';
import { dynamodb, s3, sqs } from '#shared/aws-clients';
import { envString, loadConfig } from '#shared/config';
import { Dispatcher } from '#shared/dispatch';
import { JobStore } from '#shared/job-store';
import { withObservability } from '#shared/middleware';
import { objectExists } from '#shared/s3-objects';
import { processSqsBatch } from '#shared/sqs-batch';
import { type DeadLetterDeps, settleDeadLetter } from './settle-dead-letter.ts';

const config = loadConfig(
  z.object({ JOBS_TABLE: envString(), WEBHOOK_QUEUE_URL: envString(), UPLOADS_BUCKET: envString() }),
);
const store = new JobStore(dynamodb, config.JOBS_TABLE);
const deps: DeadLetterDeps = {
  store,
  dispatcher: new Dispatcher(sqs, { webhook: config.WEBHOOK_QUEUE_URL }),
  uploadExists: (key) => objectExists(s3, config.UPLOADS_BUCKET, key),
};

/** Image, video and ingest dead-letter queues → failed jobs with a readable error (and their webhooks). */
export const handler = withObservability(
  (event: SQSEvent, context): Promise<SQSBatchResponse> =>
    processSqsBatch(event, context, (record) => settleDeadLetter(deps, record.body)),
);
