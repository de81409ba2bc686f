import type { EventEmitter } from 'node:events';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { S3Event, S3EventRecord } from 'aws-lambda';
import { abortableSleep } from './abortable-sleep.ts';
import { decodeS3EventKey, toS3NotificationRecord } from './events/s3-record.ts';
import {
  type BucketNotificationSpec,
  type FunctionInvoker,
  type FunctionSpec,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type Stoppable,
} from './types.ts';

/**
 * S3 event notifications to functions. s3rver answers PutBucketNotificationConfiguration with 501 but
 * emits every object event, AWS-shaped, on its `event` emitter: this bridge matches them against the
 * template's bucket notifications and invokes the functions the way S3 does, asynchronously.
 *
 * - Matching: bucket name, event name (`s3:ObjectCreated:*` matches `ObjectCreated:Put`), prefix and
 *   suffix on the key as stored (decoded).
 * - The event each function gets is S3's: s3rver emits keys as stored (`uploads/my file.jpg`), S3
 *   URL-encodes them (`uploads/my+file.jpg`), so the bridge encodes them; it also corrects the
 *   bucket ARN (s3rver writes `arn:aws:s3: : :name`) and names the notification in configurationId.
 *   s3rver reports a completed multipart upload as `ObjectCreated:Post`, where S3 says
 *   `ObjectCreated:CompleteMultipartUpload`; both match `s3:ObjectCreated:*`.
 * - Lambda's asynchronous invocation: a failed invocation (error, timeout, crash) is retried twice,
 *   after `retryDelaysMs` (AWS waits about 1 and 2 minutes; here 1 and 2 seconds by default); after
 *   the last failure the event goes to the function's dead-letter queue (DeadLetterConfig) as JSON,
 *   with Lambda's RequestID / ErrorCode / ErrorMessage attributes. Without a dead-letter queue, or if
 *   sending to it fails, the bridge logs the whole event: nothing is dropped silently.
 */

export interface S3NotificationOptions {
  /** The functions (for their `deadLetterTargetArn`). */
  functions: readonly FunctionSpec[];
  /** Queue URL of each dead-letter queue, by ARN. */
  queueUrlsByArn: Readonly<Record<string, string>>;
  /** The SQS emulator's endpoint, for the dead-letter queues. */
  sqsEndpoint: string;
  /** @default LOCAL_REGION */
  region?: string;
  /** @default LOCAL_CREDENTIALS */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Delay before each retry; its length is the number of retries. @default [1000, 2000] */
  retryDelaysMs?: readonly number[];
  log?: (message: string) => void;
}

export interface S3NotificationBridge extends Stoppable {
  /** Resolves once every event received so far is delivered, dead-lettered or logged. */
  idle(): Promise<void>;
}

export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [1_000, 2_000];

/** Whether a notification's event names (`s3:ObjectCreated:*`, `s3:ObjectCreated:Put`) cover an event. */
export const eventNameMatches = (patterns: readonly string[], eventName: string): boolean => {
  const name = eventName.startsWith('s3:') ? eventName : `s3:${eventName}`;
  return patterns.some((pattern) =>
    pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : pattern === name,
  );
};

export const notificationMatches = (notification: BucketNotificationSpec, record: S3EventRecord): boolean => {
  const key = record.s3.object.key;
  return (
    record.s3.bucket.name === notification.bucketName &&
    eventNameMatches(notification.events, record.eventName) &&
    key.startsWith(notification.prefix ?? '') &&
    key.endsWith(notification.suffix ?? '')
  );
};

/** Starts bridging `events` (s3rver's emitter, or one that re-emits it) to the notifications' functions. */
export const startS3Notifications = (
  events: EventEmitter,
  notifications: readonly BucketNotificationSpec[],
  invoker: FunctionInvoker,
  options: S3NotificationOptions,
): S3NotificationBridge => {
  const retryDelaysMs = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  const log = options.log ?? ((message: string) => process.stderr.write(`[s3-notifications] ${message}\n`));
  const functions = new Map(options.functions.map((spec) => [spec.logicalId, spec]));
  const sqs = new SQSClient({
    endpoint: options.sqsEndpoint,
    region: options.region ?? LOCAL_REGION,
    credentials: options.credentials ?? LOCAL_CREDENTIALS,
    useQueueUrlAsEndpoint: false,
  });
  const controller = new AbortController();
  const pending = new Set<Promise<void>>();

  const deadLetter = async (
    notification: BucketNotificationSpec,
    event: S3Event,
    error: { name: string; message: string },
    attempts: number,
  ): Promise<void> => {
    const spec = functions.get(notification.functionLogicalId);
    const arn = spec?.deadLetterTargetArn;
    const key = event.Records[0]?.s3.object.key ?? '';
    const summary = `${notification.functionLogicalId} failed on s3 ${key} ${attempts} times (${error.name}: ${error.message})`;
    const queueUrl = arn ? options.queueUrlsByArn[arn] : undefined;
    if (!arn || !queueUrl) {
      log(
        `${summary}; ${arn ? `no queue URL known for its dead-letter queue ${arn}` : 'it has no dead-letter queue'}: event dropped, as on AWS: ${JSON.stringify(event)}`,
      );
      return;
    }
    try {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: JSON.stringify(event),
          MessageAttributes: {
            RequestID: {
              DataType: 'String',
              StringValue: event.Records[0]?.responseElements['x-amz-request-id'] ?? '',
            },
            ErrorCode: { DataType: 'Number', StringValue: '200' },
            ErrorMessage: {
              DataType: 'String',
              StringValue: `${error.name}: ${error.message}`.slice(0, 1024),
            },
          },
        }),
      );
      log(`${summary}; sent to its dead-letter queue`);
    } catch (sendError) {
      log(
        `${summary}; sending to its dead-letter queue failed (${String(sendError)}): ${JSON.stringify(event)}`,
      );
    }
  };

  const deliver = async (notification: BucketNotificationSpec, event: S3Event): Promise<void> => {
    const key = decodeS3EventKey(event.Records[0]?.s3.object.key ?? '');
    let lastError = { name: 'Error', message: 'not invoked' };
    for (let attempt = 0; attempt <= retryDelaysMs.length; attempt++) {
      if (attempt > 0) {
        await abortableSleep(retryDelaysMs[attempt - 1] ?? 0, controller.signal);
        if (controller.signal.aborted) {
          log(
            `shutting down with s3 ${key} still to retry for ${notification.functionLogicalId}: ${JSON.stringify(event)}`,
          );
          return;
        }
      }
      try {
        const outcome = await invoker.invoke(notification.functionLogicalId, event, { trigger: `s3 ${key}` });
        if (outcome.ok) return;
        lastError = outcome.error;
      } catch (error) {
        lastError = error instanceof Error ? error : { name: 'Error', message: String(error) };
      }
    }
    await deadLetter(notification, event, lastError, retryDelaysMs.length + 1);
  };

  const onEvent = (emitted: S3Event): void => {
    if (controller.signal.aborted) return;
    for (const record of emitted.Records ?? []) {
      for (const [index, notification] of notifications.entries()) {
        if (!notificationMatches(notification, record)) continue;
        const event: S3Event = {
          Records: [toS3NotificationRecord(record, `${notification.functionLogicalId}-${index}`)],
        };
        const work = deliver(notification, event).catch((error: unknown) =>
          log(`delivering s3 ${record.s3.object.key} failed: ${String(error)}: ${JSON.stringify(event)}`),
        );
        pending.add(work);
        void work.finally(() => pending.delete(work));
      }
    }
  };

  events.on('event', onEvent);

  const idle = async (): Promise<void> => {
    while (pending.size > 0) await Promise.allSettled([...pending]);
  };

  return {
    idle,
    stop: async () => {
      events.off('event', onEvent);
      controller.abort();
      await idle();
      sqs.destroy();
    },
  };
};
