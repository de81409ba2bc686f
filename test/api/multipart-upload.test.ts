import { randomBytes, randomUUID } from 'node:crypto';
import { GetObjectCommand, ListPartsCommand, PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApi } from '#test/api';
import { httpEvent, jsonEvent } from '#test/http-events';
import { newJob } from '#test/jobs';
import type { CreatedUpload } from '../../functions/api/create-upload.ts';
import type { JobView } from '../../functions/api/job-view.ts';
import type { PresetListing } from '../../functions/api/list-presets.ts';
import {
  MIN_PLANNED_PART_BYTES,
  MULTIPART_UPLOAD_LIFETIME_SECONDS,
  partSizeOf,
  planParts,
} from '../../functions/api/multipart-plan.ts';
import type {
  CreatedMultipartUpload,
  SignedParts,
  UploadedParts,
} from '../../functions/api/multipart-upload.ts';
import type { ErrorBody } from '../../functions/api/responses.ts';

const MiB = 1024 * 1024;
const THRESHOLD = 6 * MiB;

let api: ApiHarness;

beforeAll(async () => {
  api = await startApi({ env: { MULTIPART_THRESHOLD_BYTES: String(THRESHOLD) } });
});
afterAll(() => api?.env.close());

const createMedia = <T = CreatedMultipartUpload>(fields: Record<string, unknown>) =>
  api.invoke<T>(
    jsonEvent({
      method: 'POST',
      path: '/api/media/',
      routeKey: 'POST /api/media',
      json: { file_name: 'film.mp4', content_type: 'video/mp4', preset: 'default', ...fields },
    }),
  );

type Action = 'parts' | 'complete' | 'abort';
/** A multipart route as API Gateway calls it (with a trailing slash, to check the router normalises it). */

/** A multipart route as API Gateway calls it (with a trailing slash, to check the router normalises it). */
const route = <T>(method: 'GET' | 'POST', id: string, action: Action, json?: unknown) => {
  const options = {
    method,
    path: `/api/media/${id}/upload/${action}/`,
    routeKey: `${method} /api/media/{id}/upload/${action}`,
    pathParameters: { id },
  };
  return api.invoke<T>(json === undefined ? httpEvent(options) : jsonEvent({ ...options, json }));
};

const signParts = (id: string, partNumbers: unknown) =>
  route<SignedParts>('POST', id, 'parts', { part_numbers: partNumbers });
const listParts = (id: string) => route<UploadedParts>('GET', id, 'parts');
const complete = <T = JobView>(id: string, parts: unknown) => route<T>('POST', id, 'complete', { parts });
const abort = <T = Record<string, unknown>>(id: string) => route<T>('POST', id, 'abort');

/** PUTs bytes to a signed part URL as a client would, returning S3's ETag. */
const putPart = async (url: string, bytes: Uint8Array): Promise<string> => {
  const response = await fetch(url, { method: 'PUT', body: new Uint8Array(bytes) });
  expect(response.status).toBe(200);
  const etag = response.headers.get('etag');
  expect(etag).toBeTruthy();
  return etag ?? '';
};

const startUpload = async (size: number, fields: Record<string, unknown> = {}) => {
  const created = await createMedia({ size, ...fields });
  expect(created.statusCode).toBe(201);
  return created.body;
};

describe('planParts', () => {
  it.each([
    [THRESHOLD + 1, MIN_PLANNED_PART_BYTES, 1],
    [100 * MiB, MIN_PLANNED_PART_BYTES, 13],
    [5 * 1024 * MiB, MIN_PLANNED_PART_BYTES, 640],
    [80_000 * MiB, 8 * MiB, 10_000],
    [200_000 * MiB, 20 * MiB, 10_000],
  ])('plans a %d-byte file as %d-byte parts, %d of them', (size, partSize, partCount) => {
    // Act
    const plan = planParts(size);
    // Assess
    expect(plan).toEqual({ part_size: partSize, part_count: partCount });
    expect(plan.part_count).toBeLessThanOrEqual(10_000);
    expect(partSizeOf({ size, ...plan }, plan.part_count)).toBeGreaterThan(0);
    expect(partSizeOf({ size, ...plan }, plan.part_count)).toBeLessThanOrEqual(plan.part_size);
  });
});

describe('POST /api/media/ over the multipart threshold', () => {
  it('starts a multipart upload and answers with its plan instead of a single PUT', async () => {
    // Act
    const size = 20 * MiB + 5;
    const response = await createMedia({ size });

    // Assess
    expect(response.statusCode).toBe(201);
    const { job_id: jobId, upload } = response.body;
    expect(response.body.status).toBe('awaiting_upload');
    expect(upload).toEqual({
      method: 'multipart',
      upload_id: expect.any(String),
      part_size: 8 * MiB,
      part_count: 3,
      expires_at: expect.any(String),
      parts_url: `/api/media/${jobId}/upload/parts`,
      complete_url: `/api/media/${jobId}/upload/complete`,
      abort_url: `/api/media/${jobId}/upload/abort`,
    });
    const lifetime = Date.parse(upload.expires_at) - Date.now();
    expect(lifetime).toBeGreaterThan((MULTIPART_UPLOAD_LIFETIME_SECONDS - 60) * 1000);
    expect(lifetime).toBeLessThanOrEqual(MULTIPART_UPLOAD_LIFETIME_SECONDS * 1000);
    expect(await api.store.get(jobId)).toMatchObject({
      status: 'awaiting_upload',
      size,
      upload_method: 'multipart',
      upload_id: upload.upload_id,
      part_size: 8 * MiB,
      part_count: 3,
      upload_key: `uploads/${jobId}`,
    });
    const inS3 = await api.env.clients.s3.send(
      new ListPartsCommand({
        Bucket: api.env.uploadsBucket,
        Key: `uploads/${jobId}`,
        UploadId: upload.upload_id,
      }),
    );
    expect(inS3.Parts ?? []).toEqual([]);
  });

  it('keeps the single PUT up to the threshold', async () => {
    const response = await createMedia<CreatedUpload>({ size: THRESHOLD });

    expect(response.statusCode).toBe(201);
    expect(response.body.upload.method).toBe('PUT');
  });

  it('still refuses a file over its kind’s limit, naming the field', async () => {
    const response = await createMedia<ErrorBody>({
      file_name: 'huge.jpg',
      content_type: 'image/jpeg',
      size: 50 * MiB + 1,
    });

    expect(response.statusCode).toBe(413);
    expect(response.body.error).toMatchObject({ code: 'Request::FileTooLarge', field: 'size' });
  });

  it('reports the threshold and the part limits in GET /api/presets/', async () => {
    const response = await api.invoke<PresetListing>(
      httpEvent({ method: 'GET', path: '/api/presets/', routeKey: 'GET /api/presets' }),
    );

    expect(response.body.limits).toMatchObject({
      multipart_threshold_bytes: THRESHOLD,
      multipart_max_parts: 10_000,
      part_urls_per_request: 100,
    });
  });
});

describe('a multipart upload through the signed part URLs', () => {
  it('sends parts, lists them to resume, completes, and stores exactly the file', async () => {
    // Prepare: a two-part file (8 MiB + 1 MiB + 3 bytes)
    const bytes = randomBytes(9 * MiB + 3);
    const { job_id: jobId, upload } = await startUpload(bytes.length);

    // Act: sign both parts, send the first
    const signed = await signParts(jobId, [1, 2]);
    expect(signed.statusCode).toBe(200);
    const [first, second] = signed.body.parts;
    const firstEtag = await putPart(first?.url ?? '', bytes.subarray(0, 8 * MiB));
    const afterFirst = await listParts(jobId);

    // Assess: the parts S3 has are listed, so a resumed client sends only the second
    expect(afterFirst.statusCode).toBe(200);
    expect(afterFirst.body).toEqual({
      job_id: jobId,
      upload_id: upload.upload_id,
      part_size: 8 * MiB,
      part_count: 2,
      parts: [{ part_number: 1, etag: firstEtag, size: 8 * MiB }],
    });

    // Act: send the second part and complete
    const secondEtag = await putPart(second?.url ?? '', bytes.subarray(8 * MiB));
    expect((await listParts(jobId)).body.parts.map((part) => part.part_number)).toEqual([1, 2]);
    const event = api.env.s3.nextEvent((e) => e.Records[0]?.s3.object.key === `uploads/${jobId}`);
    const completed = await complete(jobId, [
      { part_number: 2, etag: secondEtag },
      { part_number: 1, etag: firstEtag },
    ]);

    // Assess
    expect(completed.statusCode).toBe(200);
    expect(completed.body).toMatchObject({ id: jobId, status: 'awaiting_upload', size: bytes.length });
    expect((await event).Records[0]?.eventName).toMatch(/^ObjectCreated:/);
    const stored = await api.env.clients.s3.send(
      new GetObjectCommand({ Bucket: api.env.uploadsBucket, Key: `uploads/${jobId}` }),
    );
    expect(stored.ContentType).toBe('video/mp4');
    const storedBytes = Buffer.from((await stored.Body?.transformToByteArray()) ?? new Uint8Array());
    expect(storedBytes.equals(bytes)).toBe(true);

    // Act + Assess: a completion sent again (its first answer lost) finds the object and answers the same
    const again = await complete(jobId, [
      { part_number: 1, etag: firstEtag },
      { part_number: 2, etag: secondEtag },
    ]);
    expect(again.statusCode).toBe(200);
  });

  it('completes only into an empty key: an object already stored there is kept, and the completion refused', async () => {
    // Prepare: the parts are sent, but the key already holds other bytes
    const { job_id: jobId } = await startUpload(9 * MiB);
    const signed = await signParts(jobId, [1, 2]);
    const [one, two] = signed.body.parts;
    const etags = [
      await putPart(one?.url ?? '', randomBytes(8 * MiB)),
      await putPart(two?.url ?? '', randomBytes(MiB)),
    ];
    const key = `uploads/${jobId}`;
    await api.env.clients.s3.send(
      new PutObjectCommand({ Bucket: api.env.uploadsBucket, Key: key, Body: 'already here' }),
    );

    // Act
    const response = await complete<ErrorBody>(
      jobId,
      etags.map((etag, index) => ({ part_number: index + 1, etag })),
    );

    // Assess: S3 refused to complete over it (If-None-Match: *), and nothing replaced it
    expect(response.statusCode).toBe(409);
    expect(response.body.error).toMatchObject({ code: 'Upload::AlreadyStored' });
    const stored = await api.env.clients.s3.send(
      new GetObjectCommand({ Bucket: api.env.uploadsBucket, Key: key }),
    );
    expect(await stored.Body?.transformToString()).toBe('already here');
  });

  it('signs each part URL for its exact size, briefly, and with no SDK checksum', async () => {
    const { job_id: jobId } = await startUpload(17 * MiB);

    const response = await signParts(jobId, [3, 1]);

    expect(response.statusCode).toBe(200);
    const { parts, expires_at: expiresAt } = response.body;
    expect(parts.map((part) => [part.part_number, part.size])).toEqual([
      [3, MiB],
      [1, 8 * MiB],
    ]);
    for (const part of parts) {
      const url = new URL(part.url);
      expect(url.pathname).toBe(`/${api.env.uploadsBucket}/uploads/${jobId}`);
      expect(url.searchParams.get('partNumber')).toBe(String(part.part_number));
      expect(url.searchParams.get('X-Amz-Expires')).toBe('900');
      expect(url.searchParams.get('X-Amz-SignedHeaders')?.split(';')).toContain('content-length');
      expect([...url.searchParams.keys()].filter((key) => key.toLowerCase().includes('checksum'))).toEqual(
        [],
      );
      expect(part.headers).toEqual({ 'Content-Length': String(part.size) });
    }
    const expiresIn = Date.parse(expiresAt) - Date.now();
    expect(expiresIn).toBeGreaterThan(890_000);
    expect(expiresIn).toBeLessThanOrEqual(900_000);
  });
});

describe('multipart limits and refusals', () => {
  it.each([
    ['part 0', [0], 'Upload::InvalidPartNumber', /from 1 to 10000/],
    [
      'a part past the plan',
      [1, 4],
      'Upload::InvalidPartNumber',
      /part 4 is outside this upload: it has 3 parts/,
    ],
    ['a repeated part', [2, 2], 'Upload::InvalidPartNumber', /must not repeat/],
    ['no part', [], 'Upload::InvalidPartNumber', /at least one part/],
    [
      'more than 100 parts',
      Array.from({ length: 101 }, (_, i) => i + 1),
      'Upload::TooManyPartUrls',
      /at most 100/,
    ],
    ['a fraction', [1.5], 'Request::InvalidField', /whole numbers/],
    ['not a list', '1,2', 'Request::InvalidField', /must be a list of part numbers/],
    ['nothing', undefined, 'Request::MissingField', /part_numbers is required/],
  ])('refuses part URLs for %s with a 400 naming part_numbers', async (_case, numbers, code, message) => {
    const { job_id: jobId } = await startUpload(17 * MiB);

    const response = await route<ErrorBody>(
      'POST',
      jobId,
      'parts',
      numbers === undefined ? {} : { part_numbers: numbers },
    );

    expect(response.statusCode).toBe(400);
    expect(response.body.error).toEqual({
      code,
      message: expect.stringMatching(message),
      field: 'part_numbers',
    });
  });

  it('refuses a completion that leaves parts out, listing them', async () => {
    const { job_id: jobId } = await startUpload(30 * MiB);

    const response = await complete<ErrorBody>(jobId, [{ part_number: 2, etag: '"abc"' }]);

    expect(response.statusCode).toBe(400);
    expect(response.body.error).toEqual({
      code: 'Upload::MissingParts',
      message: expect.stringContaining('4 parts and 3 are not listed (1, 3, 4)'),
      field: 'parts',
    });
  });

  it('refuses a completion that lists a part twice or past the plan', async () => {
    const { job_id: jobId } = await startUpload(10 * MiB);

    const twice = await complete<ErrorBody>(jobId, [
      { part_number: 1, etag: '"a"' },
      { part_number: 1, etag: '"a"' },
    ]);
    const past = await complete<ErrorBody>(jobId, [{ part_number: 3, etag: '"a"' }]);
    const malformed = await complete<ErrorBody>(jobId, [{ part_number: 1 }]);

    expect(twice.body.error).toMatchObject({
      code: 'Upload::InvalidPartNumber',
      message: 'part 1 is listed twice',
    });
    expect(past.body.error).toMatchObject({ code: 'Upload::InvalidPartNumber', field: 'parts' });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.body.error).toMatchObject({ field: 'parts', message: expect.stringContaining('etag') });
  });

  it('turns S3’s InvalidPart (a wrong ETag or a part never sent) into a 400 that says what to do', async () => {
    // Prepare: part 1 sent, part 2 not
    const { job_id: jobId } = await startUpload(9 * MiB);
    const signed = await signParts(jobId, [1]);
    const etag = await putPart(signed.body.parts[0]?.url ?? '', randomBytes(8 * MiB));

    // Act
    const response = await complete<ErrorBody>(jobId, [
      { part_number: 1, etag },
      { part_number: 2, etag: '"00000000000000000000000000000000"' },
    ]);

    // Assess
    expect(response.statusCode).toBe(400);
    expect(response.body.error).toEqual({
      code: 'Upload::InvalidPart',
      message: expect.stringContaining(`GET /api/media/${jobId}/upload/parts`),
      field: 'parts',
    });
    expect((await api.store.get(jobId))?.status).toBe('awaiting_upload');
  });

  it('turns S3’s EntityTooSmall (a short part before the last) into a 400', async () => {
    // Prepare: a part URL is signed for its exact size, so S3 (and the emulator) refuse a 1 KiB first
    // part through it; a client holding its own credentials can still send one, refused at completion.
    const { job_id: jobId } = await startUpload(9 * MiB);
    const signed = await signParts(jobId, [1]);
    const shortThroughUrl = await fetch(signed.body.parts[0]?.url ?? '', {
      method: 'PUT',
      body: new Uint8Array(randomBytes(1024)),
    });
    const job = await api.store.get(jobId);
    const sendPart = async (PartNumber: number, Body: Uint8Array) =>
      (
        await api.env.clients.s3.send(
          new UploadPartCommand({
            Bucket: api.env.uploadsBucket,
            Key: job?.upload_key,
            UploadId: job?.upload_id,
            PartNumber,
            Body,
          }),
        )
      ).ETag ?? '';
    const etags = [await sendPart(1, randomBytes(1024)), await sendPart(2, randomBytes(MiB))];

    // Act
    const response = await complete<ErrorBody>(
      jobId,
      etags.map((etag, index) => ({ part_number: index + 1, etag })),
    );

    // Assess
    expect(shortThroughUrl.status).toBe(403);
    expect(response.statusCode).toBe(400);
    expect(response.body.error).toMatchObject({ code: 'Upload::PartTooSmall', field: 'parts' });
  });

  it.each([
    ['POST', 'parts', { part_numbers: [1] }],
    ['GET', 'parts', undefined],
    ['POST', 'complete', { parts: [{ part_number: 1, etag: '"a"' }] }],
    ['POST', 'abort', undefined],
  ] as const)('answers %s …/upload/%s for a single-PUT job with 409', async (method, action, json) => {
    const created = await createMedia<CreatedUpload>({ size: 1024 });

    const response = await route<ErrorBody>(method, created.body.job_id, action, json);

    expect(response.statusCode).toBe(409);
    expect(response.body.error).toMatchObject({
      code: 'Upload::NotMultipart',
      message: expect.stringContaining('single PUT'),
    });
  });

  it('answers 404 for an unknown job and 400 for a malformed id', async () => {
    const unknown = await listParts(randomUUID());
    const malformed = await listParts('not-a-job');

    expect(unknown.statusCode).toBe(404);
    expect(malformed.statusCode).toBe(400);
    expect((malformed.body as unknown as ErrorBody).error.code).toBe('Request::InvalidJobId');
  });

  it('answers 409 once the job is no longer awaiting its upload', async () => {
    const job = newJob({
      status: 'queued',
      upload_method: 'multipart',
      upload_id: 'abc',
      part_size: 8 * MiB,
      part_count: 2,
      size: 9 * MiB,
    });
    await api.store.create(job);

    const response = await signParts(job.id, [1]);

    expect(response.statusCode).toBe(409);
    expect((response.body as unknown as ErrorBody).error).toMatchObject({
      code: 'Upload::NotAwaitingUpload',
      message: expect.stringContaining('the job is queued'),
    });
  });
});

describe('POST /api/media/{id}/upload/abort', () => {
  it('fails the job with a readable error, drops the parts and tells the callback', async () => {
    // Prepare: an upload with one part sent
    const { job_id: jobId, upload } = await startUpload(9 * MiB, {
      callback_url: 'https://example.com/hooks/media',
    });
    const signed = await signParts(jobId, [1]);
    await putPart(signed.body.parts[0]?.url ?? '', randomBytes(8 * MiB));

    // Act
    const response = await abort(jobId);

    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.body).toEqual({
      job_id: jobId,
      status: 'failed',
      error_code: 'Upload::Aborted',
      error: expect.stringMatching(/cancelled/),
    });
    expect(await api.store.get(jobId)).toMatchObject({ status: 'failed', error_code: 'Upload::Aborted' });
    await expect(
      api.env.clients.s3.send(
        new ListPartsCommand({
          Bucket: api.env.uploadsBucket,
          Key: `uploads/${jobId}`,
          UploadId: upload.upload_id,
        }),
      ),
    ).rejects.toMatchObject({ name: 'NoSuchUpload' });
    expect(await api.env.drain(api.env.queues.webhook.url)).toEqual([
      expect.objectContaining({ kind: 'webhook', job_id: jobId, status: 'failed' }),
    ]);
  });

  it('refuses part URLs, a completion, a second abort and a retry afterwards', async () => {
    const { job_id: jobId } = await startUpload(9 * MiB);
    await abort(jobId);

    const parts = await signParts(jobId, [1]);
    const completion = await complete<ErrorBody>(jobId, [{ part_number: 1, etag: '"a"' }]);
    const again = await abort<ErrorBody>(jobId);
    const retry = await api.invoke<ErrorBody>(
      httpEvent({
        method: 'POST',
        path: `/api/media/${jobId}/retry/`,
        routeKey: 'POST /api/media/{id}/retry',
        pathParameters: { id: jobId },
      }),
    );

    for (const refused of [parts, completion, again]) {
      expect(refused.statusCode).toBe(409);
      expect((refused.body as unknown as ErrorBody).error).toMatchObject({
        code: 'Upload::NotAwaitingUpload',
        message: expect.stringContaining('its upload was aborted'),
      });
    }
    expect(retry.statusCode).toBe(409);
    expect(retry.body.error.code).toBe('Retry::UploadRefused');
  });

  it('answers 409 when S3 no longer has the upload (the lifecycle rule aborted it)', async () => {
    // Prepare
    const { job_id: jobId } = await startUpload(9 * MiB);
    const job = await api.store.get(jobId);
    const { AbortMultipartUploadCommand } = await import('@aws-sdk/client-s3');
    await api.env.clients.s3.send(
      new AbortMultipartUploadCommand({
        Bucket: api.env.uploadsBucket,
        Key: `uploads/${jobId}`,
        UploadId: job?.upload_id,
      }),
    );

    // Act
    const listed = await listParts(jobId);
    const aborted = await abort(jobId);

    // Assess
    expect(listed.statusCode).toBe(409);
    expect((listed.body as unknown as ErrorBody).error.code).toBe('Upload::MultipartGone');
    expect(aborted.statusCode).toBe(200);
  });
});
