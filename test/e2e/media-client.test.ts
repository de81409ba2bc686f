import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeJpeg, makeMp4 } from '#test/media';
import {
  createMediaClient,
  MediaApiError,
  type MediaClient,
  MediaUploadError,
  type PresetsResponse,
} from '../../client/media-client.ts';
import { apiKey, apiUrl, clientAuth, otherApiKey } from './client.ts';

/**
 * The typed client (client/media-client.ts) against the running stack: a single PUT, a multipart
 * upload in parallel parts, a resumed upload and a cancelled one. The multipart threshold is read from
 * GET /api/presets/ (8 MiB on the local runtime the suite starts, 100 MiB on a default deployment), and
 * the video is made just large enough to need three parts or more.
 */

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

interface S3Request {
  partNumber: number | undefined;
  ok: boolean;
}

/** A fetch that records the requests that go to S3 and can make some of them fail like a lost network. */
const instrumentedFetch = (options: { failPart?: number } = {}) => {
  const s3Requests: S3Request[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const api = new URL(apiUrl());
  const wrapped: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.host === api.host) return fetch(input, init);
    const partNumber = url.searchParams.has('partNumber')
      ? Number(url.searchParams.get('partNumber'))
      : undefined;
    if (partNumber !== undefined && partNumber === options.failPart) {
      s3Requests.push({ partNumber, ok: false });
      throw new TypeError('fetch failed (simulated: the network went away)');
    }
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      const response = await fetch(input, init);
      s3Requests.push({ partNumber, ok: response.ok });
      return response;
    } finally {
      inFlight--;
    }
  };
  return {
    fetch: wrapped,
    s3Requests,
    partsSent: () =>
      s3Requests
        .filter((request) => request.ok && request.partNumber !== undefined)
        .map((request) => request.partNumber)
        .sort((a = 0, b = 0) => a - b),
    maxInFlight: () => maxInFlight,
  };
};

const clientWith = (fetchImpl: typeof fetch): MediaClient =>
  createMediaClient({
    baseUrl: apiUrl(),
    ...clientAuth(),
    fetch: fetchImpl,
    retry: { attempts: 2, baseDelayMs: 10 },
  });

let presets: PresetsResponse;
let threshold: number;
/** Bytes per second of the test videos: 40 Mbit/s of constant-bitrate filler. */
const BITRATE_MBPS = 40;
const videoOver = (bytes: number, size: string) =>
  makeMp4(Math.max(4, Math.ceil((bytes * 8) / (BITRATE_MBPS * 1e6))), size, { bitrateMbps: BITRATE_MBPS });

beforeAll(async () => {
  presets = await createMediaClient({ baseUrl: apiUrl(), ...clientAuth() }).listPresets();
  threshold = presets.limits.multipart_threshold_bytes;
});

describe('the typed client', () => {
  it('uploads an image with one PUT, with its SHA-256, and waits for the job to be done', async () => {
    // Prepare
    const photo = await makeJpeg(1200, 800, 31);
    const file = new File([new Uint8Array(photo)], 'client-photo.jpg', { type: 'image/jpeg' });
    const progress: number[] = [];
    const updates: string[] = [];
    const client = createMediaClient({ baseUrl: apiUrl(), ...clientAuth() });

    // Act
    const uploaded = await client.upload(file, {
      preset: 'default',
      onProgress: (sent) => progress.push(sent),
    });
    const job = await client.waitForJob(uploaded.jobId, {
      intervalMs: 200,
      onUpdate: (update) => updates.push(update.status),
    });

    // Assess
    expect(uploaded.method).toBe('PUT');
    expect(progress.at(-1)).toBe(photo.length);
    expect(job).toMatchObject({ status: 'done', file_hash: sha256(photo), file_name: 'client-photo.jpg' });
    expect(Object.keys(job.result_urls ?? {}).sort()).toEqual(['large', 'medium', 'thumb']);
    expect(updates.at(-1)).toBe('done');
  });

  it('sends a video over the multipart threshold in parallel parts, and it is processed', async () => {
    // Prepare: a video needing at least three parts
    const clip = await videoOver(threshold * 2 + 1024 * 1024, '640x360');
    const file = new File([new Uint8Array(clip)], 'big-clip.mp4', { type: 'video/mp4' });
    const network = instrumentedFetch();
    let plan: { method: string; part_count?: number } | undefined;

    // Act
    const uploaded = await clientWith(network.fetch).upload(file, {
      preset: 'default',
      concurrency: 3,
      onCreated: ({ upload }) => {
        plan = upload;
      },
    });
    const job = await clientWith(network.fetch).waitForJob(uploaded.jobId, { intervalMs: 300 });

    // Assess
    expect(clip.length).toBeGreaterThan(threshold);
    expect(plan?.method).toBe('multipart');
    const partCount = plan?.part_count ?? 0;
    expect(partCount).toBeGreaterThanOrEqual(3);
    expect(uploaded).toEqual({
      jobId: uploaded.jobId,
      method: 'multipart',
      parts: { sent: partCount, skipped: 0 },
    });
    expect(network.partsSent()).toEqual(Array.from({ length: partCount }, (_, i) => i + 1));
    expect(network.maxInFlight()).toBeGreaterThanOrEqual(2);
    expect(job).toMatchObject({ status: 'done', file_hash: sha256(clip), size: clip.length });
    expect(job.result).toMatchObject({ width: 640, height: 360, codec: 'h264' });
    expect(job.result_urls?.poster).toEqual(expect.any(String));
  });

  describe('an interrupted multipart upload', () => {
    let clip: Buffer;
    let file: File;
    beforeAll(async () => {
      clip = await videoOver(threshold * 2 + 1024 * 1024, '320x240');
      file = new File([new Uint8Array(clip)], 'resumed.mp4', { type: 'video/mp4' });
    });

    it('resumes where it stopped: the parts already in S3 are not sent again', async () => {
      // Prepare: the network fails for part 3 every time, after parts 1 and 2 went through
      const failing = instrumentedFetch({ failPart: 3 });
      const failure = await clientWith(failing.fetch)
        .upload(file, { preset: 'default', concurrency: 1 })
        .catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(MediaUploadError);
      const { jobId, resumable } = failure as MediaUploadError;
      expect(resumable).toBe(true);
      expect(failing.partsSent()).toEqual([1, 2]);
      const listed = await clientWith(fetch).listUploadedParts(jobId);
      expect(listed.parts.map((part) => part.part_number)).toEqual([1, 2]);

      // Act: a new client call, as after a restart
      const network = instrumentedFetch();
      const resumed = await clientWith(network.fetch).upload(file, {
        preset: 'default',
        resumeJobId: jobId,
        concurrency: 3,
      });
      const job = await clientWith(fetch).waitForJob(jobId, { intervalMs: 300 });

      // Assess
      const remaining = listed.part_count - 2;
      expect(resumed.parts).toEqual({ sent: remaining, skipped: 2 });
      expect(network.partsSent()).toEqual(Array.from({ length: remaining }, (_, i) => i + 3));
      expect(job).toMatchObject({ status: 'done', file_hash: sha256(clip) });
    });

    it('cancelled with its AbortSignal, it is aborted in S3 and its job fails with a readable error', async () => {
      // Prepare
      const controller = new AbortController();
      const network = instrumentedFetch();
      let jobId = '';
      let partSize = 0;

      // Act: cancel once the first part is in
      const failure = await clientWith(network.fetch)
        .upload(file, {
          preset: 'default',
          concurrency: 1,
          sha256: false,
          signal: controller.signal,
          onCreated: ({ jobId: id, upload }) => {
            jobId = id;
            partSize = upload.method === 'multipart' ? upload.part_size : 0;
          },
          onProgress: (sent) => {
            if (sent >= partSize) controller.abort();
          },
        })
        .catch((error: unknown) => error);

      // Assess
      expect((failure as Error).name).toBe('AbortError');
      expect(network.partsSent().length).toBeLessThan(3);
      const job = await clientWith(fetch).getJob(jobId);
      expect(job).toMatchObject({
        status: 'failed',
        error_code: 'Upload::Aborted',
        error: expect.stringMatching(/cancelled/),
      });
      const listing = await clientWith(fetch)
        .listUploadedParts(jobId)
        .catch((error: unknown) => error);
      expect(listing).toBeInstanceOf(MediaApiError);
      expect(listing).toMatchObject({ status: 409, code: 'Upload::NotAwaitingUpload' });
    });
  });
});

describe('listing and deleting, per tenant', () => {
  /** LocalStack's function URL: the API function checks the key itself and answers with the error shape. */
  const viaFunctionUrl = new URL(apiUrl()).hostname.includes('.lambda-url.');

  it('lists the newest job first, pages with the cursor, filters by status, and deletes it with its results', async () => {
    // Prepare: two jobs of their own bytes (no duplicate keeps their results alive), one after the other
    const client = createMediaClient({ baseUrl: apiUrl(), ...clientAuth() });
    const jpegFile = async (name: string, seed: number) =>
      new File([new Uint8Array(await makeJpeg(640, 480, seed))], name, { type: 'image/jpeg' });
    const older = await client.upload(await jpegFile('listed-older.jpg', 9159), { preset: 'default' });
    await client.waitForJob(older.jobId, { intervalMs: 200 });
    const { jobId } = await client.upload(await jpegFile('listed.jpg', 9157), { preset: 'default' });
    const done = await client.waitForJob(jobId, { intervalMs: 200 });
    expect(done).toMatchObject({ status: 'done', duplicate_of: null });

    // Act + Assess: the listing, a page of one at a time
    const first = await client.listJobs({ limit: 1 });
    expect(first.items.map((job) => job.id)).toEqual([jobId]);
    expect(first.items[0]).toMatchObject({ file_name: 'listed.jpg', status: 'done' });
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = await client.listJobs({ limit: 1, cursor: first.next_cursor ?? '' });
    expect(second.items.map((job) => job.id)).toEqual([older.jobId]);
    const failed = await client.listJobs({ status: 'failed', limit: 100 });
    expect(failed.items.every((job) => job.status === 'failed')).toBe(true);
    expect(failed.items.map((job) => job.id)).not.toContain(jobId);

    // Act + Assess: deleted, it is gone from every answer, and so are its outputs
    await client.deleteJob(jobId);
    await expect(client.getJob(jobId)).rejects.toMatchObject({ status: 404, code: 'Job::NotFound' });
    const after = await client.listJobs({ limit: 100 });
    expect(after.items.map((job) => job.id)).not.toContain(jobId);
    const thumb = await fetch(done.result_urls?.thumb ?? '');
    expect(thumb.ok).toBe(false);
    await expect(client.deleteJob(jobId)).rejects.toMatchObject({ status: 404 });
  });

  it.skipIf(!otherApiKey())('shows another tenant’s job to no one but its own tenant', async () => {
    // Prepare: a job of tenant `default`
    const mine = createMediaClient({ baseUrl: apiUrl(), ...clientAuth() });
    const theirs = createMediaClient({ baseUrl: apiUrl(), ...clientAuth(otherApiKey()) });
    const photo = await makeJpeg(320, 240, 9158);
    const { jobId } = await mine.upload(new File([new Uint8Array(photo)], 'private.jpg'), {
      preset: 'default',
      contentType: 'image/jpeg',
    });

    // Act
    const seen = await theirs.getJob(jobId).catch((error: unknown) => error);
    const unknown = await theirs
      .getJob('00000000-0000-4000-8000-000000000000')
      .catch((error: unknown) => error);
    const listed = await theirs.listJobs({ limit: 100 });
    const deleted = await theirs.deleteJob(jobId).catch((error: unknown) => error);

    // Assess: exactly like an unknown id, and absent from the other tenant's listing
    expect(seen).toBeInstanceOf(MediaApiError);
    expect(seen).toMatchObject({ status: 404, code: 'Job::NotFound' });
    expect((seen as Error).message.replace(jobId, 'ID')).toBe(
      (unknown as Error).message.replace('00000000-0000-4000-8000-000000000000', 'ID'),
    );
    expect(listed.items.map((job) => job.id)).not.toContain(jobId);
    expect(deleted).toMatchObject({ status: 404, code: 'Job::NotFound' });
    expect((await mine.getJob(jobId)).id).toBe(jobId);
  });

  it.skipIf(!apiKey())(
    'refuses a request without a key, and one with an unknown key, saying what is missing',
    async () => {
      // Act
      const anonymous = await createMediaClient({ baseUrl: apiUrl() })
        .listJobs()
        .catch((error: unknown) => error);
      const unknown = await createMediaClient({
        baseUrl: apiUrl(),
        auth: { apiKey: `mpk_000000000000_${'A'.repeat(43)}` },
      })
        .listPresets()
        .catch((error: unknown) => error);

      // Assess
      expect(anonymous).toBeInstanceOf(MediaApiError);
      expect(unknown).toBeInstanceOf(MediaApiError);
      if (viaFunctionUrl) {
        // The function's own refusals, in the error shape.
        expect(anonymous).toMatchObject({ status: 401, code: 'Auth::MissingKey' });
        expect(unknown).toMatchObject({ status: 401, code: 'Auth::InvalidKey' });
      } else {
        // API Gateway's bare answers, turned into words by the client.
        expect(anonymous).toMatchObject({
          status: 401,
          code: 'Auth::Unauthorized',
          message: expect.stringMatching(/none was sent/),
        });
        expect(unknown).toMatchObject({
          status: 403,
          code: 'Auth::Forbidden',
          message: expect.stringMatching(/unknown or revoked \(a revocation takes up to 5 minutes/),
        });
      }
    },
  );
});
