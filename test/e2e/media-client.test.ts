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
import { apiUrl } from './client.ts';

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
  createMediaClient({ baseUrl: apiUrl(), fetch: fetchImpl, retry: { attempts: 2, baseDelayMs: 10 } });

let presets: PresetsResponse;
let threshold: number;
/** Bytes per second of the test videos: 40 Mbit/s of constant-bitrate filler. */
const BITRATE_MBPS = 40;
const videoOver = (bytes: number, size: string) =>
  makeMp4(Math.max(4, Math.ceil((bytes * 8) / (BITRATE_MBPS * 1e6))), size, { bitrateMbps: BITRATE_MBPS });

beforeAll(async () => {
  presets = await createMediaClient({ baseUrl: apiUrl() }).listPresets();
  threshold = presets.limits.multipart_threshold_bytes;
});

describe('the typed client', () => {
  it('uploads an image with one PUT, with its SHA-256, and waits for the job to be done', async () => {
    // Prepare
    const photo = await makeJpeg(1200, 800, 31);
    const file = new File([new Uint8Array(photo)], 'client-photo.jpg', { type: 'image/jpeg' });
    const progress: number[] = [];
    const updates: string[] = [];
    const client = createMediaClient({ baseUrl: apiUrl() });

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
