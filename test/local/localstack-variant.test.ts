import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeJpeg, makeMp4 } from '#test/media';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';

/**
 * The `localstack` template variant (-c target=localstack) on the local runtime: LocalStack cannot run
 * here, but what that variant changes can: the API through the API function's URL, S3 notifying ingest
 * through the bucket's own NotificationConfiguration, sharp loaded from the image function's asset and
 * ffmpeg run from /var/task/bin in the video function's, without layers.
 */
describe('the localstack variant on the local runtime', () => {
  let root: string;
  let runtime: LocalRuntime;
  let functionUrl: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'media-pipeline-localstack-variant-'));
    runtime = await startLocalRuntime({
      dataDir: root,
      port: 0,
      quiet: true,
      // Lambda's asynchronous retries after 1 and 2 seconds instead of minutes.
      asyncRetryScale: 1 / 60,
      context: { target: 'localstack' },
    });
    functionUrl = (runtime.functionUrls[0] ?? '').replace(/\/$/, '');
  }, 180_000);

  afterAll(async () => {
    await runtime?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${functionUrl}${path}`, {
      method,
      headers: {
        ...(runtime.apiKey ? { authorization: `Bearer ${runtime.apiKey}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  const runJob = async (bytes: Buffer, fileName: string, contentType: string) => {
    const created = await call('POST', '/api/media/', {
      file_name: fileName,
      content_type: contentType,
      size: bytes.length,
      preset: 'default',
    });
    expect(created.status).toBe(201);
    const ticket = created.body.upload as { url: string; headers: Record<string, string> };
    expect(
      (await fetch(ticket.url, { method: 'PUT', headers: ticket.headers, body: new Uint8Array(bytes) })).ok,
    ).toBe(true);
    const deadline = Date.now() + 90_000;
    for (;;) {
      const job = (await call('GET', `/api/media/${String(created.body.job_id)}/`)).body;
      if (job.status === 'done' || job.status === 'failed' || Date.now() > deadline) return job;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };

  it('serves the API on the API function’s URL (the variant’s ApiUrl)', async () => {
    // Act
    const presets = await call('GET', '/api/presets/');
    // Assess
    expect(runtime.functionUrls).toHaveLength(1);
    expect(runtime.provisioned.outputs.ApiUrl).toBe(runtime.functionUrls[0]);
    expect(presets.status).toBe(200);
    // The variant has no HTTP API (nor an HttpApiUrl output): the function URL is the API.
    expect(runtime.provisioned.httpApi).toBeUndefined();
    expect(runtime.provisioned.outputs.HttpApiUrl).toBeUndefined();
  });

  it('takes an image to done, with sharp from the image function’s own asset', async () => {
    // Act
    const job = await runJob(await makeJpeg(800, 600, 3), 'photo.jpg', 'image/jpeg');
    // Assess
    expect(job).toMatchObject({ status: 'done', error: null });
  }, 120_000);

  it('takes a video to done, with ffmpeg from /var/task/bin in the video function’s asset', async () => {
    // Act
    const job = await runJob(await makeMp4(1), 'clip.mp4', 'video/mp4');
    // Assess
    expect(job).toMatchObject({ status: 'done', error: null });
    expect(job.result).toMatchObject({ width: 320, height: 240, codec: 'h264' });
  }, 120_000);
});
