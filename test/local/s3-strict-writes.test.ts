import { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localS3Client } from '#test/emulators';
import { sha256HexToBase64 } from '../../functions/api/create-upload.ts';
import { Bucket, errorOf, put, type StrictS3, sha256, startStrictS3, thrown } from './fixtures/strict-s3.ts';

/**
 * The local S3 checks bodies and conditions as AWS S3 does (local/s3rver-checksums.ts and
 * s3rver-conditions.ts in front of s3rver): a body that is not the one announced is not stored, and a
 * conditional write cannot overwrite.
 */

let env: StrictS3;
beforeAll(async () => {
  env = await startStrictS3();
});
afterAll(() => env?.close());

describe('x-amz-checksum-sha256', () => {
  it('stores the body when it matches', async () => {
    // Prepare
    const Key = env.newKey();
    const ticket = await env.presignUpload(Key, 'checked bytes', { sha256: sha256('checked bytes') });
    // Act
    const response = await put(ticket.url, ticket.headers, 'checked bytes');
    // Assess
    expect(response.status).toBe(200);
    expect(await env.stored(Key)).toBe('checked bytes');
  });

  it('refuses another body of the same size with BadDigest, and stores nothing', async () => {
    // Prepare
    const Key = env.newKey();
    const ticket = await env.presignUpload(Key, 'checked bytes', { sha256: sha256('checked bytes') });
    // Act
    const response = await put(ticket.url, ticket.headers, 'CHECKED BYTES');
    // Assess
    expect(await errorOf(response)).toMatchObject({ status: 400, code: 'BadDigest' });
    expect(await env.stored(Key)).toBeUndefined();
  });

  it('refuses a malformed value with InvalidRequest, on UploadPart too', async () => {
    // Prepare
    const Key = env.newKey();
    const { UploadId } = await env.client.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    // Act
    const partWith = (ChecksumSHA256: string) =>
      thrown(
        env.client.send(
          new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: 'part', ChecksumSHA256 }),
        ),
      );
    const error = await partWith('not-a-digest');
    const wrong = await partWith(sha256HexToBase64(sha256('other')));
    // Assess
    expect(error.name).toBe('InvalidRequest');
    expect(wrong.name).toBe('BadDigest');
  });
});

describe('conditional requests', () => {
  it('If-None-Match: * writes once; the second PUT is refused and the first bytes kept', async () => {
    // Prepare
    const Key = env.newKey();
    // Act
    await env.client.send(new PutObjectCommand({ Bucket, Key, Body: 'first', IfNoneMatch: '*' }));
    const error = await thrown(
      env.client.send(new PutObjectCommand({ Bucket, Key, Body: 'second', IfNoneMatch: '*' })),
    );
    // Assess
    expect(error.name).toBe('PreconditionFailed');
    expect(error.$metadata.httpStatusCode).toBe(412);
    expect(await env.stored(Key)).toBe('first');
  });

  it('lets exactly one of concurrent If-None-Match: * PUTs to a key succeed', async () => {
    // Prepare
    const Key = env.newKey();
    const bodies = ['a', 'b', 'c', 'd', 'e', 'f'].map((letter) => letter.repeat(64 * 1024));
    // Act
    const outcomes = await Promise.allSettled(
      bodies.map((Body) => env.client.send(new PutObjectCommand({ Bucket, Key, Body, IfNoneMatch: '*' }))),
    );
    // Assess
    const winners = outcomes.flatMap((outcome, index) =>
      outcome.status === 'fulfilled' ? [bodies[index]] : [],
    );
    const refusals = outcomes.flatMap((outcome) =>
      outcome.status === 'rejected' ? [outcome.reason.name] : [],
    );
    expect(winners).toHaveLength(1);
    expect(refusals).toEqual(Array(bodies.length - 1).fill('PreconditionFailed'));
    expect(await env.stored(Key)).toBe(winners[0]);
  });

  it('If-Match on GetObject and HeadObject: 412 for another ETag, the object for its own', async () => {
    // Prepare
    const Key = env.newKey();
    const { ETag } = await env.client.send(new PutObjectCommand({ Bucket, Key, Body: 'versioned' }));
    // Act
    const get = await thrown(env.client.send(new GetObjectCommand({ Bucket, Key, IfMatch: '"0123abc"' })));
    const head = await thrown(env.client.send(new HeadObjectCommand({ Bucket, Key, IfMatch: '"0123abc"' })));
    const same = await env.client.send(new GetObjectCommand({ Bucket, Key, IfMatch: ETag }));
    // Assess
    expect(get.name).toBe('PreconditionFailed');
    expect(get.$metadata.httpStatusCode).toBe(412);
    expect(head.$metadata.httpStatusCode).toBe(412);
    expect(await same.Body?.transformToString()).toBe('versioned');
  });

  it('If-Match on PutObject replaces only the version it names', async () => {
    // Prepare
    const Key = env.newKey();
    const { ETag } = await env.client.send(new PutObjectCommand({ Bucket, Key, Body: 'v1' }));
    // Act
    await env.client.send(new PutObjectCommand({ Bucket, Key, Body: 'v2', IfMatch: ETag }));
    const stale = await thrown(
      env.client.send(new PutObjectCommand({ Bucket, Key, Body: 'v3', IfMatch: ETag })),
    );
    const missing = await thrown(
      env.client.send(new PutObjectCommand({ Bucket, Key: env.newKey(), Body: 'x', IfMatch: ETag })),
    );
    // Assess
    expect(stale.name).toBe('PreconditionFailed');
    expect(missing.name).toBe('NoSuchKey');
    expect(await env.stored(Key)).toBe('v2');
  });

  it('CompleteMultipartUpload with If-None-Match: * over an existing key is refused', async () => {
    // Prepare
    const Key = env.newKey();
    await env.client.send(new PutObjectCommand({ Bucket, Key, Body: 'already here' }));
    const { UploadId } = await env.client.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    const { ETag } = await env.client.send(
      new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: 'part' }),
    );
    // Act
    const error = await thrown(
      env.client.send(
        new CompleteMultipartUploadCommand({
          Bucket,
          Key,
          UploadId,
          IfNoneMatch: '*',
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag }] },
        }),
      ),
    );
    // Assess
    expect(error.name).toBe('PreconditionFailed');
    expect(error.$metadata.httpStatusCode).toBe(412);
    expect(await env.stored(Key)).toBe('already here');
  });
});

describe('the SDK clients of the runtime (localS3Client)', () => {
  it('put, get, list, delete and complete multipart uploads as before', async () => {
    // Prepare
    const Key = `sdk/${env.newKey()}`;
    const multipartKey = `sdk/${env.newKey()}`;
    // Act
    await env.client.send(
      new PutObjectCommand({ Bucket, Key, Body: 'sdk bytes', ContentType: 'text/plain' }),
    );
    const got = await env.client.send(new GetObjectCommand({ Bucket, Key }));
    const { UploadId } = await env.client.send(
      new CreateMultipartUploadCommand({ Bucket, Key: multipartKey }),
    );
    const { ETag } = await env.client.send(
      new UploadPartCommand({ Bucket, Key: multipartKey, UploadId, PartNumber: 1, Body: 'one part' }),
    );
    await env.client.send(
      new CompleteMultipartUploadCommand({
        Bucket,
        Key: multipartKey,
        UploadId,
        IfNoneMatch: '*',
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag }] },
      }),
    );
    const listed = await env.client.send(new ListObjectsV2Command({ Bucket, Prefix: 'sdk/' }));
    await env.client.send(new DeleteObjectCommand({ Bucket, Key }));
    // Assess
    expect(await got.Body?.transformToString()).toBe('sdk bytes');
    expect(listed.Contents?.map((object) => object.Key).sort()).toEqual([Key, multipartKey].sort());
    expect(await env.stored(Key)).toBeUndefined();
    expect(await env.stored(multipartKey)).toBe('one part');
  });

  it('refuses an aws-chunked body (the SDK default WHEN_SUPPORTED) instead of storing its framing', async () => {
    // Prepare
    const chunked = localS3Client(env.s3.endpoint, {
      requestChecksumCalculation: 'WHEN_SUPPORTED',
      maxAttempts: 1,
    });
    // Act
    const error = await thrown(
      chunked.send(
        new PutObjectCommand({
          Bucket,
          Key: env.newKey(),
          Body: Readable.from([Buffer.from('streamed')]),
          ContentLength: 8,
        }),
      ),
    );
    // Assess
    expect(error.$metadata.httpStatusCode).toBe(501);
    chunked.destroy();
  });
});
