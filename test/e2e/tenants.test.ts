import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeJpeg } from '#test/media';
import { startWebhookReceiver, type WebhookReceiver } from '#test/webhook-receiver';
import { createMediaClient, type MediaApiError, type MediaClient } from '../../client/media-client.ts';
import { apiUrl, call, clientAuth, target } from './client.ts';

/**
 * Issue 12's "done means", as a client of the running stack sees it: with two keys of two tenants, no
 * request without a valid key gets past the gateway, neither tenant can see, list, retry, delete or
 * dedupe into the other's jobs, and each tenant's webhooks verify with its own secret only.
 */
const { apiKey, otherApiKey, webhookSecret, otherWebhookSecret, loopbackCallbacks } = target();

/** Every API route, with a job id in it where it takes one. */
const API_ROUTES = (id: string): Array<[string, string]> => [
  ['GET', '/api/media/'],
  ['POST', '/api/media/'],
  ['GET', `/api/media/${id}/`],
  ['DELETE', `/api/media/${id}/`],
  ['POST', `/api/media/${id}/retry/`],
  ['GET', `/api/media/${id}/upload/parts/`],
  ['POST', `/api/media/${id}/upload/parts/`],
  ['POST', `/api/media/${id}/upload/complete/`],
  ['POST', `/api/media/${id}/upload/abort/`],
  ['GET', '/api/presets/'],
];

const jpeg = (bytes: Uint8Array): Blob => new Blob([new Uint8Array(bytes)], { type: 'image/jpeg' });

const refusal = async (promise: Promise<unknown>): Promise<MediaApiError> =>
  promise.then(
    () => {
      throw new Error('expected the API to refuse');
    },
    (error: MediaApiError) => error,
  );

describe.runIf(apiKey && otherApiKey)('two tenants', () => {
  let ours: MediaClient;
  let theirs: MediaClient;
  let photo: Buffer;
  beforeAll(async () => {
    ours = createMediaClient({ baseUrl: apiUrl(), ...clientAuth(apiKey) });
    theirs = createMediaClient({ baseUrl: apiUrl(), ...clientAuth(otherApiKey) });
    photo = await makeJpeg(640, 480, 1212);
  });

  it('lets no request without a valid key past the gateway, and keeps the page and preflights open', async () => {
    // Prepare: a real job id, so that the id routes would have something to answer about
    const { jobId } = await ours.upload(jpeg(photo), { fileName: 'guarded.jpg', preset: 'default' });
    await ours.waitForJob(jobId, { intervalMs: 200 });
    const before = await ours.listJobs({ limit: 100 });

    for (const [method, path] of API_ROUTES(jobId)) {
      // Act
      const anonymous = await call(method, path, { headers: { authorization: '' } });
      const wrongKey = await call(method, path, {
        headers: { authorization: `Bearer mpk_000000000000_${'A'.repeat(43)}` },
      });
      const notBearer = await call(method, path, { headers: { authorization: apiKey ?? '' } });
      // Assess: API Gateway's own answers, before any function runs
      expect(anonymous, `${method} ${path} without a key`).toEqual({
        status: 401,
        body: { message: 'Unauthorized' },
      });
      expect(wrongKey, `${method} ${path} with an unknown key`).toEqual({
        status: 403,
        body: { message: 'Forbidden' },
      });
      expect(notBearer.status, `${method} ${path} with the key but not as a bearer token`).toBe(403);
    }
    // Nothing was created, retried or deleted by the refused requests
    expect((await ours.getJob(jobId)).status).toBe('done');
    expect((await ours.listJobs({ limit: 100 })).items.map((job) => job.id)).toEqual(
      before.items.map((job) => job.id),
    );
    expect((await fetch(new URL('/', apiUrl()))).status).toBe(200);
    const preflight = await fetch(new URL('/api/media/', apiUrl()), {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'DELETE',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/authorization/i);
  });

  it('makes the same bytes two jobs, one per tenant, each with its own results', async () => {
    // Act: the same file, the same preset, from both tenants
    const mine = await ours.upload(jpeg(photo), { fileName: 'shared.jpg', preset: 'square-webp' });
    const other = await theirs.upload(jpeg(photo), { fileName: 'shared.jpg', preset: 'square-webp' });
    const [myJob, otherJob] = await Promise.all([
      ours.waitForJob(mine.jobId, { intervalMs: 200 }),
      theirs.waitForJob(other.jobId, { intervalMs: 200 }),
    ]);
    const again = await ours.upload(jpeg(photo), { fileName: 'again.jpg', preset: 'square-webp' });
    const duplicate = await ours.waitForJob(again.jobId, { intervalMs: 200 });

    // Assess: no duplicate across tenants, each job's results are its own objects; within a tenant the
    // same bytes are still one job
    expect(myJob).toMatchObject({ status: 'done', duplicate_of: null });
    expect(otherJob).toMatchObject({ status: 'done', duplicate_of: null, file_hash: myJob.file_hash });
    expect(otherJob.id).not.toBe(myJob.id);
    for (const url of Object.values(otherJob.result_urls ?? {})) expect(url).toContain(otherJob.id);
    for (const url of Object.values(myJob.result_urls ?? {})) expect(url).not.toContain(otherJob.id);
    expect(duplicate).toMatchObject({ status: 'done', duplicate_of: myJob.id });
  });

  it('answers another tenant’s job exactly like an unknown one, on every route, and leaves it alone', async () => {
    // Prepare: a failed job of the other tenant (retry and delete would both apply to it)
    const text = Buffer.from('not an image at all, whatever its name says');
    const { jobId } = await theirs.upload(jpeg(text), {
      fileName: 'notes.jpg',
      contentType: 'image/jpeg',
      preset: 'default',
    });
    const before = await theirs.waitForJob(jobId, { intervalMs: 200 });
    const unknownId = '00000000-0000-4000-8000-000000000000';

    // Act and Assess: the same status and body as for an id that does not exist
    for (const [method, path] of API_ROUTES(jobId).filter(([, p]) => p.includes(jobId))) {
      const body = method === 'POST' ? { json: {} } : {};
      const answer = await call(method, path, body);
      const unknown = await call(method, path.replace(jobId, unknownId), body);
      expect(answer.status, `${method} ${path}`).toBe(unknown.status);
      if (!path.includes('/upload/')) expect(answer.status, `${method} ${path}`).toBe(404);
      expect(answer.body, `${method} ${path}`).toEqual(
        JSON.parse(JSON.stringify(unknown.body).replaceAll(unknownId, jobId)),
      );
    }
    expect((await ours.listJobs({ limit: 100 })).items.map((job) => job.id)).not.toContain(jobId);
    expect(await theirs.getJob(jobId)).toMatchObject({ status: 'failed', updated_at: before.updated_at });
    expect((await theirs.listJobs({ limit: 100 })).items.map((job) => job.id)).toContain(jobId);
  });

  it('lets a tenant delete only its own jobs', async () => {
    // Prepare
    const { jobId } = await theirs.upload(jpeg(await makeJpeg(320, 200, 1213)), {
      fileName: 'theirs.jpg',
      preset: 'default',
    });
    await theirs.waitForJob(jobId, { intervalMs: 200 });

    // Act
    const refused = await refusal(ours.deleteJob(jobId));
    await theirs.deleteJob(jobId);

    // Assess
    expect(refused).toMatchObject({ status: 404, code: 'Job::NotFound' });
    expect(await refusal(theirs.getJob(jobId))).toMatchObject({ status: 404, code: 'Job::NotFound' });
  });

  describe.runIf(loopbackCallbacks && webhookSecret && otherWebhookSecret)('webhooks', () => {
    let receiver: WebhookReceiver;
    beforeAll(async () => {
      receiver = await startWebhookReceiver();
    });
    afterAll(() => receiver.close());

    it('signs each tenant’s webhooks with that tenant’s secret only', async () => {
      // Act
      const [mine, other] = await Promise.all([
        ours.upload(jpeg(await makeJpeg(300, 300, 1214)), {
          fileName: 'mine.jpg',
          preset: 'default',
          callbackUrl: receiver.url('/ours'),
        }),
        theirs.upload(jpeg(await makeJpeg(300, 300, 1215)), {
          fileName: 'theirs.jpg',
          preset: 'default',
          callbackUrl: receiver.url('/theirs'),
        }),
      ]);
      await Promise.all([
        ours.waitForJob(mine.jobId, { intervalMs: 200 }),
        theirs.waitForJob(other.jobId, { intervalMs: 200 }),
      ]);
      await expect.poll(() => receiver.requests.length, { timeout: 30_000, interval: 100 }).toBe(2);

      // Assess
      const delivered = (path: string) => {
        const request = receiver.requests.find((r) => r.path === path);
        const headers = Object.fromEntries(
          Object.entries(request?.headers ?? {}).map(([name, value]) => [name, String(value)]),
        );
        return {
          verifiesWith: (secret: string | undefined) => {
            try {
              new Webhook(secret ?? '').verify(request?.body ?? '', headers);
              return true;
            } catch {
              return false;
            }
          },
          body: JSON.parse(request?.body ?? '{}') as { job_id?: string },
        };
      };
      const ourHook = delivered('/ours');
      const theirHook = delivered('/theirs');
      expect(ourHook.body.job_id).toBe(mine.jobId);
      expect(theirHook.body.job_id).toBe(other.jobId);
      expect([ourHook.verifiesWith(webhookSecret), ourHook.verifiesWith(otherWebhookSecret)]).toEqual([
        true,
        false,
      ]);
      expect([theirHook.verifiesWith(otherWebhookSecret), theirHook.verifiesWith(webhookSecret)]).toEqual([
        true,
        false,
      ]);
    });
  });
});
