import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '#shared/job';
import { type ApiHarness, startApi } from '#test/api';
import { formEvent, httpEvent, jsonEvent } from '#test/http-events';
import { newJob } from '#test/jobs';
import { makeJpeg } from '#test/media';
import type { JobView } from '../../functions/api/job-view.ts';
import type { ErrorBody } from '../../functions/api/responses.ts';

let api: ApiHarness;

beforeAll(async () => {
  // A low multipart threshold, so that a JSON create can make a multipart job too.
  api = await startApi({ env: { MULTIPART_THRESHOLD_BYTES: String(5 * 1024 * 1024) } });
});
afterAll(() => api?.env.close());

/** Every route that takes a job id, as `tenant` calls it. */
const ID_ROUTES: readonly {
  name: string;
  request: (id: string, tenant: string) => ReturnType<typeof httpEvent>;
}[] = [
  {
    name: 'GET /api/media/{id}/',
    request: (id, tenant) =>
      httpEvent({
        method: 'GET',
        path: `/api/media/${id}/`,
        routeKey: 'GET /api/media/{id}',
        pathParameters: { id },
        tenant,
      }),
  },
  {
    name: 'DELETE /api/media/{id}/',
    request: (id, tenant) =>
      httpEvent({
        method: 'DELETE',
        path: `/api/media/${id}/`,
        routeKey: 'DELETE /api/media/{id}',
        pathParameters: { id },
        tenant,
      }),
  },
  {
    name: 'POST /api/media/{id}/retry/',
    request: (id, tenant) =>
      httpEvent({
        method: 'POST',
        path: `/api/media/${id}/retry/`,
        routeKey: 'POST /api/media/{id}/retry',
        pathParameters: { id },
        tenant,
      }),
  },
  {
    name: 'POST /api/media/{id}/upload/parts',
    request: (id, tenant) =>
      jsonEvent({
        method: 'POST',
        path: `/api/media/${id}/upload/parts`,
        routeKey: 'POST /api/media/{id}/upload/parts',
        pathParameters: { id },
        json: { part_numbers: [1] },
        tenant,
      }),
  },
  {
    name: 'GET /api/media/{id}/upload/parts',
    request: (id, tenant) =>
      httpEvent({
        method: 'GET',
        path: `/api/media/${id}/upload/parts`,
        routeKey: 'GET /api/media/{id}/upload/parts',
        pathParameters: { id },
        tenant,
      }),
  },
  {
    name: 'POST /api/media/{id}/upload/complete',
    request: (id, tenant) =>
      jsonEvent({
        method: 'POST',
        path: `/api/media/${id}/upload/complete`,
        routeKey: 'POST /api/media/{id}/upload/complete',
        pathParameters: { id },
        json: { parts: [{ part_number: 1, etag: '"abc"' }] },
        tenant,
      }),
  },
  {
    name: 'POST /api/media/{id}/upload/abort',
    request: (id, tenant) =>
      httpEvent({
        method: 'POST',
        path: `/api/media/${id}/upload/abort`,
        routeKey: 'POST /api/media/{id}/upload/abort',
        pathParameters: { id },
        tenant,
      }),
  },
];

/** A job of each kind the id routes act on: a failed one (retry, delete), a multipart one awaiting parts. */
const jobsOf = async (tenant: string): Promise<Job[]> => {
  const failed = newJob({
    tenant,
    status: 'failed',
    media_kind: 'image',
    attempts: 1,
    error: 'x',
    error_code: 'Image::RenderFailed',
  });
  const multipart = newJob({
    tenant,
    upload_method: 'multipart',
    upload_id: 'upload-id',
    part_size: 5 * 1024 * 1024,
    part_count: 2,
    size: 6 * 1024 * 1024,
  });
  await api.store.create(failed);
  await api.store.create(multipart);
  return [failed, multipart];
};

describe('tenant isolation', () => {
  it.each(ID_ROUTES.map((route) => [route.name, route] as const))(
    '%s answers another tenant’s job exactly like an unknown id',
    async (_name, route) => {
      // Prepare
      const jobs = await jobsOf('acme');
      const unknownId = randomUUID();

      // Act
      const unknown = await api.invoke<ErrorBody>(route.request(unknownId, 'globex'));
      const others = await Promise.all(
        jobs.map((job) => api.invoke<ErrorBody>(route.request(job.id, 'globex'))),
      );

      // Assess: the same status, code and message (but for the id it names)
      expect(unknown.statusCode).toBe(404);
      expect(unknown.body.error.code).toBe('Job::NotFound');
      for (const [index, other] of others.entries()) {
        expect(other.statusCode).toBe(404);
        expect(other.body).toEqual({
          error: {
            ...unknown.body.error,
            message: unknown.body.error.message.replace(unknownId, jobs[index]?.id ?? ''),
          },
        });
      }
      // …and the owner's job is untouched
      for (const job of jobs) expect(await api.store.get(job.id)).toEqual(job);
    },
  );

  it('shows the owner its job', async () => {
    const [failed] = await jobsOf('acme');
    const id = failed?.id ?? '';

    const response = await api.invoke<JobView>(
      ID_ROUTES[0]?.request(id, 'acme') ?? httpEvent({ method: 'GET', path: '/' }),
    );

    expect(response.statusCode).toBe(200);
    expect(response.body.id).toBe(id);
  });
});

describe('creating jobs for the caller’s tenant', () => {
  const announce = (tenant: string, size: number) =>
    api.invoke<{ job_id: string }>(
      jsonEvent({
        method: 'POST',
        path: '/api/media/',
        routeKey: 'POST /api/media',
        json: { file_name: 'photo.jpg', content_type: 'image/jpeg', size, preset: 'default' },
        tenant,
      }),
    );

  it.each([
    ['a single PUT', 1024],
    ['a multipart upload', 6 * 1024 * 1024],
  ])('records the tenant on a job announced for %s', async (_kind, size) => {
    const response = await announce('acme', size);

    expect(response.statusCode).toBe(201);
    expect((await api.store.get(response.body.job_id))?.tenant).toBe('acme');
  });

  it('records the tenant on a direct upload, and dedupes it only within the tenant', async () => {
    // Prepare
    const jpeg = await makeJpeg(40, 30, 31);
    const directUpload = (tenant: string) => {
      return api.invoke<JobView>(
        formEvent({
          method: 'POST',
          path: '/api/media/',
          routeKey: 'POST /api/media',
          parts: [
            { name: 'file', value: jpeg, fileName: 'photo.jpg', contentType: 'image/jpeg' },
            { name: 'preset', value: 'default' },
          ],
          tenant,
        }),
      );
    };

    // Act
    const acme = await directUpload('acme');
    const globex = await directUpload('globex');
    const acmeAgain = await directUpload('acme');

    // Assess: globex gets its own job, acme its existing one
    expect([acme.statusCode, globex.statusCode, acmeAgain.statusCode]).toEqual([201, 201, 200]);
    expect(globex.body.id).not.toBe(acme.body.id);
    expect(acmeAgain.body.id).toBe(acme.body.id);
    expect((await api.store.get(acme.body.id))?.tenant).toBe('acme');
    expect((await api.store.get(globex.body.id))?.tenant).toBe('globex');
    expect(await api.env.drain(api.env.queues.image.url)).toHaveLength(2);
  });
});
