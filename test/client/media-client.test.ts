import { createHash } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import {
  type AbortedUpload,
  backoffDelay,
  bearerChallengeReason,
  type CreatedJob,
  createMediaClient,
  guessContentType,
  type JobList,
  type JobView,
  MediaApiError,
  MediaTimeoutError,
  MediaUploadError,
  type PresetsResponse,
  partRange,
  type RetriedJob,
  retryAfterSeconds,
  type SignedParts,
  type UploadedParts,
} from '../../client/media-client.ts';
import type { CreatedJob as ServerCreatedJob } from '../../functions/api/created-job.ts';
import type { JobView as ServerJobView } from '../../functions/api/job-view.ts';
import type { JobListing } from '../../functions/api/list-jobs.ts';
import type { PresetListing } from '../../functions/api/list-presets.ts';
import type {
  SignedParts as ServerSignedParts,
  UploadedParts as ServerUploadedParts,
} from '../../functions/api/multipart-upload.ts';
import type { RetriedJob as ServerRetriedJob } from '../../functions/api/retry-job.ts';

// The client writes the API's shapes out rather than importing the server's: these fail to compile
// when the two drift apart.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const agree = <T extends true>(): T => true as T;
agree<Same<JobView, ServerJobView>>();
agree<Same<CreatedJob, ServerCreatedJob>>();
agree<Same<PresetsResponse, PresetListing>>();
agree<Same<SignedParts, ServerSignedParts>>();
agree<Same<UploadedParts, ServerUploadedParts>>();
agree<Same<RetriedJob, ServerRetriedJob>>();
agree<Same<JobList, JobListing>>();

const API = 'http://api.test';
const MiB = 1024 * 1024;

interface PutFailure {
  attempts: number[];
  status: number;
  code?: string;
}

interface FakeOptions {
  threshold?: number;
  partSize?: number;
  /**
   * Fails the given attempt numbers of a part's PUT (1-based; part 0 is the single PUT) with this
   * status and S3 error code, or a network error (status 0).
   */
  partFailures?: Record<number, PutFailure | PutFailure[]>;
  /** Parts already in S3 for a job created beforehand. */
  existingParts?: number[];
  jobStatuses?: string[];
}

/**
 * The API and S3 as far as the client sees them, in memory: creates an upload (single PUT or multipart
 * by size), signs part URLs, lists parts, completes and aborts, and records every request.
 */
const fakeBackend = (options: FakeOptions = {}) => {
  const threshold = options.threshold ?? 10 * MiB;
  const partSize = options.partSize ?? 5 * MiB;
  const requests: Array<{ method: string; url: string; body?: unknown }> = [];
  const stored = new Map<number, { etag: string; size: number }>();
  for (const number of options.existingParts ?? [])
    stored.set(number, { etag: `"etag-${number}"`, size: partSize });
  const attempts = new Map<number, number>();
  let inFlight = 0;
  let maxInFlight = 0;
  let size = 0;
  let created: Record<string, unknown> | undefined;
  let completed: unknown;
  let aborted = false;
  const statuses = [...(options.jobStatuses ?? [])];
  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

  const fetchImpl = vi.fn(
    async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
      const url = new URL(String(input));
      const method = init.method ?? 'GET';
      const body = typeof init.body === 'string' ? JSON.parse(init.body) : init.body;
      requests.push({ method, url: url.href, body });
      const path = url.pathname;
      if (url.host === 's3.test') {
        const number = Number(url.searchParams.get('partNumber') ?? 0);
        const attempt = (attempts.get(number) ?? 0) + 1;
        attempts.set(number, attempt);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        try {
          await new Promise((resolve, reject) => {
            const timer = setTimeout(resolve, 5);
            init.signal?.addEventListener('abort', () => {
              clearTimeout(timer);
              reject(init.signal?.reason);
            });
          });
          const failure = [options.partFailures?.[number] ?? []]
            .flat()
            .find((candidate) => candidate.attempts.includes(attempt));
          if (failure) {
            if (failure.status === 0) throw new TypeError('fetch failed');
            return new Response(`<Error><Code>${failure.code ?? `Oops${failure.status}`}</Code></Error>`, {
              status: failure.status,
            });
          }
          const bytes = new Uint8Array(await (init.body as Blob).arrayBuffer());
          const etag = `"${createHash('md5').update(bytes).digest('hex')}"`;
          if (number > 0) stored.set(number, { etag, size: bytes.length });
          return new Response('', { status: 200, headers: { etag } });
        } finally {
          inFlight--;
        }
      }
      if (method === 'POST' && path === '/api/media/') {
        created = body as Record<string, unknown>;
        size = Number(created.size);
        if (size > threshold) {
          const count = Math.ceil(size / partSize);
          return json(201, {
            job_id: 'job-1',
            status: 'awaiting_upload',
            upload: { method: 'multipart', upload_id: 'u1', part_size: partSize, part_count: count } as const,
          });
        }
        return json(201, {
          job_id: 'job-1',
          status: 'awaiting_upload',
          upload: {
            method: 'PUT',
            url: 'http://s3.test/single',
            headers: {
              'Content-Type': String(created.content_type),
              'Content-Length': String(size),
              'If-None-Match': '*',
            },
            expires_at: new Date(Date.now() + 900_000).toISOString(),
          },
        });
      }
      if (path === '/api/media/job-1' && method === 'GET')
        return json(200, { id: 'job-1', size: options.existingParts ? 12 * MiB : size });
      if (path === '/api/media/job-1/upload/parts' && method === 'POST') {
        const numbers = (body as { part_numbers: number[] }).part_numbers;
        const count = Math.ceil(size / partSize);
        return json(200, {
          job_id: 'job-1',
          upload_id: 'u1',
          expires_at: new Date(Date.now() + 900_000).toISOString(),
          parts: numbers.map((n) => ({
            part_number: n,
            url: `http://s3.test/part?partNumber=${n}`,
            size: n < count ? partSize : size - partSize * (count - 1),
            headers: { 'Content-Length': '1' },
          })),
        });
      }
      if (path === '/api/media/job-1/upload/parts' && method === 'GET') {
        if (options.existingParts) size = 12 * MiB;
        return json(200, {
          job_id: 'job-1',
          upload_id: 'u1',
          part_size: partSize,
          part_count: Math.ceil(size / partSize),
          parts: [...stored].map(([part_number, part]) => ({ part_number, ...part })),
        });
      }
      if (path === '/api/media/job-1/upload/complete') {
        completed = body;
        return json(200, { id: 'job-1', status: 'awaiting_upload' });
      }
      if (path === '/api/media/job-1/upload/abort') {
        aborted = true;
        return json(200, {
          job_id: 'job-1',
          status: 'failed',
          error: 'cancelled',
          error_code: 'Upload::Aborted',
        });
      }
      if (path === '/api/media/job-1/' && method === 'GET') {
        const status = statuses.length > 1 ? statuses.shift() : statuses[0];
        if (status === '503') return json(503, { error: { code: 'Busy', message: 'try later' } });
        return json(200, { id: 'job-1', status, updated_at: `${status}-time` });
      }
      return json(404, { message: 'Not Found' });
    },
  );

  return {
    fetch: fetchImpl as unknown as typeof fetch,
    requests,
    s3Puts: () => requests.filter((request) => request.url.startsWith('http://s3.test')),
    created: () => created,
    completed: () => completed,
    aborted: () => aborted,
    maxInFlight: () => maxInFlight,
  };
};

const clientFor = (backend: ReturnType<typeof fakeBackend>) =>
  createMediaClient({ baseUrl: `${API}/`, fetch: backend.fetch, retry: { attempts: 3, baseDelayMs: 1 } });

const fileOf = (size: number, name = 'clip.mp4', type = 'video/mp4') =>
  new File([new Uint8Array(size).map((_, i) => i % 251)], name, { type });

describe('helpers', () => {
  it.each([
    ['photo.JPG', 'image/jpeg'],
    ['a.b.webp', 'image/webp'],
    ['movie.mov', 'video/quicktime'],
    ['notes.txt', undefined],
    ['noextension', undefined],
  ])('guesses the media type of %s', (name, type) => {
    expect(guessContentType(name)).toBe(type);
  });

  it('cuts a file into part ranges, the last one short', () => {
    expect(partRange(1, 8, 20)).toEqual([0, 8]);
    expect(partRange(3, 8, 20)).toEqual([16, 20]);
  });

  it('backs off exponentially with full jitter, capped at 10 s', () => {
    expect(backoffDelay(1, 500, () => 1)).toBe(500);
    expect(backoffDelay(3, 500, () => 1)).toBe(2000);
    expect(backoffDelay(3, 500, () => 0.5)).toBe(1000);
    expect(backoffDelay(30, 500, () => 1)).toBe(10_000);
  });
});

describe('API errors', () => {
  it('raises the API’s error body as a MediaApiError with status, code and field', async () => {
    const client = createMediaClient({
      baseUrl: API,
      fetch: (async () =>
        new Response(
          JSON.stringify({
            error: { code: 'Request::UnknownPreset', message: 'no such preset', field: 'preset' },
          }),
          {
            status: 400,
          },
        )) as typeof fetch,
    });

    const failure = await client.upload(fileOf(10), { preset: 'nope' }).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(MediaApiError);
    expect(failure).toMatchObject({
      status: 400,
      code: 'Request::UnknownPreset',
      field: 'preset',
      message: 'no such preset',
    });
  });

  it('reads API Gateway’s own {"message"} refusals too', async () => {
    const client = createMediaClient({
      baseUrl: API,
      fetch: (async () => new Response('{"message":"Not Found"}', { status: 404 })) as typeof fetch,
    });

    await expect(client.getJob('x')).rejects.toMatchObject({
      status: 404,
      code: 'Http::404',
      message: 'Not Found (HTTP 404)',
    });
  });
});

describe('upload with a single PUT', () => {
  it('announces the file with its SHA-256, then PUTs it with the signed headers but Content-Length', async () => {
    // Prepare
    const backend = fakeBackend();
    const file = fileOf(1000, 'photo.jpg', '');
    const progress: number[] = [];
    const onCreated = vi.fn();

    // Act
    const result = await clientFor(backend).upload(file, {
      preset: 'default',
      callbackUrl: 'https://example.com/hook',
      onProgress: (sent, total) => {
        expect(total).toBe(1000);
        progress.push(sent);
      },
      onCreated,
    });

    // Assess
    expect(result).toEqual({ jobId: 'job-1', method: 'PUT' });
    const bytes = new Uint8Array(await file.arrayBuffer());
    expect(backend.created()).toEqual({
      file_name: 'photo.jpg',
      content_type: 'image/jpeg',
      size: 1000,
      preset: 'default',
      callback_url: 'https://example.com/hook',
      sha256: createHash('sha256').update(bytes).digest('hex'),
    });
    expect(onCreated).toHaveBeenCalledWith({
      jobId: 'job-1',
      upload: expect.objectContaining({ method: 'PUT' }),
    });
    const [put] = backend.s3Puts();
    expect(put?.method).toBe('PUT');
    const init = vi.mocked(backend.fetch).mock.calls.find(([url]) => String(url).includes('s3.test'))?.[1];
    expect(init?.headers).toEqual({ 'Content-Type': 'image/jpeg', 'If-None-Match': '*' });
    // fetch cannot tell upload progress: 0 at the start, everything at the end
    expect(progress).toEqual([0, 1000]);
  });

  it('leaves the hash out above 64 MiB unless asked, and when told not to', async () => {
    const backend = fakeBackend({ threshold: 200 * MiB });
    const big = { name: 'big.mp4', type: 'video/mp4', size: 65 * MiB, slice: () => new Blob(['x']) };
    const client = clientFor(backend);

    await client.upload(big, { preset: 'default' }).catch(() => undefined);
    const first = backend.created();
    await client.upload(fileOf(10), { preset: 'default', sha256: false });

    expect(first).not.toHaveProperty('sha256');
    expect(backend.created()).not.toHaveProperty('sha256');
  });
  it('says a used upload URL cannot take another file (S3 412), without retrying it', async () => {
    const backend = fakeBackend({
      partFailures: { 0: { attempts: [1], status: 412, code: 'PreconditionFailed' } },
    });

    const upload = clientFor(backend).upload(fileOf(100), { preset: 'default' });

    await expect(upload).rejects.toThrow(MediaUploadError);
    await expect(upload).rejects.toThrow(/already used.*create a new upload/);
    expect(backend.s3Puts()).toHaveLength(1);
  });

  it('takes a 412 on a retry as the file already stored by the attempt whose answer was lost', async () => {
    const backend = fakeBackend({
      partFailures: {
        0: [
          { attempts: [1], status: 0 },
          { attempts: [2], status: 412, code: 'PreconditionFailed' },
        ],
      },
    });

    const result = await clientFor(backend).upload(fileOf(100), { preset: 'default' });

    expect(result).toEqual({ jobId: 'job-1', method: 'PUT' });
    expect(backend.s3Puts()).toHaveLength(2);
  });
});

describe('upload in parts', () => {
  it('sends the parts in parallel up to the concurrency, retries a failing part, and completes in order', async () => {
    // Prepare: 6 parts; part 2 fails twice (a 500, then the network) before it goes through
    const backend = fakeBackend({ partFailures: { 2: { attempts: [1, 2], status: 500 } } });
    const file = fileOf(27 * MiB);
    const progress: number[] = [];

    // Act
    const result = await clientFor(backend).upload(file, {
      preset: 'default',
      concurrency: 3,
      onProgress: (sent) => progress.push(sent),
    });

    // Assess
    expect(result).toEqual({ jobId: 'job-1', method: 'multipart', parts: { sent: 6, skipped: 0 } });
    expect(backend.maxInFlight()).toBe(3);
    const puts = backend.s3Puts().map((request) => new URL(request.url).searchParams.get('partNumber'));
    expect(puts.filter((n) => n === '2')).toHaveLength(3);
    expect(puts.filter((n) => n === '5')).toHaveLength(1);
    const { parts } = backend.completed() as { parts: Array<{ part_number: number; etag: string }> };
    expect(parts.map((part) => part.part_number)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(progress.at(-1)).toBe(27 * MiB);
    for (const [index, sent] of progress.entries()) {
      if (index > 0) expect(sent).toBeGreaterThanOrEqual(progress[index - 1] ?? 0);
    }
    // URLs are signed a batch at a time, not one request per part
    const signings = backend.requests.filter((r) => r.method === 'POST' && r.url.endsWith('/upload/parts'));
    expect(signings.length).toBeLessThan(6);
  });

  it('gives up on a part after the retry budget with a resumable MediaUploadError, without aborting', async () => {
    const backend = fakeBackend({ partFailures: { 3: { attempts: [1, 2, 3], status: 0 } } });

    const failure = await clientFor(backend)
      .upload(fileOf(12 * MiB), { preset: 'default' })
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(MediaUploadError);
    expect(failure).toMatchObject({
      jobId: 'job-1',
      resumable: true,
      message: expect.stringContaining('resume it with job job-1'),
    });
    expect(backend.aborted()).toBe(false);
    expect(backend.completed()).toBeUndefined();
  });

  it('does not retry a part S3 refuses outright (400)', async () => {
    const backend = fakeBackend({ partFailures: { 1: { attempts: [1], status: 400 } } });

    const failure = await clientFor(backend)
      .upload(fileOf(12 * MiB), { preset: 'default', concurrency: 1 })
      .catch((error: unknown) => error);

    expect(failure).toMatchObject({ name: 'MediaUploadError', status: 400 });
    expect(backend.s3Puts().filter((r) => r.url.endsWith('partNumber=1'))).toHaveLength(1);
  });

  it('resumes: lists what S3 has, sends only the rest, and reports the skipped bytes as sent', async () => {
    // Prepare: parts 1 and 2 of a 12 MiB file are already in S3
    const backend = fakeBackend({ existingParts: [1, 2] });
    const progress: number[] = [];

    // Act
    const result = await clientFor(backend).upload(fileOf(12 * MiB), {
      preset: 'default',
      resumeJobId: 'job-1',
      onProgress: (sent) => progress.push(sent),
    });

    // Assess
    expect(result.parts).toEqual({ sent: 1, skipped: 2 });
    expect(backend.s3Puts().map((r) => r.url)).toEqual(['http://s3.test/part?partNumber=3']);
    expect(backend.created()).toBeUndefined();
    expect(progress[0]).toBe(5 * MiB);
    expect(progress.at(-1)).toBe(12 * MiB);
    expect((backend.completed() as { parts: unknown[] }).parts).toHaveLength(3);
  });

  it('removes its listeners from the caller’s signal when the upload ends', async () => {
    const backend = fakeBackend();
    const controller = new AbortController();

    await clientFor(backend).upload(fileOf(60 * MiB), {
      preset: 'default',
      signal: controller.signal,
      sha256: false,
    });

    expect(backend.s3Puts()).toHaveLength(12);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('refuses to resume with a file of another size', async () => {
    const backend = fakeBackend({ existingParts: [1] });

    await expect(
      clientFor(backend).upload(fileOf(11 * MiB), { preset: 'default', resumeJobId: 'job-1' }),
    ).rejects.toMatchObject({ name: 'MediaUploadError', resumable: false });
  });

  it('cancels: stops the parts in flight, aborts the upload server-side and rejects with an AbortError', async () => {
    // Prepare
    const backend = fakeBackend();
    const controller = new AbortController();

    // Act: cancel once the first part is through
    const failure = await clientFor(backend)
      .upload(fileOf(27 * MiB), {
        preset: 'default',
        concurrency: 2,
        signal: controller.signal,
        onProgress: (sent) => {
          if (sent >= 5 * MiB) controller.abort();
        },
      })
      .catch((error: unknown) => error);

    // Assess
    expect(failure).toBeInstanceOf(DOMException);
    expect((failure as DOMException).name).toBe('AbortError');
    expect(backend.aborted()).toBe(true);
    expect(backend.completed()).toBeUndefined();
    expect(backend.s3Puts().length).toBeLessThan(6);
  });
});

describe('waitForJob', () => {
  it('polls until the job is done, reporting each change and riding out a 503', async () => {
    const backend = fakeBackend({ jobStatuses: ['queued', '503', 'processing', 'processing', 'done'] });
    const seen: string[] = [];

    const job = await clientFor(backend).waitForJob('job-1', {
      intervalMs: 1,
      onUpdate: (update) => seen.push(update.status),
    });

    expect(job.status).toBe('done');
    expect(seen).toEqual(['queued', 'processing', 'done']);
  });

  it('gives up after timeoutMs with the last state seen', async () => {
    const backend = fakeBackend({ jobStatuses: ['processing'] });

    const failure = await clientFor(backend)
      .waitForJob('job-1', { intervalMs: 5, timeoutMs: 30 })
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(MediaTimeoutError);
    expect((failure as MediaTimeoutError).job?.status).toBe('processing');
  });

  it('stops when its signal aborts', async () => {
    const backend = fakeBackend({ jobStatuses: ['processing'] });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);

    await expect(
      clientFor(backend).waitForJob('job-1', { intervalMs: 5, signal: controller.signal }),
    ).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('other calls', () => {
  it('retries a job and aborts an upload through their routes', async () => {
    const calls: string[] = [];
    const client = createMediaClient({
      baseUrl: API,
      fetch: (async (input: string | URL | Request, init?: RequestInit) => {
        calls.push(`${init?.method} ${new URL(String(input)).pathname}`);
        return new Response(JSON.stringify({ job_id: 'j', status: 'queued', attempts: 2 }), { status: 202 });
      }) as typeof fetch,
    });

    const retried: RetriedJob = await client.retryJob('j');
    const aborted: AbortedUpload = await client.abortUpload('j');

    expect(retried.attempts).toBe(2);
    expect(aborted.job_id).toBe('j');
    expect(calls).toEqual(['POST /api/media/j/retry/', 'POST /api/media/j/upload/abort']);
  });
});

describe('authorization', () => {
  it('sends the key as a bearer credential to the API, and never to S3', async () => {
    // Prepare: a single PUT and a multipart upload, both with a key
    const backend = fakeBackend();
    const client = createMediaClient({
      baseUrl: API,
      fetch: backend.fetch,
      auth: { apiKey: 'mpk_0123456789ab_key' },
      retry: { attempts: 1, baseDelayMs: 1 },
    });

    // Act
    await client.upload(fileOf(100), { preset: 'default' });
    await client.upload(fileOf(12 * MiB), { preset: 'default', sha256: false });

    // Assess
    const calls = vi.mocked(backend.fetch).mock.calls.map(([url, init]) => ({
      host: new URL(String(url)).host,
      authorization: (init?.headers as Record<string, string> | undefined)?.authorization,
    }));
    const toApi = calls.filter((call) => call.host === 'api.test');
    const toS3 = calls.filter((call) => call.host === 's3.test');
    expect(toApi.length).toBeGreaterThanOrEqual(4);
    expect(toS3.length).toBe(4);
    expect(new Set(toApi.map((call) => call.authorization))).toEqual(
      new Set(['Bearer mpk_0123456789ab_key']),
    );
    expect(toS3.map((call) => call.authorization)).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('asks a function for the credential before each request, and sends none when it has none', async () => {
    const seen: Array<string | undefined> = [];
    let auth: { token: string } | undefined;
    const client = createMediaClient({
      baseUrl: API,
      auth: () => auth,
      fetch: (async (_input: string | URL | Request, init?: RequestInit) => {
        seen.push((init?.headers as Record<string, string> | undefined)?.authorization);
        return new Response('{"presets":[],"limits":{}}', { status: 200 });
      }) as typeof fetch,
    });

    await client.listPresets();
    auth = { token: 'eyJ.a.b' };
    await client.listPresets();

    expect(seen).toEqual([undefined, 'Bearer eyJ.a.b']);
  });

  /** API Gateway's answers when it refuses on its own: a bare body, sometimes a challenge header. */
  const gateway = (status: number, headers: Record<string, string> = {}) =>
    (async () =>
      new Response(JSON.stringify({ message: status === 401 ? 'Unauthorized' : 'Forbidden' }), {
        status,
        headers: { 'content-type': 'application/json', ...headers },
      })) as typeof fetch;

  it('says how to pass a key when the API wants one and none was sent (401)', async () => {
    const client = createMediaClient({ baseUrl: API, fetch: gateway(401), authHint: 'use --api-key KEY' });

    await expect(client.listJobs()).rejects.toMatchObject({
      name: 'MediaApiError',
      status: 401,
      code: 'Auth::Unauthorized',
      message: expect.stringMatching(/none was sent: use --api-key KEY$/),
    });
  });

  it('says a refused key is unknown or revoked, and that a revocation takes up to 5 minutes (403)', async () => {
    const client = createMediaClient({ baseUrl: API, fetch: gateway(403), auth: { apiKey: 'mpk_x' } });

    await expect(client.getJob('j')).rejects.toMatchObject({
      status: 403,
      code: 'Auth::Forbidden',
      message: expect.stringMatching(/key was refused: it is unknown or revoked.*up to 5 minutes/),
    });
  });

  it('gives the reason a token was refused from the www-authenticate challenge', async () => {
    const challenge = 'Bearer scope="" error="invalid_token" error_description="the token has expired"';
    const client = createMediaClient({
      baseUrl: API,
      fetch: gateway(401, { 'www-authenticate': challenge }),
      auth: { token: 'eyJ.a.b' },
    });

    await expect(client.listPresets()).rejects.toMatchObject({
      status: 401,
      code: 'Auth::Unauthorized',
      message: expect.stringMatching(/^the token was refused: the token has expired;/),
    });
    expect(bearerChallengeReason('Bearer error="invalid_token"')).toBe('invalid_token');
    expect(bearerChallengeReason(null)).toBeUndefined();
  });

  it('keeps the API’s own error shape for refusals the function made', async () => {
    const client = createMediaClient({
      baseUrl: API,
      fetch: (async () =>
        new Response(JSON.stringify({ error: { code: 'Auth::NoTenant', message: 'no tenant claim' } }), {
          status: 403,
        })) as typeof fetch,
    });

    await expect(client.listJobs()).rejects.toMatchObject({
      code: 'Auth::NoTenant',
      message: 'no tenant claim',
    });
  });
});

describe('listing and deleting jobs', () => {
  it('asks for a page with its limit, cursor and status, and deletes by id', async () => {
    const calls: string[] = [];
    const page: JobList = { items: [], next_cursor: 'next' };
    const client = createMediaClient({
      baseUrl: `${API}/`,
      fetch: (async (input: string | URL | Request, init?: RequestInit) => {
        const url = new URL(String(input));
        calls.push(`${init?.method} ${url.pathname}${url.search}`);
        return init?.method === 'DELETE'
          ? new Response(null, { status: 204 })
          : new Response(JSON.stringify(page), { status: 200 });
      }) as typeof fetch,
    });

    const all = await client.listJobs();
    const filtered = await client.listJobs({ limit: 20, cursor: 'abc', status: 'failed' });
    const deleted = await client.deleteJob('job 1');

    expect(all).toEqual(page);
    expect(filtered.next_cursor).toBe('next');
    expect(deleted).toBeUndefined();
    expect(calls).toEqual([
      'GET /api/media/',
      'GET /api/media/?limit=20&cursor=abc&status=failed',
      'DELETE /api/media/job%201/',
    ]);
  });

  it('carries Retry-After on a refusal over quota (429)', async () => {
    const client = createMediaClient({
      baseUrl: API,
      fetch: (async () =>
        new Response(JSON.stringify({ error: { code: 'Quota::JobsPerDay', message: 'over quota' } }), {
          status: 429,
          headers: { 'retry-after': '3600' },
        })) as typeof fetch,
    });

    await expect(client.upload(fileOf(10), { preset: 'default' })).rejects.toMatchObject({
      status: 429,
      code: 'Quota::JobsPerDay',
      retryAfterSeconds: 3600,
    });
    expect(retryAfterSeconds('Wed, 21 Oct 2015 07:28:30 GMT', Date.parse('2015-10-21T07:28:00Z'))).toBe(30);
    expect(retryAfterSeconds(null)).toBeUndefined();
  });
});
