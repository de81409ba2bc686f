import { z } from 'zod';
import { dynamodb, s3, sqs } from '#shared/aws-clients';
import { envString, loadConfig } from '#shared/config';
import { Dispatcher } from '#shared/dispatch';
import { describeIssues, s3EventSchema } from '#shared/events';
import { jobIdFromUploadKey } from '#shared/job';
import { JobStore } from '#shared/job-store';
import { withObservability } from '#shared/middleware';
import { logger, withRecordContext } from '#shared/observability';
import { ingestUpload } from './ingest-upload.ts';

const config = loadConfig(
  z.object({
    JOBS_TABLE: envString(),
    UPLOADS_BUCKET: envString(),
    IMAGE_QUEUE_URL: envString(),
    VIDEO_QUEUE_URL: envString(),
    WEBHOOK_QUEUE_URL: envString(),
  }),
);

const store = new JobStore(dynamodb, config.JOBS_TABLE);
const deps = {
  s3,
  store,
  uploadsBucket: config.UPLOADS_BUCKET,
  dispatcher: new Dispatcher(sqs, {
    image: config.IMAGE_QUEUE_URL,
    video: config.VIDEO_QUEUE_URL,
    webhook: config.WEBHOOK_QUEUE_URL,
  }),
};

/**
 * S3 ObjectCreated on uploads/ → ingest. A record that fails makes the invocation throw, so Lambda's
 * asynchronous retries run it again (ingest is idempotent) and then hand the event to the ingest
 * dead-letter queue, whose consumer fails the job instead of leaving it waiting.
 */
export const handler = withObservability(async (event: unknown): Promise<void> => {
  const parsed = s3EventSchema.safeParse(event);
  if (!parsed.success) {
    logger.error('not an S3 notification; dropping it', { issues: describeIssues(parsed.error) });
    return;
  }
  const failures: unknown[] = [];
  for (const record of parsed.data.Records) {
    if (record.s3.bucket.name !== config.UPLOADS_BUCKET || !record.eventName.startsWith('ObjectCreated:'))
      continue;
    const jobId = jobIdFromUploadKey(record.s3.object.key);
    if (!jobId) {
      logger.warn('object key is not a job upload; ignoring it', { key: record.s3.object.key });
      continue;
    }
    await withRecordContext({ job_id: jobId }, async () => {
      try {
        const { outcome } = await ingestUpload(deps, jobId);
        logger.info('ingested', { outcome });
      } catch (error) {
        logger.error('ingest failed', { error });
        failures.push(error);
      }
    });
  }
  if (failures.length > 0)
    throw new AggregateError(failures, `${failures.length} upload(s) could not be ingested`);
});
