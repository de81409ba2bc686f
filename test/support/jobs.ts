import { randomUUID } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { type Job, JobStatus, uploadKeyFor } from '#shared/job';
import type { JobStore } from '#shared/job-store';
import type { TestEnvironment } from './emulators.ts';

/** A job as the API creates it, awaiting its upload; override what the test is about. */
export const newJob = (overrides: Partial<Job> = {}): Job => {
  const id = overrides.id ?? randomUUID();
  const createdAt = new Date().toISOString();
  return {
    id,
    status: JobStatus.AwaitingUpload,
    file_name: 'photo.jpg',
    content_type: 'image/jpeg',
    size: 1024,
    preset: 'default',
    upload_key: uploadKeyFor(id),
    upload_method: 'presigned_put',
    attempts: 0,
    created_at: createdAt,
    updated_at: createdAt,
    ...overrides,
  };
};

/**
 * Leaves `job` where ingest leaves an accepted upload: its bytes in the uploads bucket (unless `bytes`
 * is undefined) with their ETag recorded as the checked upload, stored, and its processing message on
 * `queueUrl`.
 */
export const queueForProcessing = async (
  env: TestEnvironment,
  store: JobStore,
  queued: Job,
  queueUrl: string,
  bytes: Buffer | undefined,
): Promise<Job> => {
  let job = queued;
  if (bytes) {
    const { ETag } = await env.clients.s3.send(
      new PutObjectCommand({ Bucket: env.uploadsBucket, Key: job.upload_key, Body: bytes }),
    );
    job = { ...job, ...(ETag ? { upload_etag: ETag } : {}) };
  }
  await store.create(job);
  await env.clients.sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: JSON.stringify({ kind: 'process', job_id: job.id }),
    }),
  );
  return job;
};
