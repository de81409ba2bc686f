import { randomUUID } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '#shared/job';
import { type ApiHarness, startApi } from '#test/api';
import { httpEvent } from '#test/http-events';
import { newJob } from '#test/jobs';
import type { JobView } from '../../functions/api/job-view.ts';
import type { ErrorBody } from '../../functions/api/responses.ts';

let api: ApiHarness;

beforeAll(async () => {
  api = await startApi();
});
afterAll(() => api?.env.close());

const getJob = (id: string, { trailingSlash = true } = {}) =>
  api.invoke<JobView>(
    httpEvent({
      method: 'GET',
      path: `/api/media/${id}${trailingSlash ? '/' : ''}`,
      routeKey: 'GET /api/media/{id}',
      pathParameters: { id },
    }),
  );

/** A finished job whose outputs really are in the results bucket. */
const doneJob = async (overrides: Partial<Job> = {}): Promise<{ job: Job; thumb: Buffer }> => {
  const id = randomUUID();
  const thumb = Buffer.from(`thumbnail of ${id}`);
  const key = `results/${id}/thumb.jpg`;
  await api.env.clients.s3.send(
    new PutObjectCommand({ Bucket: api.env.resultsBucket, Key: key, Body: thumb, ContentType: 'image/jpeg' }),
  );
  const job = newJob({
    id,
    status: 'done',
    file_hash: 'c'.repeat(64),
    detected_type: 'image/jpeg',
    media_kind: 'image',
    attempts: 1,
    result: { width: 640, height: 480, variants: { thumb: { width: 150, height: 113 } } },
    outputs: [{ name: 'thumb', key, content_type: 'image/jpeg' }],
    ...overrides,
  });
  await api.store.create(job);
  return { job, thumb };
};

describe('GET /api/media/{id}/', () => {
  it('shows a new job with every field present, null where nothing is known yet', async () => {
    // Prepare
    const job = newJob();
    await api.store.create(job);

    // Act
    const response = await getJob(job.id);

    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.body).toEqual({
      id: job.id,
      status: 'awaiting_upload',
      file_name: 'photo.jpg',
      content_type: 'image/jpeg',
      size: 1024,
      preset: 'default',
      file_hash: null,
      attempts: 0,
      result: null,
      result_urls: null,
      error: null,
      duplicate_of: null,
      created_at: job.created_at,
      updated_at: job.updated_at,
      error_code: null,
      webhook: null,
      max_attempts: 3,
      run: 1,
      retryable: false,
    });
  });

  it('answers the same without the trailing slash', async () => {
    const job = newJob();
    await api.store.create(job);

    const response = await getJob(job.id, { trailingSlash: false });

    expect(response.statusCode).toBe(200);
    expect(response.body.id).toBe(job.id);
  });

  it('links a done job to its outputs with presigned URLs that download them', async () => {
    const { job, thumb } = await doneJob();

    const response = await getJob(job.id);

    expect(response.statusCode).toBe(200);
    expect(response.body).toMatchObject({
      status: 'done',
      attempts: 1,
      file_hash: 'c'.repeat(64),
      result: job.result,
      error: null,
    });
    const url = response.body.result_urls?.thumb ?? '';
    expect(Object.keys(response.body.result_urls ?? {})).toEqual(['thumb']);
    expect(new URL(url).searchParams.get('X-Amz-Expires')).toBe('3600');
    const download = await fetch(url);
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer())).toEqual(thumb);
  });

  it('shows a failed job with its error, its code and its webhook state', async () => {
    const job = newJob({
      status: 'failed',
      media_kind: 'image',
      attempts: 3,
      error: 'the image could not be decoded',
      error_code: 'Image::Undecodable',
      callback_url: 'https://example.com/hook',
      webhook: {
        message_id: 'msg_1',
        status: 'delivered',
        attempts: 1,
        delivered_at: '2026-01-01T00:00:00.000Z',
      },
    });
    await api.store.create(job);

    const response = await getJob(job.id);

    expect(response.body).toMatchObject({
      status: 'failed',
      attempts: 3,
      error: 'the image could not be decoded',
      error_code: 'Image::Undecodable',
      webhook: { status: 'delivered', attempts: 1 },
      result: null,
      result_urls: null,
    });
  });

  it('shows a webhook being retried: its attempts, when the next is due and the last error', async () => {
    // Prepare
    const nextAttemptAt = new Date(Date.now() + 300_000).toISOString();
    const job = newJob({
      status: 'done',
      media_kind: 'image',
      attempts: 1,
      callback_url: 'https://example.com/hook',
      webhook: {
        message_id: 'msg_1',
        status: 'retrying',
        attempts: 3,
        next_attempt_at: nextAttemptAt,
        last_error: 'the callback URL answered HTTP 503',
        last_status_code: 503,
      },
    });
    await api.store.create(job);

    // Act
    const response = await getJob(job.id);

    // Assess
    expect(response.body.webhook).toEqual(job.webhook);
  });

  it("shows a duplicate with its canonical job's status, result, hash and download links", async () => {
    // Prepare
    const { job: canonical, thumb } = await doneJob({ attempts: 2 });
    const duplicate = newJob({
      status: 'duplicate',
      file_name: 'copy.jpg',
      duplicate_of: canonical.id,
      file_hash: canonical.file_hash,
      media_kind: 'image',
    });
    await api.store.create(duplicate);

    // Act
    const response = await getJob(duplicate.id);

    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.body).toMatchObject({
      id: duplicate.id,
      file_name: 'copy.jpg',
      status: 'done',
      attempts: 2,
      result: canonical.result,
      file_hash: canonical.file_hash,
      error: null,
      duplicate_of: canonical.id,
    });
    const download = await fetch(response.body.result_urls?.thumb ?? '');
    expect(Buffer.from(await download.arrayBuffer())).toEqual(thumb);
  });

  it("shows a duplicate of a failed job with the canonical job's error", async () => {
    const canonical = newJob({
      status: 'failed',
      attempts: 3,
      error: 'boom',
      error_code: 'X::Y',
      media_kind: 'image',
    });
    const duplicate = newJob({ status: 'duplicate', duplicate_of: canonical.id });
    await Promise.all([api.store.create(canonical), api.store.create(duplicate)]);

    const response = await getJob(duplicate.id);

    expect(response.body).toMatchObject({ status: 'failed', attempts: 3, error: 'boom', error_code: 'X::Y' });
  });

  it('answers 404 for a job that does not exist', async () => {
    const id = randomUUID();

    const response = await api.invoke<ErrorBody>(
      httpEvent({
        method: 'GET',
        path: `/api/media/${id}/`,
        routeKey: 'GET /api/media/{id}',
        pathParameters: { id },
      }),
    );

    expect(response.statusCode).toBe(404);
    expect(response.body).toEqual({ error: { code: 'Job::NotFound', message: expect.stringContaining(id) } });
  });

  it.each(['not-a-uuid', '12345', `${randomUUID()}x`])('answers 400 for the malformed id %s', async (id) => {
    const response = await api.invoke<ErrorBody>(
      httpEvent({
        method: 'GET',
        path: `/api/media/${id}/`,
        routeKey: 'GET /api/media/{id}',
        pathParameters: { id },
      }),
    );

    expect(response.statusCode).toBe(400);
    expect(response.body.error).toMatchObject({ code: 'Request::InvalidJobId', field: 'id' });
  });

  it('answers 500 with a generic message and the request id when something internal breaks', async () => {
    // Prepare: a duplicate whose canonical job is gone, a state the API cannot explain to a caller
    const duplicate = newJob({ status: 'duplicate', duplicate_of: randomUUID() });
    await api.store.create(duplicate);
    const event = httpEvent({
      method: 'GET',
      path: `/api/media/${duplicate.id}/`,
      routeKey: 'GET /api/media/{id}',
      pathParameters: { id: duplicate.id },
    });

    // Act
    const response = await api.invoke<ErrorBody>(event);

    // Assess
    expect(response.statusCode).toBe(500);
    expect(response.body).toEqual({
      error: {
        code: 'Internal::Unexpected',
        message: expect.stringContaining(event.requestContext.requestId),
        request_id: event.requestContext.requestId,
      },
    });
    expect(JSON.stringify(response.body)).not.toContain(duplicate.duplicate_of);
  });
});
