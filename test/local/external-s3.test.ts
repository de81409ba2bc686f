import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeJpeg } from '#test/media';
import { LocalConfigError, localSettingsFromEnvironment } from '../../local/config.ts';
import { type S3Emulator, startS3 } from '../../local/emulators.ts';
import {
  DEFAULT_WEBHOOK_ARN,
  minioWebhookEventSchema,
  S3_EVENTS_PATH,
  toS3Event,
  webhookNotificationConfigurations,
} from '../../local/external-s3.ts';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';
import { goQueryEscape, minioObjectCreatedEvent } from './fixtures/minio-event.ts';

/**
 * The local runtime on an external S3 server, as with MinIO (README: "MinIO"). MinIO itself
 * cannot run here (no Docker engine), so the external server is s3rver started on its own port and
 * handed to the runtime through the same settings a MinIO user sets (S3_ENDPOINT, S3_ACCESS_KEY_ID,
 * S3_SECRET_ACCESS_KEY). s3rver only accepts the access key S3RVER, so those are the keys here. Its own
 * event emitter is not listened to: events reach the runtime only as MinIO sends them, POSTed in
 * MinIO's webhook format (test/local/fixtures/minio-event.ts) to the runtime's events endpoint.
 */

describe('settings of an external S3 server', () => {
  it('uses the embedded s3rver without S3_ENDPOINT', () => {
    // Act
    const settings = localSettingsFromEnvironment({});
    // Assess
    expect(settings).toMatchObject({ port: 3000, dataDir: '.local', externalS3: undefined });
  });

  it('reads the endpoint, keys, region and webhook target, with MinIO defaults', () => {
    // Act
    const settings = localSettingsFromEnvironment({
      S3_ENDPOINT: 'http://127.0.0.1:9000/',
      S3_ACCESS_KEY_ID: 'media',
      S3_SECRET_ACCESS_KEY: 'media-secret',
      S3_WEBHOOK_AUTH_TOKEN: 'token',
    });
    // Assess
    expect(settings.externalS3).toEqual({
      endpoint: 'http://127.0.0.1:9000',
      accessKeyId: 'media',
      secretAccessKey: 'media-secret',
      region: 'us-east-1',
      webhookArn: 'arn:minio:sqs::MEDIAPIPELINE:webhook',
      webhookAuthToken: 'token',
    });
  });

  it('refuses an endpoint without its keys, and a malformed one, saying which setting is wrong', () => {
    // Act
    const withoutKeys = () => localSettingsFromEnvironment({ S3_ENDPOINT: 'http://127.0.0.1:9000' });
    const malformed = () =>
      localSettingsFromEnvironment({
        S3_ENDPOINT: 'minio',
        S3_ACCESS_KEY_ID: 'a',
        S3_SECRET_ACCESS_KEY: 'b',
      });
    // Assess
    expect(withoutKeys).toThrow(LocalConfigError);
    expect(withoutKeys).toThrow(/S3_ACCESS_KEY_ID: required with S3_ENDPOINT.*S3_SECRET_ACCESS_KEY/);
    expect(malformed).toThrow(/S3_ENDPOINT/);
  });
});

describe('MinIO webhook events', () => {
  it('become the S3 event S3 would send: event name without s3:, key as stored, bucket ARN', () => {
    // Prepare
    const body = minioObjectCreatedEvent({ bucket: 'uploads-bucket', key: 'uploads/a b+c.jpg', size: 42 });
    // Act
    const event = toS3Event(minioWebhookEventSchema.parse(body), 'us-east-1');
    // Assess
    expect(body.Records[0]?.s3.object.key).toBe('uploads%2Fa+b%2Bc.jpg');
    expect(event.Records).toHaveLength(1);
    expect(event.Records[0]).toMatchObject({
      eventSource: 'aws:s3',
      awsRegion: 'us-east-1',
      eventName: 'ObjectCreated:Put',
      s3: {
        bucket: { name: 'uploads-bucket', arn: 'arn:aws:s3:::uploads-bucket' },
        object: { key: 'uploads/a b+c.jpg', size: 42, eTag: 'd41d8cd98f00b204e9800998ecf8427e' },
      },
    });
  });

  it('escapes keys like Go’s url.QueryEscape in the fixture', () => {
    // Assess
    expect(goQueryEscape('uploads/ä ~(x)*.jpg')).toBe('uploads%2F%C3%A4+~%28x%29%2A.jpg');
  });

  it('point each bucket notification at the webhook target with its events and key filters', () => {
    // Act
    const configurations = webhookNotificationConfigurations(
      [
        {
          bucketLogicalId: 'Uploads',
          bucketName: 'uploads-bucket',
          events: ['s3:ObjectCreated:*'],
          prefix: 'uploads/',
          functionLogicalId: 'Ingest',
        },
      ],
      DEFAULT_WEBHOOK_ARN,
    );
    // Assess
    expect([...configurations]).toEqual([
      [
        'uploads-bucket',
        [
          {
            Id: 'Ingest-0',
            QueueArn: 'arn:minio:sqs::MEDIAPIPELINE:webhook',
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'uploads/' }] } },
          },
        ],
      ],
    ]);
  });
});

describe('the runtime on an external S3 server (s3rver standing in for MinIO)', () => {
  const TOKEN = 'minio-webhook-token';
  let root: string;
  let external: S3Emulator;
  let runtime: LocalRuntime;
  const logged: string[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'media-pipeline-external-s3-'));
    external = await startS3({ directory: join(root, 'external-s3') });
    const settings = localSettingsFromEnvironment({
      S3_ENDPOINT: external.endpoint,
      S3_ACCESS_KEY_ID: 'S3RVER',
      S3_SECRET_ACCESS_KEY: 'S3RVER',
      S3_WEBHOOK_AUTH_TOKEN: TOKEN,
    });
    if (!settings.externalS3) throw new Error('no external S3 settings');
    runtime = await startLocalRuntime({
      dataDir: join(root, 'data'),
      port: 0,
      quiet: true,
      // Lambda's asynchronous retries after 1 and 2 seconds instead of minutes.
      asyncRetryScale: 1 / 60,
      log: (message) => logged.push(message),
      externalS3: settings.externalS3,
    });
  }, 180_000);

  afterAll(async () => {
    await runtime?.stop();
    await external?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  const api = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${runtime.apiUrl}${path}`, {
      method,
      headers: {
        ...(runtime.apiKey ? { authorization: `Bearer ${runtime.apiKey}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const postEvent = (body: unknown, token: string | null = TOKEN) =>
    fetch(`${runtime.apiUrl}${S3_EVENTS_PATH}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body),
    });
  const waitForStatus = async (id: string, statuses: string[], timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = (await api('GET', `/api/media/${id}/`)).body;
      if (statuses.includes(String(job.status)) || Date.now() > deadline) return job;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };

  it('says where it runs in runtime.json, for the keys CLI', async () => {
    // Act
    const file = JSON.parse(await readFile(join(root, 'data', 'runtime.json'), 'utf8'));

    // Assess
    expect(file).toMatchObject({
      pid: process.pid,
      apiUrl: runtime.apiUrl,
      dynamodbEndpoint: runtime.dynamodbEndpoint,
      region: 'us-east-1',
      authMode: runtime.authMode,
    });
    expect(file.jobsTable).toEqual(expect.any(String));
    expect(file.tenantsTable).toBe(runtime.tenantsTable);
  });

  it('creates the buckets on the external server and hands its endpoint to clients', async () => {
    // Prepare
    const client = new S3Client({
      endpoint: external.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      forcePathStyle: true,
    });
    // Assess
    expect(runtime.s3Endpoint).toBe(external.endpoint);
    expect(runtime.s3EventsUrl).toBe(`${runtime.apiUrl}${S3_EVENTS_PATH}`);
    expect(runtime.buckets.length).toBeGreaterThanOrEqual(3);
    for (const bucket of runtime.buckets) {
      await expect(client.send(new HeadBucketCommand({ Bucket: bucket }))).resolves.toBeDefined();
    }
    client.destroy();
  });

  it('says what to configure when the server refuses the webhook notification configuration', () => {
    // Assess: s3rver has no notification API (501); MinIO without the webhook target refuses the ARN.
    expect(logged.some((line) => line.includes(DEFAULT_WEBHOOK_ARN) && line.includes(S3_EVENTS_PATH))).toBe(
      true,
    );
  });

  it('answers MinIO’s liveness probe, and refuses events without the token or not in MinIO’s format', async () => {
    // Act
    const probe = await fetch(`${runtime.apiUrl}${S3_EVENTS_PATH}`, {
      method: 'HEAD',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const untokened = await postEvent({}, null);
    const malformed = await postEvent({ Records: [] });
    // Assess
    expect(probe.status).toBe(200);
    expect(untokened.status).toBe(401);
    expect(malformed.status).toBe(400);
  });

  it('ingests an upload to the external server when its ObjectCreated event arrives, up to done', async () => {
    // Prepare
    const photo = await makeJpeg(640, 480, 5);
    const created = await api('POST', '/api/media/', {
      file_name: 'photo.jpg',
      content_type: 'image/jpeg',
      size: photo.length,
      preset: 'default',
    });
    expect(created.status).toBe(201);
    const jobId = String(created.body.job_id);
    const ticket = created.body.upload as { url: string; headers: Record<string, string> };
    expect(ticket.url.startsWith(`${external.endpoint}/`)).toBe(true);
    const put = await fetch(ticket.url, {
      method: 'PUT',
      headers: ticket.headers,
      body: new Uint8Array(photo),
    });
    expect(put.ok).toBe(true);
    // The object is on the external server; without its event nothing happens.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await api('GET', `/api/media/${jobId}/`)).body.status).toBe('awaiting_upload');
    const url = new URL(ticket.url);
    const [, bucket = '', ...key] = url.pathname.split('/');
    // Act
    const delivered = await postEvent(
      minioObjectCreatedEvent({
        bucket,
        key: decodeURIComponent(key.join('/')),
        size: photo.length,
        contentType: 'image/jpeg',
      }),
    );
    const job = await waitForStatus(jobId, ['done', 'failed']);
    // Assess
    expect(delivered.status).toBe(200);
    expect(job).toMatchObject({ status: 'done', error: null });
    expect(Object.keys((job.result_urls as Record<string, string>) ?? {}).sort()).toEqual([
      'large',
      'medium',
      'thumb',
    ]);
  });
});
