import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../local/emulators.ts';
import { makeJpeg } from '../support/media.ts';
import { callApi, type RuntimeProcess, startRuntimeProcess } from '../support/runtime-process.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.ts';

/**
 * Retries that can be used, through the whole local runtime as a user runs it: an outage of the uploads
 * bucket (S3 answering 500 InternalError to the image function's GetObject, injected with
 * MEDIA_PIPELINE_FAULTS) outlasts every automatic attempt of the job's first run, so the job fails, as
 * transient and retryable; the outage is over (the fault's `count` is spent) and a manual retry starts
 * run 2 with a fresh set of attempts, which reaches done. A corrupt file, by contrast, fails once and
 * for good, and its retry is refused with the reason.
 */
const MAX_ATTEMPTS = 3;

let dataDir: string;
let runtime: RuntimeProcess;
let receiver: WebhookReceiver;

/** Every attempt of run 1 meets the outage: one GetObject per attempt (the SDK itself does not retry here). */
const OUTAGE = [
  {
    action: 'sdk-error',
    function: 'ImageFunction',
    service: 's3',
    operation: 'GetObject',
    error: 'server-error',
    count: MAX_ATTEMPTS,
  },
];

interface JobBody {
  status: string;
  attempts: number;
  run: number;
  retryable: boolean;
  error: string | null;
  error_code: string | null;
}

const api = <T>(method: string, path: string, json?: unknown) => callApi<T>(runtime, method, path, json);

/** Creates an image job with a callback and PUTs `bytes` to its presigned URL; resolves with its id. */
const uploadImage = async (bytes: Buffer, name: string): Promise<string> => {
  const created = await api<{ job_id: string; upload: { url: string; headers: Record<string, string> } }>(
    'POST',
    '/api/media/',
    {
      file_name: name,
      content_type: 'image/jpeg',
      size: bytes.length,
      preset: 'default',
      callback_url: receiver.url(`/hooks/${name}`),
    },
  );
  expect(created.status).toBe(201);
  const headers = Object.fromEntries(
    Object.entries(created.body.upload.headers).filter(
      ([header]) => header.toLowerCase() !== 'content-length',
    ),
  );
  const put = await fetch(created.body.upload.url, { method: 'PUT', headers, body: new Uint8Array(bytes) });
  expect(put.status).toBe(200);
  return created.body.job_id;
};

/** Polls the job until its status is `status` (or the deadline passes); resolves with its view. */
const until = async (id: string, status: string, deadlineMs = 60_000): Promise<JobBody> => {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const { body } = await api<JobBody>('GET', `/api/media/${id}/`);
    if (body.status === status || Date.now() > deadline) return body;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
};

/** The webhooks the receiver got for `name`, with their ids and payloads, once `count` arrived. */
const webhooksFor = async (name: string, count: number) => {
  const deadline = Date.now() + 30_000;
  const mine = () => receiver.requests.filter(({ path }) => path === `/hooks/${name}`);
  while (mine().length < count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return mine().map(({ headers, body }) => ({
    id: String(headers['webhook-id']),
    payload: JSON.parse(body) as { status: string; run: number; error: string | null },
  }));
};

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'media-pipeline-retry-runs-'));
  receiver = await startWebhookReceiver();
  runtime = await startRuntimeProcess({
    dataDir,
    port: await freePort(),
    s3Port: await freePort(),
    env: {
      MEDIA_PIPELINE_FAULTS: JSON.stringify(OUTAGE),
      // Backoffs of at most a second between attempts, and no SDK retries inside an attempt.
      MEDIA_PIPELINE_FUNCTION_ENV: JSON.stringify({
        ImageFunction: { RETRY_BASE_SECONDS: '1', RETRY_MAX_SECONDS: '1', AWS_MAX_ATTEMPTS: '1' },
      }),
    },
  });
});

afterAll(async () => {
  if (runtime && runtime.child.exitCode === null && runtime.child.signalCode === null) {
    runtime.signalGroup('SIGINT');
    await runtime.exited;
  }
  await receiver?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('manual retries as runs, through the local runtime', () => {
  it('fails a job whose run met an outage on every attempt, and a retry runs it again to done', async () => {
    // Prepare: the outage spans run 1
    const id = await uploadImage(await makeJpeg(640, 480, 7), 'outage.jpg');
    const failed = await until(id, 'failed');
    expect(failed).toMatchObject({
      status: 'failed',
      attempts: MAX_ATTEMPTS,
      run: 1,
      retryable: true,
      error_code: 'Internal::Unexpected',
    });
    expect(failed.error).toMatch(/^gave up after 3 attempts: /);
    // Its callback hears of the failure first (a retry before that supersedes it: it would not be sent).
    expect((await webhooksFor('outage.jpg', 1)).map(({ payload }) => payload.status)).toEqual(['failed']);

    // Act: the outage is over (the fault's count is spent)
    const retried = await api<{ job_id: string; status: string; attempts: number; run: number }>(
      'POST',
      `/api/media/${id}/retry/`,
    );
    const done = await until(id, 'done');

    // Assess: run 2 had a fresh budget, and used one attempt of it
    expect(retried).toEqual({
      status: 202,
      body: { job_id: id, status: 'queued', attempts: 0, attempt: 1, run: 2 },
    });
    expect(done).toMatchObject({ status: 'done', attempts: 1, run: 2, retryable: false, error: null });
    // Each run's outcome was told under its own webhook id, naming its run.
    const hooks = await webhooksFor('outage.jpg', 2);
    expect(hooks.map(({ id: webhookId }) => webhookId)).toEqual([
      `msg_${id}_failed_3`,
      `msg_${id}_done_1_r2`,
    ]);
    expect(hooks.map(({ payload }) => [payload.status, payload.run])).toEqual([
      ['failed', 1],
      ['done', 2],
    ]);
  });

  it('fails a corrupt file at once, as not retryable, and refuses its retry with the reason', async () => {
    // Prepare: JPEG magic bytes (ingest's sniffing accepts it), then nothing a decoder can read
    const corrupt = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(2048, 0x42)]);
    const id = await uploadImage(corrupt, 'corrupt.jpg');
    const failed = await until(id, 'failed');

    // Act
    const retried = await api<{ error: { code: string; message: string } }>(
      'POST',
      `/api/media/${id}/retry/`,
    );

    // Assess
    expect(failed).toMatchObject({ status: 'failed', attempts: 1, run: 1, retryable: false });
    expect(failed.error_code).toMatch(/^Media::/);
    expect(retried.status).toBe(409);
    expect(retried.body.error.code).toBe('Retry::PermanentFailure');
    expect(retried.body.error.message).toMatch(
      /cannot be retried: it failed for a reason another run cannot change: .+; upload/,
    );
  });
});
