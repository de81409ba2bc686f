/**
 * The local runtime on an S3 server of the user's (MinIO) instead of the embedded s3rver. What changes:
 * - provisioning creates the template's buckets there (and their CORS rules where the server has the
 *   API: MinIO's community server applies MINIO_API_CORS_ALLOW_ORIGIN to every bucket instead);
 * - the functions, and so presigned URLs, use its endpoint and credentials;
 * - ObjectCreated events come from its webhook notification target: the server POSTs each event to
 *   `S3_EVENTS_PATH` on the runtime's API port, this module turns MinIO's payload into S3's event
 *   shape and emits it where s3rver's events would be, so the same bridge (s3-notifications.ts) invokes
 *   the functions; and the runtime configures the buckets' notifications on the server
 *   (PutBucketNotificationConfiguration to the webhook target's ARN).
 *
 * MinIO's webhook body (internal/event/target/webhook.go, event.Log): `{EventName, Key, Records: [event]}`
 * where `Key` is `<bucket>/<key>` and the one record is S3's event record, except that `eventName` keeps
 * the `s3:` prefix and `s3.object.key` is query-escaped (`/` as `%2F`, space as `+`).
 */
import type { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  PutBucketNotificationConfigurationCommand,
  type QueueConfiguration,
  type S3Client,
  type Event as S3EventName,
} from '@aws-sdk/client-s3';
import type { S3Event, S3EventRecord } from 'aws-lambda';
import { z } from 'zod';
import { decodeS3EventKey } from './events/s3-record.ts';
import type { ExtraRoute } from './http-api.ts';
import type { BucketNotificationSpec } from './types.ts';

/** Where the runtime takes S3 event notifications, on its API port (outside the API's own paths). */
export const S3_EVENTS_PATH = '/_local/s3-events';

/** The webhook target id the compose file configures (MINIO_NOTIFY_WEBHOOK_*_MEDIAPIPELINE). */
export const DEFAULT_WEBHOOK_TARGET_ID = 'MEDIAPIPELINE';
/** MinIO names a webhook target `arn:minio:sqs:<region>:<id>:webhook`; the region is empty unless set. */
export const DEFAULT_WEBHOOK_ARN = `arn:minio:sqs::${DEFAULT_WEBHOOK_TARGET_ID}:webhook`;

/** An S3 server the runtime uses instead of s3rver. */
export interface ExternalS3Options {
  /** As the runtime and the functions reach it, e.g. `http://127.0.0.1:9000`; presigned URLs carry it. */
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The region the server expects in signatures (MinIO accepts any unless MINIO_SITE_REGION is set). */
  region: string;
  /** ARN of the server's webhook notification target that posts to this runtime. */
  webhookArn: string;
  /** The token the server sends as `Authorization: Bearer …` (MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_<ID>). */
  webhookAuthToken?: string;
}

const minioRecordSchema = z.object({
  eventVersion: z.string().default('2.0'),
  eventSource: z.string().default('minio:s3'),
  awsRegion: z.string().default(''),
  eventTime: z.string(),
  eventName: z.string(),
  userIdentity: z.object({ principalId: z.string().default('') }).default({ principalId: '' }),
  requestParameters: z.record(z.string(), z.string()).default({}),
  responseElements: z.record(z.string(), z.string()).default({}),
  s3: z.object({
    s3SchemaVersion: z.string().default('1.0'),
    configurationId: z.string().default(''),
    bucket: z.object({
      name: z.string().min(1),
      ownerIdentity: z.object({ principalId: z.string().default('') }).default({ principalId: '' }),
    }),
    object: z.object({
      key: z.string().min(1),
      size: z.number().int().nonnegative().default(0),
      eTag: z.string().default(''),
      versionId: z.string().optional(),
      sequencer: z.string().default(''),
    }),
  }),
});

/** The body MinIO's webhook target POSTs for one event. */
export const minioWebhookEventSchema = z.object({
  EventName: z.string(),
  Key: z.string(),
  Records: z.array(minioRecordSchema).min(1),
});

export type MinioWebhookEvent = z.input<typeof minioWebhookEventSchema>;

/**
 * MinIO's webhook body as the S3 event s3rver emits (keys as stored, `ObjectCreated:Put` without the
 * `s3:` prefix); the bridge encodes keys and names the configuration as S3 would.
 */
export const toS3Event = (body: z.output<typeof minioWebhookEventSchema>, region: string): S3Event => ({
  Records: body.Records.map(
    (record): S3EventRecord => ({
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: record.awsRegion || region,
      eventTime: record.eventTime,
      eventName: record.eventName.replace(/^s3:/, '') as S3EventRecord['eventName'],
      userIdentity: { principalId: record.userIdentity.principalId },
      requestParameters: { sourceIPAddress: record.requestParameters.sourceIPAddress ?? '' },
      responseElements: {
        'x-amz-request-id': record.responseElements['x-amz-request-id'] ?? '',
        'x-amz-id-2': record.responseElements['x-amz-id-2'] ?? '',
      },
      s3: {
        s3SchemaVersion: '1.0',
        configurationId: record.s3.configurationId,
        bucket: {
          name: record.s3.bucket.name,
          ownerIdentity: { principalId: record.s3.bucket.ownerIdentity.principalId },
          arn: `arn:aws:s3:::${record.s3.bucket.name}`,
        },
        object: {
          // MinIO escapes keys with Go's url.QueryEscape; the bridge wants them as stored.
          key: decodeS3EventKey(record.s3.object.key),
          size: record.s3.object.size,
          eTag: record.s3.object.eTag,
          sequencer: record.s3.object.sequencer,
          ...(record.s3.object.versionId ? { versionId: record.s3.object.versionId } : {}),
        },
      },
    }),
  ),
});

const MAX_EVENT_BYTES = 1024 * 1024;

const readBody = (request: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_EVENT_BYTES) {
        reject(new Error('event body over 1 MiB'));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });

const answer = (response: ServerResponse, status: number, body?: unknown): void => {
  const text = body === undefined ? '' : JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
};

/**
 * The route MinIO's webhook target calls: HEAD (MinIO's liveness probe) and GET answer 200; POST takes
 * one event, answers 200 at once and emits it as an S3 event on `events` (the bridge delivers it to the
 * functions asynchronously, as S3 does). A wrong token is 401, a body that is not MinIO's event 400.
 */
export const s3EventsRoute = (
  events: EventEmitter<{ event: [S3Event] }>,
  options: { region: string; authToken?: string; log?: (message: string) => void },
): ExtraRoute => ({
  method: 'ANY',
  path: S3_EVENTS_PATH,
  handle: async (request, response) => {
    if (options.authToken !== undefined) {
      const expected = `Bearer ${options.authToken}`;
      if (request.headers.authorization !== expected) {
        answer(response, 401, { message: 'missing or wrong Authorization: Bearer token' });
        return;
      }
    }
    if (request.method === 'HEAD' || request.method === 'GET') {
      answer(response, 200);
      return;
    }
    if (request.method !== 'POST') {
      answer(response, 405, { message: 'POST an S3 event notification (MinIO webhook format)' });
      return;
    }
    let parsed: z.output<typeof minioWebhookEventSchema>;
    try {
      const result = minioWebhookEventSchema.safeParse(JSON.parse(await readBody(request)));
      if (!result.success) {
        answer(response, 400, {
          message: `not a MinIO webhook event: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
        });
        return;
      }
      parsed = result.data;
    } catch (error) {
      answer(response, 400, { message: `not a JSON event body: ${(error as Error).message}` });
      return;
    }
    answer(response, 200, {});
    try {
      events.emit('event', toS3Event(parsed, options.region));
    } catch (error) {
      options.log?.(`s3 event ${parsed.Key}: ${String(error)}`);
    }
  },
});

/**
 * The buckets' notifications as the S3 server's own configuration: one queue configuration per
 * notification to the webhook target, with the template's events and key filters. Replaces what a
 * bucket had (the runtime owns these buckets).
 */
export const webhookNotificationConfigurations = (
  notifications: readonly BucketNotificationSpec[],
  webhookArn: string,
): Map<string, QueueConfiguration[]> => {
  const byBucket = new Map<string, QueueConfiguration[]>();
  for (const [index, notification] of notifications.entries()) {
    const rules = [
      ...(notification.prefix ? [{ Name: 'prefix' as const, Value: notification.prefix }] : []),
      ...(notification.suffix ? [{ Name: 'suffix' as const, Value: notification.suffix }] : []),
    ];
    const configurations = byBucket.get(notification.bucketName) ?? [];
    configurations.push({
      Id: `${notification.functionLogicalId}-${index}`,
      QueueArn: webhookArn,
      Events: notification.events as S3EventName[],
      ...(rules.length > 0 ? { Filter: { Key: { FilterRules: rules } } } : {}),
    });
    byBucket.set(notification.bucketName, configurations);
  }
  return byBucket;
};

/**
 * Points the buckets' notifications at the webhook target. Returns one problem per bucket the server
 * refused (an unknown ARN: the webhook target is not configured, or its region differs), so that the
 * runtime can say what to set without refusing to start: objects then arrive without events.
 */
export const configureWebhookNotifications = async (
  s3: S3Client,
  notifications: readonly BucketNotificationSpec[],
  webhookArn: string,
): Promise<string[]> => {
  const problems: string[] = [];
  for (const [bucket, configurations] of webhookNotificationConfigurations(notifications, webhookArn)) {
    try {
      await s3.send(
        new PutBucketNotificationConfigurationCommand({
          Bucket: bucket,
          NotificationConfiguration: { QueueConfigurations: configurations },
        }),
      );
    } catch (error) {
      problems.push(`${bucket}: ${(error as Error).name}: ${(error as Error).message}`);
    }
  }
  return problems;
};
