import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localS3Client, startS3 } from '../../local/emulators.ts';
import { completionRefusal, MIN_PART_BYTES } from '../../local/s3rver-multipart.ts';

const part = (number: number, size = MIN_PART_BYTES) => ({
  number,
  etag: `etag-${number}`,
  size,
  lastModified: new Date(),
});

describe('completionRefusal', () => {
  it.each([
    ['every part, in order', [1, 2, 3], undefined],
    ['parts out of order', [2, 1, 3], 'InvalidPartOrder'],
    ['a part twice', [1, 1, 3], 'InvalidPartOrder'],
    ['a part never sent', [1, 2, 4], 'InvalidPart'],
  ])('answers %s with %s', (_case, numbers, code) => {
    const stored = [part(1), part(2), part(3, 10)];
    const requested = numbers.map((number) => ({ number, etag: `etag-${number}` }));

    expect(completionRefusal(requested, stored)?.code).toBe(code);
  });

  it('refuses a wrong ETag and a short part before the last', () => {
    const stored = [part(1), part(2, 100), part(3, 10)];

    expect(completionRefusal([{ number: 1, etag: 'other' }], stored)?.code).toBe('InvalidPart');
    expect(
      completionRefusal(
        [1, 2, 3].map((number) => ({ number, etag: `etag-${number}` })),
        stored,
      )?.code,
    ).toBe('EntityTooSmall');
  });
});

describe('s3rver with the multipart operations it lacks', () => {
  let directory: string;
  let s3: Awaited<ReturnType<typeof startS3>>;
  let client: S3Client;
  const Bucket = 'multipart';
  const Key = 'uploads/a';

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 's3rver-multipart-'));
    s3 = await startS3({ directory });
    client = localS3Client(s3.endpoint);
    await client.send(new CreateBucketCommand({ Bucket }));
  });
  afterAll(async () => {
    client?.destroy();
    await s3?.stop();
    await rm(directory, { recursive: true, force: true });
  });

  it('lists parts by page, aborts, and then refuses parts, listings and completion with NoSuchUpload', async () => {
    // Prepare
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    for (const PartNumber of [1, 2, 3]) {
      await client.send(
        new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body: `part ${PartNumber}` }),
      );
    }

    // Act
    const firstPage = await client.send(new ListPartsCommand({ Bucket, Key, UploadId, MaxParts: 2 }));
    const secondPage = await client.send(
      new ListPartsCommand({ Bucket, Key, UploadId, PartNumberMarker: firstPage.NextPartNumberMarker }),
    );
    await client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId }));

    // Assess
    expect(firstPage).toMatchObject({ IsTruncated: true, NextPartNumberMarker: '2' });
    expect(firstPage.Parts?.map((p) => [p.PartNumber, p.Size])).toEqual([
      [1, 6],
      [2, 6],
    ]);
    expect(secondPage).toMatchObject({
      IsTruncated: false,
      Parts: [expect.objectContaining({ PartNumber: 3 })],
    });
    const refused = { name: 'NoSuchUpload' };
    await expect(client.send(new ListPartsCommand({ Bucket, Key, UploadId }))).rejects.toMatchObject(refused);
    await expect(
      client.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 4, Body: 'late' })),
    ).rejects.toMatchObject(refused);
    await expect(
      client.send(
        new CompleteMultipartUploadCommand({
          Bucket,
          Key,
          UploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: firstPage.Parts?.[0]?.ETag }] },
        }),
      ),
    ).rejects.toMatchObject(refused);
  });
});
