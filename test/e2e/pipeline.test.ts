import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { makeJpeg, makeMp4, makePng } from '#test/media';
import { startWebhookReceiver, type WebhookReceiver } from '#test/webhook-receiver';
import { call, createUpload, download, getJob, putUpload, upload, waitForJob } from './client.ts';

const target = inject('e2e');

let photo: Buffer;
beforeAll(async () => {
  photo = await makeJpeg(2400, 1600, 11);
});

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('an image through the presigned PUT', () => {
  it('reaches done with three variants of the right sizes, downloadable from result_urls', async () => {
    // Act
    const id = await upload(photo, { file_name: 'holiday.jpg', content_type: 'image/jpeg' });
    const job = await waitForJob(id);

    // Assess
    expect(job).toMatchObject({ status: 'done', attempts: 1, file_hash: sha256(photo), error: null });
    expect(job.result).toMatchObject({ width: 2400, height: 1600, format: 'jpeg' });
    const expected = { thumb: [150, 100], medium: [800, 533], large: [1600, 1067] };
    expect(Object.keys(job.result_urls ?? {}).sort()).toEqual(Object.keys(expected).sort());
    for (const [name, [width, height]] of Object.entries(expected)) {
      const bytes = await download(job.result_urls?.[name] ?? '');
      expect(await sharp(bytes).metadata()).toMatchObject({ format: 'jpeg', width, height });
    }
  });

  it('verifies a declared sha256 (S3 checks the signed checksum; ingest checks it again)', async () => {
    const bytes = await makeJpeg(320, 240, 12);
    const created = await createUpload({
      file_name: 'checked.jpg',
      content_type: 'image/jpeg',
      size: bytes.length,
      preset: 'default',
      sha256: sha256(bytes),
    });
    expect(created.status).toBe(201);
    expect((await putUpload(created.body, bytes)).ok).toBe(true);

    expect((await waitForJob(created.body.job_id)).status).toBe('done');
  });
});

describe('a video', () => {
  it('reaches done with a poster and correct metadata', async () => {
    const clip = await makeMp4(2, '640x360');

    const id = await upload(clip, { file_name: 'clip.mp4', content_type: 'video/mp4' });
    const job = await waitForJob(id);

    expect(job.status).toBe('done');
    expect(job.result).toMatchObject({ width: 640, height: 360, codec: 'h264', audio_codec: 'aac' });
    expect(job.result?.duration).toBeCloseTo(2, 0);
    const poster = await download(job.result_urls?.poster ?? '');
    expect(await sharp(poster).metadata()).toMatchObject({ format: 'jpeg', width: 640, height: 360 });
  });
});

describe("the original project's multipart POST", () => {
  it('stores and processes a small file, and answers 200 with the same job for the same file', async () => {
    // Prepare
    const bytes = await makePng(300, 200, false);
    const form = () => {
      const data = new FormData();
      data.append('file', new Blob([new Uint8Array(bytes)], { type: 'image/png' }), 'logo.png');
      data.append('preset', 'default');
      return data;
    };

    // Act
    const first = await call('POST', '/api/media/', { body: form() });
    const again = await call('POST', '/api/media/', { body: form() });

    // Assess
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ status: expect.stringMatching(/^(queued|processing|done)$/) });
    const id = String(first.body.id);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(id);
    expect((await waitForJob(id)).result).toMatchObject({ width: 300, height: 200, format: 'png' });
  });
});

describe('idempotency', () => {
  it('makes a second upload of the same file a duplicate that shows the first job and its outputs', async () => {
    const bytes = await makeJpeg(900, 600, 13);

    const first = await upload(bytes, { file_name: 'a.jpg', content_type: 'image/jpeg' });
    const original = await waitForJob(first);
    const second = await waitForJob(await upload(bytes, { file_name: 'b.jpg', content_type: 'image/jpeg' }));

    expect(second).toMatchObject({ status: 'done', duplicate_of: first, file_hash: original.file_hash });
    expect(second.result).toEqual(original.result);
  });

  it('processes a file uploaded ten times at once only once', async () => {
    // Prepare
    const bytes = await makeJpeg(700, 500, 17);

    // Act
    const ids = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        upload(bytes, { file_name: `copy-${i}.jpg`, content_type: 'image/jpeg' }),
      ),
    );
    const jobs = await Promise.all(ids.map((id) => waitForJob(id)));

    // Assess: one job was processed; the nine others are its duplicates and show its outcome
    const canonical = jobs.filter((job) => job.duplicate_of === null);
    expect(canonical).toHaveLength(1);
    const processed = canonical[0];
    for (const job of jobs) {
      expect(job.status).toBe('done');
      expect(job.result).toEqual(processed?.result);
      if (job !== processed) expect(job.duplicate_of).toBe(processed?.id);
    }
  });

  it('treats the same file with another preset as another job', async () => {
    const bytes = await makeJpeg(500, 500, 14);

    const a = await upload(bytes, { file_name: 'a.jpg', content_type: 'image/jpeg', preset: 'default' });
    const b = await upload(bytes, { file_name: 'a.jpg', content_type: 'image/jpeg', preset: 'square-webp' });

    const [jobA, jobB] = await Promise.all([waitForJob(a), waitForJob(b)]);
    expect(jobB.duplicate_of).toBeNull();
    expect(Object.keys(jobA.result_urls ?? {})).toContain('thumb');
    expect(Object.keys(jobB.result_urls ?? {})).toContain('square');
  });
});

describe('bad input gets a clear answer', () => {
  it('refuses a zero-byte file when the upload is created', async () => {
    const created = await createUpload({
      file_name: 'empty.jpg',
      content_type: 'image/jpeg',
      size: 0,
      preset: 'default',
    });

    expect(created.status).toBe(400);
    expect(created.body).toMatchObject({
      error: { field: 'size', message: expect.stringMatching(/empty/i) },
    });
  });

  it('refuses an unknown preset, naming the field', async () => {
    const created = await createUpload({
      file_name: 'a.jpg',
      content_type: 'image/jpeg',
      size: 10,
      preset: 'nope',
    });

    expect(created.status).toBe(400);
    expect(created.body).toMatchObject({
      error: { field: 'preset', message: expect.stringContaining('default') },
    });
  });

  it('fails a truncated JPEG with a readable error', async () => {
    const bytes = photo.subarray(0, Math.floor(photo.length / 2));

    const job = await waitForJob(await upload(bytes, { file_name: 'cut.jpg', content_type: 'image/jpeg' }));

    expect(job).toMatchObject({ status: 'failed', error_code: 'Media::Corrupt', error: expect.any(String) });
  });

  it('fails a text file named .jpg, whatever it claims to be', async () => {
    const bytes = Buffer.from('not a picture, just words\n'.repeat(40));

    const job = await waitForJob(await upload(bytes, { file_name: 'notes.jpg', content_type: 'image/jpeg' }));

    expect(job).toMatchObject({ status: 'failed', error_code: 'Upload::UnrecognizedType' });
    expect(job.error).toMatch(/not an image or video/);
  });

  it('does not process bytes that differ from the declared size', async () => {
    // Prepare: an upload created for 1000 bytes
    const bytes = await makeJpeg(100, 100, 15);
    const created = await createUpload({
      file_name: 'x.jpg',
      content_type: 'image/jpeg',
      size: 1000,
      preset: 'default',
    });

    // Act: real S3 refuses the PUT (Content-Length is signed); an emulator that does not check
    // signatures stores it, and ingest refuses it
    const put = await putUpload(created.body, bytes);

    // Assess
    if (put.ok) {
      const job = await waitForJob(created.body.job_id);
      expect(job).toMatchObject({ status: 'failed', error_code: 'Upload::SizeMismatch' });
    } else {
      expect(put.status).toBeGreaterThanOrEqual(400);
      expect((await getJob(created.body.job_id)).body.status).toBe('awaiting_upload');
    }
  });
});

describe('the bytes ingest checked are the bytes processed', () => {
  it('keeps a failed upload’s bytes: its URL cannot swap in other bytes before a retry', async () => {
    // Prepare: a 3 s clip, and a same-size copy with bytes 100–40000 zeroed
    const good = await makeMp4(3);
    const corrupted = Buffer.from(good);
    corrupted.fill(0, 100, 40_000);
    const created = await createUpload({
      file_name: 'clip.mp4',
      content_type: 'video/mp4',
      size: good.length,
      preset: 'default',
    });
    expect((await putUpload(created.body, corrupted)).ok).toBe(true);
    const failed = await waitForJob(created.body.job_id);
    expect(failed).toMatchObject({ status: 'failed', file_hash: sha256(corrupted) });

    // Act: the good file to the same URL, then a retry
    const swap = await putUpload(created.body, good);
    const retry = await call('POST', `/api/media/${created.body.job_id}/retry/`);

    // Assess: S3 refused the second write; the failure belongs to those bytes (a corrupt file fails the
    // same way every time), so the retry is refused with what to do, and the job keeps the bytes it had
    expect(swap.status).toBe(412);
    expect(await swap.text()).toContain('PreconditionFailed');
    expect(failed).toMatchObject({ retryable: false });
    expect(retry).toMatchObject({ status: 409, body: { error: { code: 'Retry::PermanentFailure' } } });
    expect(await waitForJob(created.body.job_id)).toMatchObject({
      status: 'failed',
      error_code: failed.error_code,
      file_hash: sha256(corrupted),
      updated_at: failed.updated_at,
    });
  });

  it('refuses an upload URL re-used after its job finished, leaving the job as it was', async () => {
    // Prepare
    const bytes = await makeJpeg(320, 240, 21);
    const created = await createUpload({
      file_name: 'once.jpg',
      content_type: 'image/jpeg',
      size: bytes.length,
      preset: 'default',
    });
    expect((await putUpload(created.body, bytes)).ok).toBe(true);
    const done = await waitForJob(created.body.job_id);
    expect(done.status).toBe('done');

    // Act
    const again = await putUpload(created.body, Buffer.alloc(bytes.length, 7));

    // Assess
    expect(again.status).toBe(412);
    expect((await getJob(created.body.job_id)).body).toMatchObject({
      status: 'done',
      file_hash: sha256(bytes),
      result: done.result,
    });
  });
});

describe('retry', () => {
  it('refuses to retry a failure that would repeat, saying why and what to do', async () => {
    // Prepare: a job that fails for good (a corrupt file fails every run the same way)
    const bytes = photo.subarray(0, Math.floor(photo.length / 3));
    const id = await upload(bytes, { file_name: 'broken.jpg', content_type: 'image/jpeg' });
    const failed = await waitForJob(id);

    // Act
    const refused = await call('POST', `/api/media/${id}/retry/`);

    // Assess: not retryable, and the job is left as it was (a transient failure's new run is the fault
    // suite's test/faults/retry-runs.test.ts)
    expect(failed).toMatchObject({ status: 'failed', attempts: 1, run: 1, retryable: false });
    expect(refused).toMatchObject({
      status: 409,
      body: { error: { code: 'Retry::PermanentFailure', message: expect.any(String) } },
    });
    expect((await getJob(id)).body).toMatchObject({ status: 'failed', updated_at: failed.updated_at });
  });
});

describe.runIf(target.loopbackCallbacks && target.webhookSecret)('webhooks', () => {
  let receiver: WebhookReceiver;
  beforeAll(async () => {
    receiver = await startWebhookReceiver();
  });
  afterAll(() => receiver.close());

  it('POSTs a signed webhook to the callback URL when the job is done', async () => {
    // Act
    const bytes = await makeJpeg(400, 300, 16);
    const id = await upload(bytes, {
      file_name: 'hooked.jpg',
      content_type: 'image/jpeg',
      callback_url: receiver.url('/hooks/media'),
    });
    await waitForJob(id);
    const deadline = Date.now() + 30_000;
    while (receiver.requests.length === 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200));

    // Assess
    const [request] = receiver.requests;
    expect(request?.path).toBe('/hooks/media');
    const headers = Object.fromEntries(
      Object.entries(request?.headers ?? {}).map(([name, value]) => [name, String(value)]),
    );
    const payload = new Webhook(target.webhookSecret ?? '').verify(request?.body ?? '', headers);
    expect(payload).toMatchObject({ type: 'media.job.done', job_id: id, status: 'done', error: null });
    expect((await waitForJob(id)).webhook).toMatchObject({ status: 'delivered' });
  });
});
