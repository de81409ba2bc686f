import { randomUUID } from 'node:crypto';
import {
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListPartsCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '#shared/job';
import { type ApiHarness, startApi } from '#test/api';
import { httpEvent } from '#test/http-events';
import { newJob } from '#test/jobs';
import type { ErrorBody } from '../../functions/api/responses.ts';

let api: ApiHarness;

beforeAll(async () => {
  api = await startApi();
});
afterAll(() => api?.env.close());

const request = (method: 'GET' | 'DELETE', id: string, tenant = 'acme') =>
  api.invoke<ErrorBody>(
    httpEvent({
      method,
      path: `/api/media/${id}/`,
      routeKey: `${method} /api/media/{id}`,
      pathParameters: { id },
      tenant,
    }),
  );
const remove = (id: string, tenant?: string) => request('DELETE', id, tenant);
const view = (id: string, tenant?: string) => request('GET', id, tenant);

const exists = async (bucket: string, key: string): Promise<boolean> =>
  api.env.clients.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).then(
    () => true,
    () => false,
  );

const put = (bucket: string, key: string) =>
  api.env.clients.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from('bytes') }));

/** A finished job of `acme` with its upload and one result object in the buckets. */
const finishedJob = async (overrides: Partial<Job> = {}): Promise<Job> => {
  const id = randomUUID();
  const resultKey = `results/${id}/small.webp`;
  const job = newJob({
    id,
    tenant: 'acme',
    status: 'done',
    file_hash: randomUUID().replaceAll('-', '').padEnd(64, '0'),
    media_kind: 'image',
    attempts: 1,
    outputs: [{ name: 'small', key: resultKey, content_type: 'image/webp' }],
    result: { width: 10 },
    ...overrides,
  });
  await api.store.create(job);
  await put(api.env.uploadsBucket, job.upload_key);
  await put(api.env.resultsBucket, resultKey);
  return job;
};

const contentOf = (job: Job) => ({ tenant: 'acme', fileHash: job.file_hash ?? '', preset: job.preset });

/** A duplicate of `canonical` with its own upload, linked as ingest links one. */
const duplicateOf = async (canonical: Job): Promise<Job> => {
  const duplicate = newJob({
    tenant: 'acme',
    status: 'duplicate',
    duplicate_of: canonical.id,
    file_hash: canonical.file_hash,
  });
  await api.store.create(duplicate);
  await put(api.env.uploadsBucket, duplicate.upload_key);
  await api.store.linkDuplicate(canonical.id, duplicate.id);
  return duplicate;
};

describe('DELETE /api/media/{id}/', () => {
  it.each(['done', 'failed'] as const)(
    'deletes a %s job with its upload, results and idempotency key',
    async (status) => {
      // Prepare
      const job = await finishedJob({ status });
      await api.store.claimDedupKey(contentOf(job), job.id);
      await api.env.drain(api.env.queues.webhook.url);

      // Act
      const response = await remove(job.id);

      // Assess
      expect(response.statusCode).toBe(204);
      expect(response.body).toBeUndefined();
      expect((await view(job.id)).statusCode).toBe(404);
      expect(await api.store.get(job.id)).toBeUndefined();
      expect(await exists(api.env.uploadsBucket, job.upload_key)).toBe(false);
      expect(await exists(api.env.resultsBucket, `results/${job.id}/small.webp`)).toBe(false);
      expect(await api.store.findByContent(contentOf(job))).toBeUndefined();
      // No webhook announces a deletion.
      expect(await api.env.drain(api.env.queues.webhook.url)).toEqual([]);
    },
  );

  it('deletes a job still awaiting its upload, aborting its unfinished multipart upload', async () => {
    // Prepare
    const id = randomUUID();
    const key = `uploads/${id}`;
    const started = await api.env.clients.s3.send(
      new CreateMultipartUploadCommand({ Bucket: api.env.uploadsBucket, Key: key }),
    );
    const job = newJob({
      id,
      tenant: 'acme',
      upload_method: 'multipart',
      upload_id: started.UploadId,
      part_size: 5 * 1024 * 1024,
      part_count: 1,
    });
    await api.store.create(job);

    // Act
    const response = await remove(id);

    // Assess
    expect(response.statusCode).toBe(204);
    expect(await api.store.get(id)).toBeUndefined();
    // s3rver has no ListMultipartUploads: the aborted upload's parts are no longer listed.
    await expect(
      api.env.clients.s3.send(
        new ListPartsCommand({ Bucket: api.env.uploadsBucket, Key: key, UploadId: started.UploadId }),
      ),
    ).rejects.toMatchObject({ name: 'NoSuchUpload' });
  });

  it.each(['queued', 'processing'] as const)(
    'refuses with 409 while the job is %s, and keeps everything',
    async (status) => {
      const job = await finishedJob({ status, outputs: undefined });

      const response = await remove(job.id);

      expect(response.statusCode).toBe(409);
      expect(response.body.error).toEqual({
        code: 'Job::InFlight',
        message: expect.stringMatching(/wait until it is done or failed/),
      });
      expect(await api.store.get(job.id)).toEqual(job);
      expect(await exists(api.env.uploadsBucket, job.upload_key)).toBe(true);
    },
  );

  it('refuses a duplicate whose canonical job is processing', async () => {
    const canonical = await finishedJob({ status: 'processing', outputs: undefined });
    const duplicate = await duplicateOf(canonical);

    const response = await remove(duplicate.id);

    expect(response.statusCode).toBe(409);
    expect(response.body.error.code).toBe('Job::InFlight');
  });

  it('keeps results its duplicates show until the last of them is deleted', async () => {
    // Prepare
    const canonical = await finishedJob();
    await api.store.claimDedupKey(contentOf(canonical), canonical.id);
    const first = await duplicateOf(canonical);
    const second = await duplicateOf(canonical);
    const resultKey = `results/${canonical.id}/small.webp`;

    // Act 1: the canonical job goes; its duplicates still show its results
    expect((await remove(canonical.id)).statusCode).toBe(204);

    // Assess 1
    expect((await view(canonical.id)).statusCode).toBe(404);
    expect((await remove(canonical.id)).statusCode).toBe(404);
    const shown = await view(first.id);
    expect(shown.statusCode).toBe(200);
    expect(shown.body).toMatchObject({ status: 'done', result_urls: { small: expect.any(String) } });
    expect(await exists(api.env.resultsBucket, resultKey)).toBe(true);
    expect(await exists(api.env.uploadsBucket, canonical.upload_key)).toBe(false);
    // The same bytes uploaded again make a new job.
    expect(await api.store.findByContent(contentOf(canonical))).toBeUndefined();

    // Act 2: one duplicate goes, then the last
    expect((await remove(first.id)).statusCode).toBe(204);
    expect(await exists(api.env.resultsBucket, resultKey)).toBe(true);
    expect((await view(second.id)).statusCode).toBe(200);
    expect((await remove(second.id)).statusCode).toBe(204);

    // Assess 2: with the last duplicate, the results and the canonical record go
    expect(await exists(api.env.resultsBucket, resultKey)).toBe(false);
    expect(await api.store.get(canonical.id)).toBeUndefined();
    for (const job of [first, second]) {
      expect(await api.store.get(job.id)).toBeUndefined();
      expect(await exists(api.env.uploadsBucket, job.upload_key)).toBe(false);
    }
  });

  it('deletes a duplicate of a live job without touching the job’s results', async () => {
    const canonical = await finishedJob();
    const duplicate = await duplicateOf(canonical);

    expect((await remove(duplicate.id)).statusCode).toBe(204);

    expect((await api.store.get(canonical.id))?.duplicates).toBeUndefined();
    expect(await exists(api.env.resultsBucket, `results/${canonical.id}/small.webp`)).toBe(true);
    expect((await view(canonical.id)).statusCode).toBe(200);
  });

  it('deletes a job whose duplicates’ uploads were deleted before they were linked (dangling links)', async () => {
    const job = await finishedJob();
    await api.store.linkDuplicate(job.id, randomUUID());
    const linked = (await api.store.get(job.id)) as Job;

    expect((await remove(job.id)).statusCode).toBe(204);

    expect(await api.store.get(linked.id)).toBeUndefined();
    expect(await exists(api.env.resultsBucket, `results/${job.id}/small.webp`)).toBe(false);
  });

  it('answers another tenant’s job 404 and leaves it', async () => {
    const job = await finishedJob();

    const response = await remove(job.id, 'globex');

    expect(response.statusCode).toBe(404);
    expect(await api.store.get(job.id)).toEqual(job);
  });

  it('does not delete a job a retry re-queued since the deletion read it', async () => {
    // Prepare: what the deletion read, then a retry wins the race
    const job = await finishedJob({
      status: 'failed',
      outputs: undefined,
      updated_at: '2026-01-01T00:00:00.000Z',
    });
    await api.store.requeue(job, 3);

    // Act: the store's conditional delete of the job as read
    const removed = await api.store.remove(job);

    // Assess
    expect(removed).toBe(false);
    expect((await api.store.get(job.id))?.status).toBe('queued');
    expect((await remove(job.id)).statusCode).toBe(409);
  });
});
