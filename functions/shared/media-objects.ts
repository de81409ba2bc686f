import { createWriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { PermanentMediaError } from './errors.ts';

/** Reads a whole object into memory, refusing one larger than `maxBytes` before reading it. */
export const readObject = async (
  s3: S3Client,
  bucket: string,
  key: string,
  maxBytes: number,
): Promise<Buffer> => {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
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

/** Streams an object to a local file (videos: ffmpeg seeks in the file instead of reading it all). */
export const downloadObject = async (
  s3: S3Client,
  bucket: string,
  key: string,
  path: string,
): Promise<void> => {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
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
