import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Job } from '#shared/job';
import { type ApiHarness, startApi } from '#test/api';
import { httpEvent } from '#test/http-events';
import { newJob } from '#test/jobs';
import type { ErrorBody } from '../../functions/api/responses.ts';
import type { RetriedJob } from '../../functions/api/retry-job.ts';

let api: ApiHarness;

beforeAll(async () => {
  api = await startApi({
    // Video jobs go to a queue that does not exist, so that sending them fails for real.
    beforeImport: (env) =>
      vi.stubEnv('VIDEO_QUEUE_URL', env.queues.video.url.replace(/[^/]+$/, 'no-such-queue')),
  });
});
afterAll(() => api?.env.close());

const retry = <T = RetriedJob>(id: string, { trailingSlash = true } = {}) =>
  api.invoke<T>(
    httpEvent({
      method: 'POST',
      path: `/api/media/${id}/retry${trailingSlash ? '/' : ''}`,
      routeKey: 'POST /api/media/{id}/retry',
      pathParameters: { id },
    }),
  );

const failedJob = async (overrides: Partial<Job> = {}): Promise<Job> => {
  const job = newJob({
    status: 'failed',
    file_hash: 'd'.repeat(64),
    detected_type: 'image/jpeg',
    media_kind: 'image',
    attempts: 1,
    error: 'the renderer ran out of memory',
    error_code: 'Image::RenderFailed',
    ...overrides,
  });
  await api.store.create(job);
  return job;
};

describe('POST /api/media/{id}/retry/', () => {
  it('puts a failed job with attempts left back on its queue', async () => {
    // Prepare
    const job = await failedJob();

    // Act
    const response = await retry(job.id);

    // Assess
    expect(response.statusCode).toBe(202);
    expect(response.body).toEqual({ job_id: job.id, status: 'queued', attempts: 1, attempt: 2 });
    expect(await api.env.drain(api.env.queues.image.url)).toEqual([{ kind: 'process', job_id: job.id }]);
    const stored = await api.store.get(job.id);
    expect(stored).toMatchObject({ status: 'queued', attempts: 1, enqueued_at: expect.any(String) });
    expect(stored?.error).toBeUndefined();
  });

  it('answers the same without the trailing slash', async () => {
    const job = await failedJob({ attempts: 2 });

    const response = await retry(job.id, { trailingSlash: false });

    expect(response.statusCode).toBe(202);
    expect(response.body.attempts).toBe(2);
    await api.env.drain(api.env.queues.image.url);
  });

  it.each([
    ['done', { status: 'done' }, 'Retry::JobDone', /the job is done/],
    ['queued', { status: 'queued' }, 'Retry::JobInProgress', /the job is still processing/],
    ['processing', { status: 'processing' }, 'Retry::JobInProgress', /the job is still processing/],
    [
      'awaiting its upload',
      { status: 'awaiting_upload', media_kind: undefined },
      'Retry::AwaitingUpload',
      /waiting for its upload/,
    ],
    [
      'out of attempts',
      { attempts: 3 },
      'Retry::AttemptsExhausted',
      /3 of 3 attempts used; upload the file again to start a new job$/,
    ],
    [
      'refused at upload',
      { media_kind: undefined, error: 'the uploaded file is empty (0 bytes)', error_code: 'Upload::Empty' },
      'Retry::UploadRefused',
      /the upload was refused: the uploaded file is empty \(0 bytes\); upload a valid file instead$/,
    ],
  ] satisfies [string, Partial<Job>, string, RegExp][])(
    'answers 409 for a job that is %s',
    async (_case, overrides, code, message) => {
      const job = await failedJob(overrides);

      const response = await retry<ErrorBody>(job.id);

      expect(response.statusCode).toBe(409);
      expect(response.body).toEqual({ error: { code, message: expect.stringMatching(message) } });
      expect((await api.store.get(job.id))?.status).toBe(job.status);
    },
  );

  it('answers 409 for a duplicate, naming the job to retry instead', async () => {
    const canonical = await failedJob();
    const duplicate = newJob({ status: 'duplicate', duplicate_of: canonical.id });
    await api.store.create(duplicate);

    const response = await retry<ErrorBody>(duplicate.id);

    expect(response.statusCode).toBe(409);
    expect(response.body.error).toEqual({
      code: 'Retry::Duplicate',
      message: `job ${duplicate.id} is a duplicate of ${canonical.id}; retry ${canonical.id}`,
    });
  });

  it('answers 503 and leaves the job failed as it was when its queue cannot take the message', async () => {
    // Prepare
    const job = await failedJob({
      media_kind: 'video',
      detected_type: 'video/mp4',
      content_type: 'video/mp4',
    });

    // Act
    const response = await retry<ErrorBody>(job.id);

    // Assess
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe('30');
    expect(response.body.error).toEqual({
      code: 'Retry::QueueUnavailable',
      message: expect.stringMatching(/still failed; retry again in a minute/),
    });
    expect(await api.store.get(job.id)).toMatchObject({
      status: 'failed',
      attempts: 1,
      error: job.error,
      error_code: job.error_code,
    });
  });

  it('answers 404 for a job that does not exist', async () => {
    const response = await retry<ErrorBody>(randomUUID());

    expect(response.statusCode).toBe(404);
    expect(response.body.error.code).toBe('Job::NotFound');
  });

  it('answers 400 for a malformed id', async () => {
    const response = await retry<ErrorBody>('42');

    expect(response.statusCode).toBe(400);
    expect(response.body.error).toMatchObject({ code: 'Request::InvalidJobId', field: 'id' });
  });
});
