import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '#shared/job';
import type { JobStore } from '#shared/job-store';
import { createTestEnvironment, type TestEnvironment } from '#test/emulators';
import { newJob, queueForProcessing } from '#test/jobs';
import { makeJpeg, makeTrailingIfdTiff } from '#test/media';
import { deliverOnce } from '#test/sqs-events';

let env: TestEnvironment;
let store: JobStore;
let handler: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
let deadLetterHandler: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

beforeAll(async () => {
  env = await createTestEnvironment({ maxAttempts: 3 });
  process.env.QUEUE_URL = env.queues.image.url;
  ({ handler } = await import('../../functions/image/handler.ts'));
  ({ handler: deadLetterHandler } = await import('../../functions/dead-letter/handler.ts'));
  store = await env.jobStore();
});
afterAll(() => env.close());
// Each test starts with empty queues, whatever the one before left in them.
afterEach(() => env.purgeQueues());

/** A job that ingest accepted and queued, with its upload stored (unless `bytes` is undefined). */
const queuedImageJob = async (bytes: Buffer | undefined, overrides: Partial<Job> = {}): Promise<Job> => {
  const job = newJob({
    status: 'queued',
    media_kind: 'image',
    detected_type: 'image/jpeg',
    size: bytes?.length ?? 1,
    enqueued_at: new Date().toISOString(),
    ...overrides,
  });
  return queueForProcessing(env, store, job, env.queues.image.url, bytes);
};

const deliver = () => deliverOnce(env.clients.sqs, env.queues.image, handler);

const webhookMessages = () => env.drain(env.queues.webhook.url) as Promise<Array<Record<string, unknown>>>;

const download = async (key: string) => {
  const object = await env.clients.s3.send(new GetObjectCommand({ Bucket: env.resultsBucket, Key: key }));
  return {
    contentType: object.ContentType,
    bytes: Buffer.from((await object.Body?.transformToByteArray()) ?? []),
  };
};

describe('image processing', () => {
  it('renders the default preset into three JPEG variants stored under the job, and announces done', async () => {
    // Prepare
    const job = await queuedImageJob(await makeJpeg(3000, 2000), {
      callback_url: 'https://example.com/hook',
    });

    // Act
    const { response } = await deliver();

    // Assess
    expect(response?.batchItemFailures).toEqual([]);
    const done = await store.get(job.id);
    expect(done).toMatchObject({
      status: 'done',
      attempts: 1,
      result: { width: 3000, height: 2000, format: 'jpeg' },
    });
    expect(done?.result?.variants).toEqual([
      {
        name: 'thumb',
        key: `results/${job.id}/thumb.jpg`,
        width: 150,
        height: 100,
        format: 'jpeg',
        bytes: expect.any(Number),
      },
      {
        name: 'medium',
        key: `results/${job.id}/medium.jpg`,
        width: 800,
        height: 533,
        format: 'jpeg',
        bytes: expect.any(Number),
      },
      {
        name: 'large',
        key: `results/${job.id}/large.jpg`,
        width: 1600,
        height: 1067,
        format: 'jpeg',
        bytes: expect.any(Number),
      },
    ]);
    const variants = done?.result?.variants as Array<{ name: string; width: number; bytes: number }>;
    for (const output of done?.outputs ?? []) {
      const stored = await download(output.key);
      const variant = variants.find((candidate) => candidate.name === output.name);
      expect(stored.contentType).toBe('image/jpeg');
      expect(stored.bytes.length).toBe(variant?.bytes);
      const metadata = await sharp(stored.bytes).metadata();
      expect(metadata.format).toBe('jpeg');
      expect(metadata.width).toBe(variant?.width);
    }
    expect(await webhookMessages()).toEqual([
      { kind: 'webhook', job_id: job.id, source_job_id: job.id, status: 'done', attempts: 1 },
    ]);
  });

  it('renders an uncompressed TIFF whose first IFD follows its pixels, as ingest now accepts it', async () => {
    // Prepare: a red-to-blue gradient, laid out as ImageMagick's `-compress none` writes it
    const job = await queuedImageJob(makeTrailingIfdTiff(300, 300), { detected_type: 'image/tiff' });

    // Act
    const { response } = await deliver();

    // Assess
    expect(response?.batchItemFailures).toEqual([]);
    const done = await store.get(job.id);
    expect(done).toMatchObject({ status: 'done', result: { width: 300, height: 300, format: 'tiff' } });
    const thumb = await download(`results/${job.id}/thumb.jpg`);
    const { data } = await sharp(thumb.bytes)
      .resize(1, 2, { fit: 'fill' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect(data[0]).toBeGreaterThan(data[2] as number); // red at the top
    expect(data[5]).toBeGreaterThan(data[3] as number); // blue at the bottom
  });

  it('fails a corrupt image at once, without retrying, with a readable error', async () => {
    const jpeg = await makeJpeg(800, 600, 3);
    const job = await queuedImageJob(jpeg.subarray(0, Math.floor(jpeg.length / 3)), {
      callback_url: 'https://example.com/hook',
    });

    const { response } = await deliver();

    expect(response?.batchItemFailures).toEqual([]);
    expect(await store.get(job.id)).toMatchObject({
      status: 'failed',
      attempts: 1,
      error_code: 'Media::Corrupt',
    });
    expect(await webhookMessages()).toEqual([
      { kind: 'webhook', job_id: job.id, source_job_id: job.id, status: 'failed', attempts: 1 },
    ]);
  });

  it('refuses to render an upload replaced after ingest checked it, storing nothing', async () => {
    // Prepare: ingest checked one image; another one was written over it before processing
    const job = await queuedImageJob(await makeJpeg(640, 480, 5));
    await env.clients.s3.send(
      new PutObjectCommand({
        Bucket: env.uploadsBucket,
        Key: job.upload_key,
        Body: await makeJpeg(640, 480, 6),
      }),
    );

    // Act
    const { response } = await deliver();

    // Assess: failed at once and readably, not rendered from the other bytes
    expect(response?.batchItemFailures).toEqual([]);
    expect(await store.get(job.id)).toMatchObject({
      status: 'failed',
      error_code: 'Upload::Changed',
      error: expect.stringContaining('replaced after it was checked'),
    });
    const results = await env.clients.s3.send(
      new ListObjectsV2Command({ Bucket: env.resultsBucket, Prefix: `results/${job.id}/` }),
    );
    expect(results.KeyCount).toBe(0);
  });

  it('retries a transient fault through its queue, and succeeds once the fault is gone', async () => {
    // (The harness retries at once, RETRY_BASE_SECONDS=0; the backoff's waiting is pinned in test/shared/retry.test.ts.)
    // Prepare: the upload is not there yet, an unexpected (not a media) fault
    const bytes = await makeJpeg(400, 300, 4);
    const job = await queuedImageJob(undefined, { size: bytes.length });

    // Act: the first attempt fails and is scheduled again
    const first = await deliver();

    // Assess
    expect(first.response?.batchItemFailures).toHaveLength(1);
    expect(await store.get(job.id)).toMatchObject({
      status: 'queued',
      attempts: 1,
      error: expect.any(String),
    });

    // Act: the fault goes away; the redelivered message succeeds
    await env.clients.s3.send(
      new PutObjectCommand({ Bucket: env.uploadsBucket, Key: job.upload_key, Body: bytes }),
    );
    const second = await deliver();

    // Assess
    expect(second.response?.batchItemFailures).toEqual([]);
    const done = await store.get(job.id);
    expect(done).toMatchObject({ status: 'done', attempts: 2 });
    expect(done?.error).toBeUndefined();
  });

  it('fails a job whose transient fault outlasts the attempt limit, then refuses further attempts', async () => {
    const job = await queuedImageJob(undefined);

    const outcomes = [];
    for (let delivery = 0; delivery < 3; delivery++)
      outcomes.push((await deliver()).response?.batchItemFailures.length);

    expect(outcomes).toEqual([1, 1, 0]);
    const failed = await store.get(job.id);
    expect(failed).toMatchObject({
      status: 'failed',
      attempts: 3,
      error: expect.stringMatching(/^gave up after 3 attempts: /),
    });
    expect((await deliver()).delivered).toEqual([]);
  });

  it('fails a job whose attempts were all used by deliveries that crashed', async () => {
    // Prepare: three deliveries started (and counted) but never finished; the last began an hour ago,
    // so this delivery is the message coming back, not a copy beside a live attempt
    const job = await queuedImageJob(await makeJpeg(100, 100, 5), {
      status: 'processing',
      attempts: 3,
      updated_at: new Date(Date.now() - 3_600_000).toISOString(),
    });

    // Act
    await deliver();

    // Assess
    expect(await store.get(job.id)).toMatchObject({
      status: 'failed',
      error: 'gave up after 3 attempts: the processor stopped (crashed or timed out) before finishing',
    });
  });

  it('drops a copy of the message that arrives while an attempt is running, leaving that attempt alone', async () => {
    // Prepare: an attempt that began a moment ago (a reconciler's re-send or a redelivery brings a copy)
    const job = await queuedImageJob(await makeJpeg(100, 100, 6), { status: 'processing', attempts: 3 });

    // Act
    const { response } = await deliver();

    // Assess: acknowledged, no second attempt counted, not failed although its attempts are used
    expect(response?.batchItemFailures).toEqual([]);
    expect(await store.get(job.id)).toMatchObject({ status: 'processing', attempts: 3 });
  });

  it('does not process a finished job again when its message is delivered twice, but makes sure it was announced', async () => {
    const job = await queuedImageJob(await makeJpeg(200, 100, 6), {
      callback_url: 'https://example.com/hook',
    });
    await deliver();
    await webhookMessages();
    const done = await store.get(job.id);
    await env.clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: env.queues.image.url,
        MessageBody: JSON.stringify({ kind: 'process', job_id: job.id }),
      }),
    );

    await deliver();

    expect(await store.get(job.id)).toEqual(done);
    expect(await webhookMessages()).toEqual([
      { kind: 'webhook', job_id: job.id, source_job_id: job.id, status: 'done', attempts: 1 },
    ]);
  });

  it('announces the outcome to every duplicate of the job', async () => {
    const [a, b] = [crypto.randomUUID(), crypto.randomUUID()];
    const job = await queuedImageJob(await makeJpeg(120, 80, 7), { duplicates: new Set([a, b]) });

    await deliver();

    const announced = await webhookMessages();
    expect(announced.map((message) => message.job_id).sort()).toEqual([a, b].sort());
    expect(announced.every((message) => message.source_job_id === job.id && message.status === 'done')).toBe(
      true,
    );
  });

  it('acknowledges a message that names no job it could process, rather than cycling it into the dead-letter queue', async () => {
    // Prepare: one body that is not JSON, one of another shape
    for (const body of ['{"kind": "process", job_id', JSON.stringify({ kind: 'process', job_id: 'nope' })]) {
      await env.clients.sqs.send(
        new SendMessageCommand({ QueueUrl: env.queues.image.url, MessageBody: body }),
      );
    }

    // Act
    const { delivered, response } = await deliver();

    // Assess: both taken off the queue as handled, none sent to the dead-letter queue
    expect(delivered).toHaveLength(2);
    expect(response?.batchItemFailures).toEqual([]);
    expect(await env.depth(env.queues.image.url)).toEqual({ visible: 0, inFlight: 0 });
    expect(await env.depth(env.queues.image.dlqUrl)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('turns a processing message that reached the dead-letter queue into a failed job', async () => {
    // Prepare: a job whose deliveries kept crashing; SQS moved its message to the DLQ
    const job = newJob({
      status: 'processing',
      attempts: 2,
      media_kind: 'image',
      callback_url: 'https://example.com/hook',
    });
    await store.create(job);
    await env.clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: env.queues.image.dlqUrl,
        MessageBody: JSON.stringify({ kind: 'process', job_id: job.id }),
      }),
    );

    // Act
    const { response } = await deliverOnce(
      env.clients.sqs,
      { url: env.queues.image.dlqUrl, arn: 'dlq' },
      deadLetterHandler,
    );

    // Assess
    expect(response?.batchItemFailures).toEqual([]);
    expect(await store.get(job.id)).toMatchObject({
      status: 'failed',
      error_code: 'Processing::DeadLettered',
      error: expect.stringContaining('crashed or timed out on every delivery (2 attempts counted)'),
    });
    expect(await webhookMessages()).toEqual([
      { kind: 'webhook', job_id: job.id, source_job_id: job.id, status: 'failed', attempts: 2 },
    ]);
  });

  it('fails an upload ingest gave up on only when its file is gone, leaving the rest to the reconciler', async () => {
    // Prepare: ingest's dead letters for a job whose file is gone, one whose file is in S3 (an outage
    // outlasted ingest's retries), one queued but never sent, and one on its way
    const gone = newJob();
    const inS3 = newJob();
    const neverSent = newJob({ status: 'queued', media_kind: 'image' });
    const onItsWay = newJob({ status: 'queued', enqueued_at: new Date().toISOString() });
    await Promise.all([gone, inS3, neverSent, onItsWay].map((job) => store.create(job)));
    await env.clients.s3.send(
      new PutObjectCommand({
        Bucket: env.uploadsBucket,
        Key: inS3.upload_key,
        Body: await makeJpeg(64, 48, 9),
      }),
    );
    const s3Event = (key: string) => ({
      Records: [
        { eventName: 'ObjectCreated:Put', s3: { bucket: { name: env.uploadsBucket }, object: { key } } },
      ],
    });
    for (const job of [gone, inS3, neverSent, onItsWay]) {
      await env.clients.sqs.send(
        new SendMessageCommand({
          QueueUrl: env.queues.ingestDlqUrl,
          MessageBody: JSON.stringify(s3Event(job.upload_key)),
        }),
      );
    }

    // Act
    await deliverOnce(env.clients.sqs, { url: env.queues.ingestDlqUrl, arn: 'dlq' }, deadLetterHandler);

    // Assess: only the job whose file is gone failed; the others wait for the reconciler or their processor
    expect(await store.get(gone.id)).toMatchObject({ status: 'failed', error_code: 'Upload::IngestFailed' });
    expect((await store.get(inS3.id))?.status).toBe('awaiting_upload');
    expect((await store.get(neverSent.id))?.status).toBe('queued');
    expect((await store.get(onItsWay.id))?.status).toBe('queued');
  });
});
