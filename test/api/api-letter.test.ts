import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApi } from '#test/api';
import { formEvent, httpEvent, jsonEvent, type MultipartPart } from '#test/http-events';
import { makeJpeg } from '#test/media';
import type { CreatedJob } from '../../functions/api/created-job.ts';
import { DEFAULT_DIRECT_UPLOAD_MAX_BYTES } from '../../functions/api/direct-upload.ts';
import type { CreatedMultipartUpload, SignedParts } from '../../functions/api/multipart-upload.ts';
import type { ErrorBody } from '../../functions/api/responses.ts';

/**
 * The original project's API to the letter (issue 14): every creation answer carries `job_id`, and
 * every request the function sees that no route serves is refused in the `{"error": {code, message}}`
 * shape: 404 for an unknown path, 405 with `Allow` for a known path with another method, as the
 * catch-all routes (lib/upload-api.ts API_CATCH_ALL_ROUTES) hand them over.
 */
const MiB = 1024 * 1024;
const THRESHOLD = 6 * MiB;

let api: ApiHarness;
let jpeg: Buffer;

beforeAll(async () => {
  // DIRECT_UPLOAD_MAX_BYTES is left at its default (4 MiB), the size a deployed stack refuses past.
  api = await startApi({ env: { MULTIPART_THRESHOLD_BYTES: String(THRESHOLD) } });
  jpeg = await makeJpeg(64, 48, 11);
});
afterAll(() => api?.env.close());

const postForm = (parts: MultipartPart[]) =>
  api.invoke<CreatedJob & ErrorBody>(
    formEvent({ method: 'POST', path: '/api/media/', routeKey: 'POST /api/media', parts }),
  );

/** A request as API Gateway hands it over from a catch-all route (`<METHOD> /api/{proxy+}`). */
const viaCatchAll = (method: string, path: string) =>
  api.invoke<ErrorBody>(
    httpEvent({
      method,
      path,
      routeKey: path === '/api' || path === '/api/' ? `${method} /api` : `${method} /api/{proxy+}`,
      pathParameters: path.length > 5 ? { proxy: path.slice('/api/'.length) } : undefined,
    }),
  );

describe('job_id in creation answers', () => {
  it('answers the form POST /api/media/ with job_id beside the job view, 201 and 200 alike', async () => {
    // Prepare
    const parts = [
      { name: 'file', value: jpeg, fileName: 'phone.jpg', contentType: 'image/jpeg' },
      { name: 'preset', value: 'default' },
    ];

    // Act
    const created = await postForm(parts);
    const again = await postForm(parts);

    // Assess
    expect(created.statusCode).toBe(201);
    expect(created.body).toMatchObject({
      job_id: created.body.id,
      id: expect.any(String),
      status: 'queued',
      file_name: 'phone.jpg',
      preset: 'default',
    });
    // job_id first, as the original's `{"job_id": "…", "status": "queued"}`.
    expect(Object.keys(created.body)[0]).toBe('job_id');
    expect(again.statusCode).toBe(200);
    expect(again.body.job_id).toBe(created.body.job_id);
    expect(again.body.id).toBe(created.body.id);
  });

  it('answers the completion of a multipart upload with job_id beside the job view', async () => {
    // Prepare
    const size = THRESHOLD + 1;
    const started = await api.invoke<CreatedMultipartUpload>(
      jsonEvent({
        method: 'POST',
        path: '/api/media/',
        routeKey: 'POST /api/media',
        json: { file_name: 'film.mp4', content_type: 'video/mp4', preset: 'default', size },
      }),
    );
    const jobId = started.body.job_id;
    const signed = await api.invoke<SignedParts>(
      jsonEvent({
        method: 'POST',
        path: `/api/media/${jobId}/upload/parts`,
        routeKey: 'POST /api/media/{id}/upload/parts',
        pathParameters: { id: jobId },
        json: { part_numbers: [1] },
      }),
    );
    const put = await fetch(signed.body.parts[0]?.url ?? '', {
      method: 'PUT',
      body: new Uint8Array(randomBytes(size)),
    });

    // Act
    const completed = await api.invoke<CreatedJob>(
      jsonEvent({
        method: 'POST',
        path: `/api/media/${jobId}/upload/complete/`,
        routeKey: 'POST /api/media/{id}/upload/complete',
        pathParameters: { id: jobId },
        json: { parts: [{ part_number: 1, etag: put.headers.get('etag') }] },
      }),
    );

    // Assess
    expect(started.statusCode).toBe(201);
    expect(put.status).toBe(200);
    expect(completed.statusCode).toBe(200);
    expect(completed.body).toMatchObject({ job_id: jobId, id: jobId, size });
  });
});

describe('unknown routes and methods in the error shape', () => {
  it.each([
    ['GET', '/api/nothing'],
    ['POST', '/api/media/x/publish'],
    ['GET', '/api'],
    ['DELETE', '/api/'],
  ])('answers %s %s 404 Request::UnknownRoute', async (method, path) => {
    // Act
    const response = await viaCatchAll(method, path);

    // Assess
    expect(response.statusCode).toBe(404);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.headers.allow).toBeUndefined();
    expect(response.body).toEqual({
      error: {
        code: 'Request::UnknownRoute',
        message: expect.stringMatching(
          new RegExp(`^there is no ${method} ${path}; this API serves .*POST /api/media/`),
        ),
      },
    });
  });

  it.each([
    ['PUT', '/api/media/0b8a3c52-3f0e-4a8e-9d59-3c1f7c0e2b11', 'DELETE, GET', '/api/media/{id}/'],
    ['PATCH', '/api/media/0b8a3c52-3f0e-4a8e-9d59-3c1f7c0e2b11/', 'DELETE, GET', '/api/media/{id}/'],
    ['DELETE', '/api/media/', 'GET, POST', '/api/media/'],
    ['GET', '/api/media/x/retry', 'POST', '/api/media/{id}/retry/'],
    ['PUT', '/api/media/x/upload/parts/', 'GET, POST', '/api/media/{id}/upload/parts/'],
    ['HEAD', '/api/presets', 'GET', '/api/presets/'],
    ['POST', '/api/presets/', 'GET', '/api/presets/'],
  ])('answers %s %s 405 Request::MethodNotAllowed with Allow: %s', async (method, path, allow, template) => {
    // Act
    const response = await viaCatchAll(method, path);

    // Assess
    expect(response.statusCode).toBe(405);
    expect(response.headers.allow).toBe(allow);
    expect(response.body).toEqual({
      error: {
        code: 'Request::MethodNotAllowed',
        message: `${method} is not allowed on ${template}; it takes ${allow}`,
      },
    });
  });

  it('still serves a declared route handed over by a catch-all route', async () => {
    // Act
    const response = await viaCatchAll('GET', '/api/presets/');

    // Assess
    expect(response.statusCode).toBe(200);
  });
});

describe('a form upload over the direct-upload limit, within what reaches the function', () => {
  it('answers 413 in the error shape, pointing to the presigned flow', async () => {
    // Prepare: 4 MiB + 128 KiB of file is about 5.8 MB of base64, under Lambda's 6 MB event limit, so on AWS
    // the function (not API Gateway) sees it.
    const file = Buffer.alloc(DEFAULT_DIRECT_UPLOAD_MAX_BYTES + 128 * 1024, 1);

    // Act
    const response = await postForm([
      { name: 'file', value: file, fileName: 'big.jpg', contentType: 'image/jpeg' },
    ]);

    // Assess
    expect(response.statusCode).toBe(413);
    expect(response.body.error).toEqual({
      code: 'Request::DirectUploadTooLarge',
      message: expect.stringMatching(
        /announce the file with a JSON POST \/api\/media\/.*PUT it to the returned upload URL/,
      ),
      field: 'file',
    });
  });
});
