import type { EventEmitter } from 'node:events';
import type { S3Event, S3EventRecord } from 'aws-lambda';
import type { AsyncInvoker } from './async-invoke.ts';
import { decodeS3EventKey, toS3NotificationRecord } from './events/s3-record.ts';
import type { BucketNotificationSpec, Stoppable } from './types.ts';

/**
 * S3 event notifications to functions. The S3 backend (local/s3-backend.ts) emits every object event,
 * AWS-shaped with keys as stored: s3rver from its own emitter (it answers
 * PutBucketNotificationConfiguration with 501), an external server through its webhook. This bridge
 * matches them against the template's bucket notifications and hands one S3 event per matching
 * notification to Lambda's asynchronous invocation (local/async-invoke.ts: retries, event age,
 * dead-letter queue), as S3 invokes a function.
 *
 * - Matching: bucket name, event name (`s3:ObjectCreated:*` matches `ObjectCreated:Put`), prefix and
 *   suffix on the key as stored (decoded).
 * - Shaping (local/events/s3-record.ts): the key URL-encoded as S3 encodes it, the bucket ARN, the
 *   notification named in configurationId. s3rver reports a completed multipart upload as
 *   `ObjectCreated:Post`, where S3 says `ObjectCreated:CompleteMultipartUpload`; both match
 *   `s3:ObjectCreated:*`.
 */

export interface S3NotificationBridge extends Stoppable {
  /** Resolves once every event handed on so far is delivered, dead-lettered or logged. */
  idle(): Promise<void>;
}

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

/**
 * Starts bridging `events` to the notifications' functions through `asyncInvoker`. Stopping only stops
 * listening: what was handed on is the invoker's to finish or log when it stops.
 */
export const startS3Notifications = (
  events: EventEmitter<{ event: [S3Event] }>,
  notifications: readonly BucketNotificationSpec[],
  asyncInvoker: AsyncInvoker,
): S3NotificationBridge => {
  const onEvent = (emitted: S3Event): void => {
    for (const record of emitted.Records ?? []) {
      for (const [index, notification] of notifications.entries()) {
        if (!notificationMatches(notification, record)) continue;
        const event: S3Event = {
          Records: [toS3NotificationRecord(record, `${notification.functionLogicalId}-${index}`)],
        };
        const key = decodeS3EventKey(event.Records[0]?.s3.object.key ?? '');
        asyncInvoker.invokeAsync(notification.functionLogicalId, event, { trigger: `s3 ${key}` });
      }
    }
  };
  events.on('event', onEvent);
  return {
    idle: () => asyncInvoker.idle(),
    stop: async () => {
      events.off('event', onEvent);
    },
  };
};
