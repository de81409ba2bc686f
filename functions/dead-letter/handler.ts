import { HeadObjectCommand } from '@aws-sdk/client-s3';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { z } from 'zod';
import { dynamodb, s3, sqs } from '#shared/aws-clients';
import { envString, loadConfig } from '#shared/config';
import { Dispatcher } from '#shared/dispatch';
import { JobStore } from '#shared/job-store';
import { withObservability } from '#shared/middleware';
import { processSqsBatch } from '#shared/sqs-batch';
import { type DeadLetterDeps, settleDeadLetter } from './settle-dead-letter.ts';

const config = loadConfig(
  z.object({ JOBS_TABLE: envString(), WEBHOOK_QUEUE_URL: envString(), UPLOADS_BUCKET: envString() }),
);
const store = new JobStore(dynamodb, config.JOBS_TABLE);
const deps: DeadLetterDeps = {
  store,
  dispatcher: new Dispatcher(sqs, { webhook: config.WEBHOOK_QUEUE_URL }),
  uploadExists: async (key) => {
    try {
      await s3.send(new HeadObjectCommand({ Bucket: config.UPLOADS_BUCKET, Key: key }));
      return true;
    } catch (error) {
      if (error instanceof Error && (error.name === 'NotFound' || error.name === 'NoSuchKey')) return false;
      throw error;
    }
  },
};

/** Image, video and ingest dead-letter queues → failed jobs with a readable error (and their webhooks). */
export const handler = withObservability(
  (event: SQSEvent, context): Promise<SQSBatchResponse> =>
    processSqsBatch(event, context, (record) => settleDeadLetter(deps, record.body)),
);
