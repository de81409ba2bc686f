/**
 * S3 event notification records as S3 sends them to a function. The local S3 servers report objects
 * with their keys as stored (`uploads/my file.jpg`); S3 URL-encodes keys in notifications
 * (`uploads/my+file.jpg`), writes the bucket ARN as `arn:aws:s3:::name` (s3rver writes
 * `arn:aws:s3: : :name`) and names the notification configuration in `configurationId`.
 */
import type { S3EventRecord } from 'aws-lambda';

/** S3's encoding of keys in event notifications: form encoding (space as `+`), `/` kept. */
export const encodeS3EventKey = (key: string): string =>
  encodeURIComponent(key)
    .replace(/%2F/gi, '/')
    .replace(/%20/g, '+')
    .replace(/[!'()~]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * A form-encoded key (S3's notifications, MinIO's Go `url.QueryEscape`) as stored; a malformed
 * encoding is returned as it came.
 */
export const decodeS3EventKey = (key: string): string => {
  try {
    return decodeURIComponent(key.replace(/\+/g, ' '));
  } catch {
    return key;
  }
};

/**
 * The record as S3 would send it for one notification configuration, from a record whose key is as
 * stored (a copy: each function gets its own event).
 */
export const toS3NotificationRecord = (record: S3EventRecord, configurationId: string): S3EventRecord => {
  const copy = structuredClone(record);
  copy.s3.object.key = encodeS3EventKey(record.s3.object.key);
  copy.s3.bucket.arn = `arn:aws:s3:::${record.s3.bucket.name}`;
  copy.s3.configurationId = configurationId;
  return copy;
};
