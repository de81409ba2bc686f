import { readFile } from 'node:fs/promises';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '#shared/job';
import type { JobStore } from '#shared/job-store';
import { createTestEnvironment, type TestEnvironment } from '#test/emulators';
import { newJob, queueForProcessing } from '#test/jobs';
import { ffmpegPath, ffprobePath, makeMp4 } from '#test/media';
import { deliverOnce } from '#test/sqs-events';
import { makeHostileClips } from '../video/hostile-clips.ts';

let env: TestEnvironment;
let store: JobStore;
let handler: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

beforeAll(async () => {
  env = await createTestEnvironment({
    env: { FFMPEG_PATH: ffmpegPath, FFPROBE_PATH: ffprobePath },
  });
  process.env.QUEUE_URL = env.queues.video.url;
  ({ handler } = await import('../../functions/video/handler.ts'));
  store = await env.jobStore();
});
afterAll(() => env.close());
// Each test starts with empty queues, whatever the one before left in them.
afterEach(() => env.purgeQueues());

const queuedVideoJob = async (bytes: Buffer, overrides: Partial<Job> = {}): Promise<Job> => {
  const job = newJob({
    status: 'queued',
    media_kind: 'video',
    detected_type: 'video/mp4',
    content_type: 'video/mp4',
    file_name: 'clip.mp4',
    size: bytes.length,
    enqueued_at: new Date().toISOString(),
    ...overrides,
  });
  return queueForProcessing(env, store, job, env.queues.video.url, bytes);
};

const deliver = () => deliverOnce(env.clients.sqs, env.queues.video, handler, 1);

describe('video processing', () => {
  it('extracts a poster at the preset second and the metadata, in the original project result shape', async () => {
    // Prepare
    const job = await queuedVideoJob(await makeMp4(3, '640x360'));

    // Act
    const { response } = await deliver();

    // Assess
    expect(response?.batchItemFailures).toEqual([]);
    const done = await store.get(job.id);
    expect(done).toMatchObject({
      status: 'done',
      attempts: 1,
      result: {
        poster: `results/${job.id}/poster.jpg`,
        width: 640,
        height: 360,
        codec: 'h264',
        audio_codec: 'aac',
        frame_rate: 25,
        poster_at_second: 1,
      },
      outputs: [{ name: 'poster', key: `results/${job.id}/poster.jpg`, content_type: 'image/jpeg' }],
    });
    expect(done?.result?.duration).toBeCloseTo(3, 0);
    const poster = await env.clients.s3.send(
      new GetObjectCommand({ Bucket: env.resultsBucket, Key: `results/${job.id}/poster.jpg` }),
    );
    const metadata = await sharp(Buffer.from((await poster.Body?.transformToByteArray()) ?? [])).metadata();
    // The default preset asks for 1280 px; a 640 px video is never enlarged.
    expect(done?.result).toMatchObject({ poster_width: 640, poster_height: 360 });
    expect(metadata).toMatchObject({ format: 'jpeg', width: 640, height: 360 });
  });

  it('clamps the poster second for a video shorter than the preset asks', async () => {
    const job = await queuedVideoJob(await makeMp4(1), { preset: 'square-webp' });

    await deliver();

    const done = await store.get(job.id);
    expect(done?.status).toBe('done');
    expect(done?.result?.poster_at_second).toBeLessThan(1);
  });

  it('refuses to process a video replaced after ingest checked it', async () => {
    // Prepare: ingest checked one clip; the key now holds another
    const job = await queuedVideoJob(await makeMp4(2));
    await env.clients.s3.send(
      new PutObjectCommand({ Bucket: env.uploadsBucket, Key: job.upload_key, Body: await makeMp4(3) }),
    );

    // Act
    const { response } = await deliver();

    // Assess
    expect(response?.batchItemFailures).toEqual([]);
    expect(await store.get(job.id)).toMatchObject({ status: 'failed', error_code: 'Upload::Changed' });
  });

  it('fails a file that is not really a video at once, with a readable error', async () => {
    const job = await queuedVideoJob(Buffer.from('this is not a video at all'.repeat(100)));

    const { response } = await deliver();

    expect(response?.batchItemFailures).toEqual([]);
    expect(await store.get(job.id)).toMatchObject({
      status: 'failed',
      attempts: 1,
      error_code: 'Media::Corrupt',
    });
  });

  it('fails a file with 1000 streams at once as Media::TooComplex, saying what was too much', async () => {
    // Prepare: ffprobe alone reached 1.5 GB on this file before the limits.
    const clips = await makeHostileClips(['tiny-1000.mp4']);
    const job = await queuedVideoJob(await readFile(clips.path('tiny-1000.mp4')));
    await clips.cleanup();

    // Act
    const { response } = await deliver();

    // Assess: a readable failure on the job, not a crash that ends in the dead-letter queue.
    expect(response?.batchItemFailures).toEqual([]);
    expect(await store.get(job.id)).toMatchObject({
      status: 'failed',
      attempts: 1,
      error_code: 'Media::TooComplex',
      error: 'the file has 1000 streams; the limit is 16',
    });
  });
});
