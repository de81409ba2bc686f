import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Event } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '#shared/job';
import type { JobStore } from '#shared/job-store';
import { createTestEnvironment, type TestEnvironment } from '#test/emulators';
import { newJob } from '#test/jobs';
import { lambdaContext } from '#test/lambda-context';
import { makeClip, makeJpeg, makeMp4, makeTrailingIfdTiff } from '#test/media';

let env: TestEnvironment;
let store: JobStore;
let handler: (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<void>;
let jpeg: Buffer;

beforeAll(async () => {
  env = await createTestEnvironment();
  ({ handler } = await import('../../functions/ingest/handler.ts'));
  store = await env.jobStore();
  jpeg = await makeJpeg(64, 48);
});
afterAll(() => env.close());
// Each test starts with empty queues, whatever the one before left in them.
afterEach(() => env.purgeQueues());

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Creates a job for `bytes` as the API would, uploads them, and returns the S3 event s3rver emitted. */
const upload = async (bytes: Buffer, overrides: Partial<Job> = {}): Promise<{ job: Job; event: S3Event }> => {
  const job = newJob({ size: bytes.length, ...overrides });
  await store.create(job);
  const event = env.s3.nextEvent((e) => e.Records[0]?.s3.object.key === job.upload_key);
  await env.clients.s3.send(
    new PutObjectCommand({ Bucket: env.uploadsBucket, Key: job.upload_key, Body: bytes }),
  );
  return { job, event: await event };
};

const ingest = (event: S3Event) => handler(event, lambdaContext('ingest'));

const drain = (queueUrl: string) => env.drain(queueUrl);

const countJobs = async () =>
  (await env.clients.dynamodb.send(new ScanCommand({ TableName: env.tableName, Select: 'COUNT' }))).Count;

describe('ingest', () => {
  it('hashes an accepted image, queues it for the image processor, and records what the bytes are', async () => {
    // Prepare
    const { job, event } = await upload(jpeg, { file_name: 'holiday.png', content_type: 'image/png' });
    const stored = await env.clients.s3.send(
      new HeadObjectCommand({ Bucket: env.uploadsBucket, Key: job.upload_key }),
    );

    // Act
    await ingest(event);

    // Assess: the object it hashed is pinned by its ETag, so processing reads exactly those bytes
    expect(await store.get(job.id)).toMatchObject({
      status: 'queued',
      file_hash: sha256(jpeg),
      upload_etag: stored.ETag,
      detected_type: 'image/jpeg',
      media_kind: 'image',
      enqueued_at: expect.any(String),
    });
    expect(await drain(env.queues.image.url)).toEqual([{ kind: 'process', job_id: job.id }]);
  });

  it('sends a video to the video queue', async () => {
    const { job, event } = await upload(await makeMp4(1), {
      content_type: 'video/mp4',
      file_name: 'clip.mp4',
    });

    await ingest(event);

    expect(await store.get(job.id)).toMatchObject({
      status: 'queued',
      detected_type: 'video/mp4',
      media_kind: 'video',
    });
    expect(await drain(env.queues.video.url)).toEqual([{ kind: 'process', job_id: job.id }]);
  });

  it.each([
    [
      'a Matroska clip (file-type says video/matroska)',
      () => makeClip('matroska'),
      'video/x-matroska',
      'video',
    ],
    [
      'an uncompressed TIFF whose first IFD follows its pixels',
      async () => makeTrailingIfdTiff(300, 300),
      'image/tiff',
      'image',
    ],
  ] as const)('accepts %s under the name presets use', async (_case, bytes, detected, kind) => {
    // Prepare
    const { job, event } = await upload(await bytes(), { content_type: detected });

    // Act
    await ingest(event);

    // Assess
    expect(await store.get(job.id)).toMatchObject({
      status: 'queued',
      detected_type: detected,
      media_kind: kind,
    });
    expect(await drain(env.queues[kind].url)).toEqual([{ kind: 'process', job_id: job.id }]);
  });

  it('changes nothing when S3 delivers the same event again', async () => {
    const bytes = await makeJpeg(40, 40, 1);
    const { job, event } = await upload(bytes);
    await ingest(event);
    const first = await store.get(job.id);
    await drain(env.queues.image.url);

    await ingest(event);

    expect(await store.get(job.id)).toEqual(first);
    expect(await drain(env.queues.image.url)).toEqual([]);
  });

  it('makes the same bytes with the same preset one job, and processes them once', async () => {
    // Prepare
    const bytes = await makeJpeg(50, 50, 2);
    const first = await upload(bytes);
    await ingest(first.event);
    const second = await upload(bytes, { file_name: 'copy.jpg' });

    // Act
    await ingest(second.event);

    // Assess
    expect(await store.get(second.job.id)).toMatchObject({ status: 'duplicate', duplicate_of: first.job.id });
    expect((await store.get(first.job.id))?.duplicates).toEqual(new Set([second.job.id]));
    expect(await drain(env.queues.image.url)).toEqual([{ kind: 'process', job_id: first.job.id }]);
  });

  it('treats the same bytes with another preset as a separate job', async () => {
    const bytes = await makeJpeg(50, 50, 3);
    const a = await upload(bytes, { preset: 'default' });
    const b = await upload(bytes, { preset: 'square-webp' });

    await ingest(a.event);
    await ingest(b.event);

    expect((await store.get(b.job.id))?.status).toBe('queued');
    expect(await drain(env.queues.image.url)).toHaveLength(2);
  });

  it('keeps the same bytes of two tenants two jobs, each processed for its own tenant', async () => {
    // Prepare
    const bytes = await makeJpeg(50, 50, 21);
    const acme = await upload(bytes, { tenant: 'acme' });
    const globex = await upload(bytes, { tenant: 'globex' });
    const acmeAgain = await upload(bytes, { tenant: 'acme', file_name: 'again.jpg' });

    // Act
    await ingest(acme.event);
    await ingest(globex.event);
    await ingest(acmeAgain.event);

    // Assess: neither tenant's upload becomes the other's duplicate; the same tenant's does
    expect(await store.get(globex.job.id)).toMatchObject({ status: 'queued', tenant: 'globex' });
    expect((await store.get(globex.job.id))?.duplicate_of).toBeUndefined();
    expect(await store.get(acmeAgain.job.id)).toMatchObject({
      status: 'duplicate',
      duplicate_of: acme.job.id,
    });
    expect(await drain(env.queues.image.url)).toEqual([
      { kind: 'process', job_id: acme.job.id },
      { kind: 'process', job_id: globex.job.id },
    ]);
  });

  it('reads jobs written before tenants as the default tenant', async () => {
    // Prepare: a job without a tenant holds the content first
    const bytes = await makeJpeg(50, 50, 22);
    const legacy = await upload(bytes);
    await ingest(legacy.event);
    const fresh = await upload(bytes, { tenant: 'default' });

    // Act
    await ingest(fresh.event);

    // Assess
    expect(await store.get(fresh.job.id)).toMatchObject({ status: 'duplicate', duplicate_of: legacy.job.id });
    await drain(env.queues.image.url);
  });

  it('makes a new job instead of a duplicate of a deleted one', async () => {
    // Prepare: the holder is tombstoned (deleted while its duplicates still show its results)
    const bytes = await makeJpeg(40, 40, 23);
    const first = await upload(bytes);
    await ingest(first.event);
    await store.startAttempt(first.job.id, 3);
    const done = await store.complete(first.job.id, { width: 40 }, []);
    await store.tombstone(done as Job);
    await drain(env.queues.image.url);
    const second = await upload(bytes);

    // Act
    await ingest(second.event);

    // Assess
    expect((await store.get(second.job.id))?.status).toBe('queued');
    expect((await store.get(first.job.id))?.duplicates).toBeUndefined();
    expect(await drain(env.queues.image.url)).toEqual([{ kind: 'process', job_id: second.job.id }]);
  });

  it('processes ten concurrent uploads of the same file once', async () => {
    // Prepare
    const bytes = await makeJpeg(60, 60, 4);
    const uploads = [];
    for (let i = 0; i < 10; i++) uploads.push(await upload(bytes, { file_name: `copy-${i}.jpg` }));

    // Act
    await Promise.all(uploads.map(({ event }) => ingest(event)));

    // Assess
    const jobs = await Promise.all(uploads.map(({ job }) => store.get(job.id)));
    const queued = jobs.filter((job) => job?.status === 'queued');
    expect(queued).toHaveLength(1);
    const canonicalId = queued[0]?.id;
    expect(
      jobs.filter((job) => job?.status === 'duplicate' && job.duplicate_of === canonicalId),
    ).toHaveLength(9);
    expect((await store.get(canonicalId ?? ''))?.duplicates?.size).toBe(9);
    expect(await drain(env.queues.image.url)).toEqual([{ kind: 'process', job_id: canonicalId }]);
  });

  it('tells a duplicate of an already finished job at once, through the webhook queue', async () => {
    // Prepare
    const bytes = await makeJpeg(30, 30, 5);
    const first = await upload(bytes);
    await ingest(first.event);
    await store.startAttempt(first.job.id, 3);
    await store.complete(first.job.id, { width: 30 }, []);
    await drain(env.queues.image.url);
    const second = await upload(bytes, { callback_url: 'https://example.com/hook' });

    // Act
    await ingest(second.event);

    // Assess
    expect(await drain(env.queues.webhook.url)).toEqual([
      { kind: 'webhook', job_id: second.job.id, source_job_id: first.job.id, status: 'done', attempts: 1 },
    ]);
  });

  it('lets a new upload take over from a failed job with the same bytes', async () => {
    const bytes = await makeJpeg(30, 30, 6);
    const first = await upload(bytes);
    await ingest(first.event);
    await store.startAttempt(first.job.id, 3);
    await store.fail(first.job.id, 'processingFailed', { code: 'Media::Corrupt', message: 'broken' });
    await drain(env.queues.image.url);
    const second = await upload(bytes);

    await ingest(second.event);

    expect((await store.get(second.job.id))?.status).toBe('queued');
    expect(await drain(env.queues.image.url)).toEqual([{ kind: 'process', job_id: second.job.id }]);
  });

  it('leaves a job queued by a run that stopped before sending its message to the reconciler', async () => {
    // Prepare: queued, its message never sent (test/reconciler sends it, with a claim)
    const { job, event } = await upload(await makeJpeg(20, 20, 7));
    const queued = await store.markQueued(job.id, {
      file_hash: 'f'.repeat(64),
      detected_type: 'image/jpeg',
      media_kind: 'image',
    });

    // Act: the S3 event again, late
    await ingest(event);

    // Assess: a late event sends nothing and changes nothing
    expect(await store.get(job.id)).toEqual(queued);
    expect(await drain(env.queues.image.url)).toEqual([]);
  });

  it('hashes every byte of a large upload, in order', async () => {
    // Prepare: random bytes, so any part read twice, skipped or out of order changes the hash.
    const content = randomBytes(20 * 1024 * 1024 + 4321);
    const { job, event } = await upload(content, { size: content.length });

    // Act
    await ingest(event);

    // Assess: refused for what it is (nothing recognisable), with the hash of all of it recorded.
    expect(await store.get(job.id)).toMatchObject({
      status: 'failed',
      error_code: 'Upload::UnrecognizedType',
      file_hash: sha256(content),
    });
  });

  describe('refuses what cannot be processed, failing the job with a readable error', () => {
    const cases: Array<{
      name: string;
      bytes: () => Promise<Buffer>;
      job?: Partial<Job>;
      code: string;
      error: RegExp;
    }> = [
      { name: 'an empty file', bytes: async () => Buffer.alloc(0), code: 'Upload::Empty', error: /empty/ },
      {
        name: 'a text file named .jpg',
        bytes: async () => Buffer.from('just some text, not a picture\n'.repeat(20)),
        job: { file_name: 'notes.jpg' },
        code: 'Upload::UnrecognizedType',
        error: /not an image or video/,
      },
      {
        name: 'a file whose size differs from the declared one',
        bytes: async () => makeJpeg(20, 20, 8),
        job: { size: 99 },
        code: 'Upload::SizeMismatch',
        error: /has \d+ bytes but the upload was created for 99/,
      },
      {
        name: 'a HEIC photo, which the image function cannot decode',
        bytes: async () => {
          const box = Buffer.alloc(24);
          box.writeUInt32BE(24, 0);
          box.write('ftypheic\0\0\0\0mif1heic', 4, 'latin1');
          return Buffer.concat([box, Buffer.alloc(256)]);
        },
        job: { file_name: 'IMG_0001.heic' },
        code: 'Upload::UnrecognizedType',
        error: /recognised as image\/heic/,
      },
      {
        name: 'a video under an images-only preset',
        bytes: () => makeMp4(1),
        job: { preset: 'avatar', content_type: 'image/jpeg' },
        code: 'Upload::TypeNotAccepted',
        error: /video\/mp4, which preset "avatar" does not accept/,
      },
      {
        name: 'bytes that do not match the declared sha256',
        bytes: async () => makeJpeg(20, 20, 9),
        job: { sha256: '0'.repeat(64) },
        code: 'Upload::ChecksumMismatch',
        error: /do not match the sha256/,
      },
    ];

    it.each(cases)('$name', async ({ bytes, job: overrides, code, error }) => {
      // Prepare
      const content = await bytes();
      const { job, event } = await upload(content, {
        callback_url: 'https://example.com/hook',
        ...overrides,
        size: overrides?.size ?? content.length,
      });

      // Act
      await ingest(event);

      // Assess
      const failed = await store.get(job.id);
      expect(failed).toMatchObject({
        status: 'failed',
        error_code: code,
        error: expect.stringMatching(error),
      });
      expect(failed?.ttl).toBeUndefined();
      expect(await drain(env.queues.webhook.url)).toEqual([
        { kind: 'webhook', job_id: job.id, source_job_id: job.id, status: 'failed', attempts: 0 },
      ]);
    });
  });

  it('ignores objects that are not a job upload and events for unknown jobs, creating and sending nothing', async () => {
    // Prepare
    const unknown = randomUUID();
    const event = env.s3.nextEvent((e) => e.Records[0]?.s3.object.key === `uploads/${unknown}`);
    await env.clients.s3.send(
      new PutObjectCommand({ Bucket: env.uploadsBucket, Key: `uploads/${unknown}`, Body: Buffer.from('x') }),
    );
    const jobsBefore = await countJobs();

    // Act
    await ingest(await event);
    await ingest({
      Records: [
        {
          eventName: 'ObjectCreated:Put',
          s3: { bucket: { name: env.uploadsBucket }, object: { key: 'elsewhere/a' } },
        },
      ],
    } as unknown as S3Event);

    // Assess: no job record appeared and no queue got a message
    expect(await countJobs()).toBe(jobsBefore);
    expect(await store.get(unknown)).toBeUndefined();
    for (const queue of [env.queues.image, env.queues.video, env.queues.webhook]) {
      expect(await drain(queue.url)).toEqual([]);
    }
  });
});
