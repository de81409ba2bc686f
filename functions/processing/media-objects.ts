import { createWriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  GetObjectCommand,
  type GetObjectCommandOutput,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { PermanentMediaError } from '#shared/errors';
import type { Job } from '#shared/job';

/** What ingest checked: the processors read these bytes and no others. */
export type CheckedUpload = Pick<Job, 'upload_key' | 'upload_etag'>;

/**
 * Opens the object ingest hashed and sniffed, pinned to the ETag it saw (`IfMatch`): an object
 * replaced since then (overwritten, or deleted and written again) is refused by S3 with 412 and the job
 * fails readably instead of rendering other bytes than the ones its `file_hash` names. Presigned
 * uploads cannot overwrite (they sign `If-None-Match: *`); this holds whatever else writes the key.
 */
const getCheckedUpload = async (
  s3: S3Client,
  bucket: string,
  upload: CheckedUpload,
): Promise<GetObjectCommandOutput> => {
  try {
    return await s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: upload.upload_key, IfMatch: upload.upload_etag }),
    );
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    const name = error instanceof Error ? error.name : '';
    if (status === 412 || name === 'PreconditionFailed') {
      throw new PermanentMediaError(
        'Upload::Changed',
        'the uploaded file was replaced after it was checked, so it is not processed; upload the file again as a new job',
        { cause: error },
      );
    }
    throw error;
  }
};

/** Reads the checked upload into memory, refusing one larger than `maxBytes` before reading it. */
export const readUpload = async (
  s3: S3Client,
  bucket: string,
  upload: CheckedUpload,
  maxBytes: number,
): Promise<Buffer> => {
  const object = await getCheckedUpload(s3, bucket, upload);
  const length = object.ContentLength ?? 0;
  if (length > maxBytes) {
    (object.Body as Readable | undefined)?.destroy();
    throw new PermanentMediaError(
      'Media::TooLarge',
      `the file has ${length} bytes; the limit is ${maxBytes}`,
    );
  }
  const bytes = await object.Body?.transformToByteArray();
  return Buffer.from(bytes?.buffer ?? new ArrayBuffer(0), bytes?.byteOffset ?? 0, bytes?.byteLength ?? 0);
};

/** Streams the checked upload to a local file (videos: ffmpeg seeks in the file instead of reading it all). */
export const downloadUpload = async (
  s3: S3Client,
  bucket: string,
  upload: CheckedUpload,
  path: string,
): Promise<void> => {
  const object = await getCheckedUpload(s3, bucket, upload);
  await pipeline(object.Body as Readable, createWriteStream(path));
};

/** Outputs are immutable: a job id names them and a retry rewrites the same bytes. */
export const storeOutput = async (
  s3: S3Client,
  bucket: string,
  key: string,
  data: Buffer,
  contentType: string,
): Promise<void> => {
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: data,
      ContentType: contentType,
      CacheControl: 'private, max-age=31536000, immutable',
    }),
  );
};
