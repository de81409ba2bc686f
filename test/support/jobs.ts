import { randomUUID } from 'node:crypto';
import { type Job, JobStatus, uploadKeyFor } from '#shared/job';

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
