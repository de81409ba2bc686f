import { createHash } from 'node:crypto';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketCorsCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localS3Client, type S3Emulator, startS3 } from '#test/emulators';
import { presignUpload, sha256HexToBase64 } from '../../functions/api/create-upload.ts';

/**
 * The local S3 refuses what AWS S3 refuses (local/s3rver-sigv4.ts, s3rver-checksums.ts,
 * s3rver-conditions.ts in front of s3rver), so that a wrong upload fails here and not first once
 * deployed.
 */

const Bucket = 'strict';
const ORIGIN = 'http://127.0.0.1:3000';
let s3: S3Emulator;
let client: S3Client;
let keys = 0;
const newKey = () => `uploads/strict-${keys++}`;

beforeAll(async () => {
  s3 = await startS3();
  client = localS3Client(s3.endpoint);
  await client.send(new CreateBucketCommand({ Bucket }));
  await client.send(
    new PutBucketCorsCommand({
      Bucket,
      CORSConfiguration: {
        CORSRules: [
          {
            AllowedOrigins: [ORIGIN],
            AllowedMethods: ['PUT', 'GET'],
            AllowedHeaders: ['*'],
            ExposeHeaders: ['ETag'],
          },
        ],
      },
    }),
  );
});
afterAll(async () => {
  client?.destroy();
  await s3?.close();
});

const errorOf = async (response: Response) => {
  const text = await response.text();
  return {
    status: response.status,
    code: /<Code>([^<]*)<\/Code>/.exec(text)?.[1],
    message: /<Message>([^<]*)<\/Message>/.exec(text)?.[1],
  };
};

const stored = async (Key: string): Promise<string | undefined> => {
  try {
    const object = await client.send(new GetObjectCommand({ Bucket, Key }));
    return object.Body?.transformToString();
  } catch (error) {
    if ((error as Error).name === 'NoSuchKey') return undefined;
    throw error;
  }
};

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const upload = async (Key: string, bytes: string, extra: { sha256?: string; signingDate?: Date } = {}) => {
  const job = { upload_key: Key, content_type: 'image/jpeg', size: Buffer.byteLength(bytes), ...extra };
  return presignUpload(client, Bucket, job, 900, extra.signingDate);
};

const put = (url: string, headers: Record<string, string>, body: string) =>
  fetch(url, { method: 'PUT', headers, body: new TextEncoder().encode(body) });

const thrown = async (promise: Promise<unknown>) => {
  try {
    await promise;
  } catch (error) {
    return error as Error & { $metadata: { httpStatusCode?: number } };
  }
  throw new Error('expected the request to be refused');
};

describe('presigned URLs', () => {
  it('take a PUT from presignUpload with the headers it lists', async () => {
    // Prepare
    const Key = newKey();
    const ticket = await upload(Key, 'jpeg bytes');
    // Act
    const response = await put(ticket.url, { 'Content-Type': 'image/jpeg' }, 'jpeg bytes');
    // Assess
    expect(response.status).toBe(200);
    expect(await stored(Key)).toBe('jpeg bytes');
  });

  it('refuse the same URL with another Content-Type: SignatureDoesNotMatch, nothing stored', async () => {
    // Prepare
    const Key = newKey();
    const ticket = await upload(Key, 'jpeg bytes');
    // Act
    const response = await put(ticket.url, { 'Content-Type': 'text/html' }, 'jpeg bytes');
    // Assess
    expect(await errorOf(response)).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
    expect(await stored(Key)).toBeUndefined();
  });

  it('refuse another size than the signed Content-Length', async () => {
    // Prepare
    const Key = newKey();
    const ticket = await upload(Key, 'jpeg bytes');
    // Act
    const response = await put(ticket.url, { 'Content-Type': 'image/jpeg' }, 'jpeg bytes and more');
    // Assess
    expect(await errorOf(response)).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
  });

  it('refuse a tampered signature', async () => {
    // Prepare
    const ticket = await upload(newKey(), 'jpeg bytes');
    const url = new URL(ticket.url);
    const signature = url.searchParams.get('X-Amz-Signature') ?? '';
    url.searchParams.set('X-Amz-Signature', `${signature.startsWith('0') ? '1' : '0'}${signature.slice(1)}`);
    // Act
    const response = await put(url.href, { 'Content-Type': 'image/jpeg' }, 'jpeg bytes');
    // Assess
    expect(await errorOf(response)).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
  });

  it('refuse a request without a signed header', async () => {
    // Prepare
    const ticket = await upload(newKey(), 'jpeg bytes');
    // Act: no Content-Type at all
    const response = await put(ticket.url, {}, 'jpeg bytes');
    // Assess
    expect(await errorOf(response)).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
  });

  it('refuse an expired URL: AccessDenied, Request has expired', async () => {
    // Prepare: signed ten minutes ago for one minute
    const url = await getSignedUrl(client, new GetObjectCommand({ Bucket, Key: newKey() }), {
      expiresIn: 60,
      signingDate: new Date(Date.now() - 10 * 60_000),
    });
    // Act
    const response = await fetch(url);
    // Assess
    expect(await errorOf(response)).toEqual({
      status: 403,
      code: 'AccessDenied',
      message: 'Request has expired',
    });
  });

  it('refuse a lifetime over a week as S3 does', async () => {
    // Prepare
    const url = new URL(await getSignedUrl(client, new GetObjectCommand({ Bucket, Key: newKey() })));
    url.searchParams.set('X-Amz-Expires', '604801');
    // Act
    const response = await fetch(url);
    // Assess
    expect(await errorOf(response)).toMatchObject({ status: 400, code: 'AuthorizationQueryParametersError' });
  });

  it('serve a presigned GET, as the job view hands out for results', async () => {
    // Prepare
    const Key = newKey();
    await client.send(new PutObjectCommand({ Bucket, Key, Body: 'result' }));
    const url = await getSignedUrl(client, new GetObjectCommand({ Bucket, Key }), { expiresIn: 60 });
    // Act
    const response = await fetch(url, { headers: { Origin: ORIGIN } });
    // Assess
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('result');
  });

  it('bind If-None-Match: * when it is signed: the second PUT of the URL is refused and the first kept', async () => {
    // Prepare: as the API presigns a PUT that cannot overwrite
    const Key = newKey();
    const url = await getSignedUrl(
      client,
      new PutObjectCommand({ Bucket, Key, ContentType: 'image/jpeg', ContentLength: 5, IfNoneMatch: '*' }),
      { expiresIn: 60, signableHeaders: new Set(['content-type', 'content-length', 'if-none-match']) },
    );
    const headers = { 'Content-Type': 'image/jpeg', 'If-None-Match': '*' };
    // Act
    const first = await put(url, headers, 'first');
    const second = await put(url, headers, 'again');
    const unconditional = await put(url, { 'Content-Type': 'image/jpeg' }, 'again');
    // Assess
    expect(first.status).toBe(200);
    expect(await errorOf(second)).toMatchObject({ status: 412, code: 'PreconditionFailed' });
    expect(await errorOf(unconditional)).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
    expect(await stored(Key)).toBe('first');
  });
});

describe('requests without a valid signature', () => {
  it('are refused when anonymous, with the Origin allowed so that a page can read why', async () => {
    // Prepare
    const Key = newKey();
    await client.send(new PutObjectCommand({ Bucket, Key, Body: 'private' }));
    // Act
    const anonymousPut = await fetch(`${s3.endpoint}/${Bucket}/${newKey()}`, {
      method: 'PUT',
      headers: { Origin: ORIGIN },
      body: 'x',
    });
    const anonymousGet = await fetch(`${s3.endpoint}/${Bucket}/${Key}`);
    // Assess
    expect(anonymousPut.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(await errorOf(anonymousPut)).toEqual({
      status: 403,
      code: 'AccessDenied',
      message: 'Access Denied',
    });
    expect(await errorOf(anonymousGet)).toMatchObject({ status: 403, code: 'AccessDenied' });
  });

  it('leave CORS preflights to the bucket rules (never signed)', async () => {
    // Act
    const preflight = await fetch(`${s3.endpoint}/${Bucket}/${newKey()}`, {
      method: 'OPTIONS',
      headers: {
        Origin: ORIGIN,
        'Access-Control-Request-Method': 'PUT',
        'Access-Control-Request-Headers': 'content-type,x-amz-checksum-sha256,if-none-match',
      },
    });
    // Assess
    expect(preflight.status).toBe(200);
    expect(preflight.headers.get('access-control-allow-methods')).toContain('PUT');
  });

  it('are refused with another secret (SignatureDoesNotMatch) or an unknown key (InvalidAccessKeyId)', async () => {
    // Prepare
    const wrongSecret = localS3Client(s3.endpoint, {
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'guessed' },
      maxAttempts: 1,
    });
    const unknownKey = localS3Client(s3.endpoint, {
      credentials: { accessKeyId: 'AKIAUNKNOWN', secretAccessKey: 'S3RVER' },
      maxAttempts: 1,
    });
    // Act
    const mismatch = await thrown(
      wrongSecret.send(new PutObjectCommand({ Bucket, Key: newKey(), Body: 'x' })),
    );
    const unknown = await thrown(unknownKey.send(new ListObjectsV2Command({ Bucket })));
    // Assess
    expect(mismatch.name).toBe('SignatureDoesNotMatch');
    expect(unknown.name).toBe('InvalidAccessKeyId');
    wrongSecret.destroy();
    unknownKey.destroy();
  });

  it('are refused when the body is not the one whose hash was signed: XAmzContentSHA256Mismatch', async () => {
    // Prepare: the SDK signs the hash of 'hello' over plain http; the body changes after signing
    const tampering = localS3Client(s3.endpoint, { maxAttempts: 1 });
    // Typed loosely: a finalize-step middleware of any command.
    type Handler = (args: { request: { body?: unknown } }) => Promise<unknown>;
    const stack = tampering.middlewareStack as unknown as {
      addRelativeTo(middleware: (next: Handler) => Handler, options: object): void;
    };
    stack.addRelativeTo(
      (next) => (args) => {
        args.request.body = 'HELLO';
        return next(args);
      },
      { relation: 'after', toMiddleware: 'httpSigningMiddleware', name: 'tamperBody' },
    );
    const Key = newKey();
    // Act
    const error = await thrown(tampering.send(new PutObjectCommand({ Bucket, Key, Body: 'hello' })));
    // Assess
    expect(error.name).toBe('XAmzContentSHA256Mismatch');
    expect(await stored(Key)).toBeUndefined();
    tampering.destroy();
  });
});

describe('x-amz-checksum-sha256', () => {
  it('stores the body when it matches', async () => {
    // Prepare
    const Key = newKey();
    const ticket = await upload(Key, 'checked bytes', { sha256: sha256('checked bytes') });
    // Act
    const response = await put(ticket.url, ticket.headers, 'checked bytes');
    // Assess
    expect(response.status).toBe(200);
    expect(await stored(Key)).toBe('checked bytes');
  });

  it('refuses another body of the same size with BadDigest, and stores nothing', async () => {
    // Prepare
    const Key = newKey();
    const ticket = await upload(Key, 'checked bytes', { sha256: sha256('checked bytes') });
    // Act
    const response = await put(ticket.url, ticket.headers, 'CHECKED BYTES');
    // Assess
    expect(await errorOf(response)).toMatchObject({ status: 400, code: 'BadDigest' });
    expect(await stored(Key)).toBeUndefined();
  });

  it('refuses a malformed value with InvalidRequest, on UploadPart too', async () => {
    // Prepare
    const Key = newKey();
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    // Act
    const error = await thrown(
      client.send(
        new UploadPartCommand({
          Bucket,
          Key,
          UploadId,
          PartNumber: 1,
          Body: 'part',
          ChecksumSHA256: 'not-a-digest',
        }),
      ),
    );
    const wrong = await thrown(
      client.send(
        new UploadPartCommand({
          Bucket,
          Key,
          UploadId,
          PartNumber: 1,
          Body: 'part',
          ChecksumSHA256: sha256HexToBase64(sha256('other')),
        }),
      ),
    );
    // Assess
    expect(error.name).toBe('InvalidRequest');
    expect(wrong.name).toBe('BadDigest');
  });
});

describe('conditional requests', () => {
  it('If-None-Match: * writes once; the second PUT is refused and the first bytes kept', async () => {
    // Prepare
    const Key = newKey();
    // Act
    await client.send(new PutObjectCommand({ Bucket, Key, Body: 'first', IfNoneMatch: '*' }));
    const error = await thrown(
      client.send(new PutObjectCommand({ Bucket, Key, Body: 'second', IfNoneMatch: '*' })),
    );
    // Assess
    expect(error.name).toBe('PreconditionFailed');
    expect(error.$metadata.httpStatusCode).toBe(412);
    expect(await stored(Key)).toBe('first');
  });

  it('lets exactly one of concurrent If-None-Match: * PUTs to a key succeed', async () => {
    // Prepare
    const Key = newKey();
    const bodies = ['a', 'b', 'c', 'd', 'e', 'f'].map((letter) => letter.repeat(64 * 1024));
    // Act
    const outcomes = await Promise.allSettled(
      bodies.map((Body) => client.send(new PutObjectCommand({ Bucket, Key, Body, IfNoneMatch: '*' }))),
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
    expect(await stored(Key)).toBe(winners[0]);
  });

  it('If-Match on GetObject and HeadObject: 412 for another ETag, the object for its own', async () => {
    // Prepare
    const Key = newKey();
    const { ETag } = await client.send(new PutObjectCommand({ Bucket, Key, Body: 'versioned' }));
    // Act
    const get = await thrown(client.send(new GetObjectCommand({ Bucket, Key, IfMatch: '"0123abc"' })));
    const head = await thrown(client.send(new HeadObjectCommand({ Bucket, Key, IfMatch: '"0123abc"' })));
    const same = await client.send(new GetObjectCommand({ Bucket, Key, IfMatch: ETag }));
    // Assess
    expect(get.name).toBe('PreconditionFailed');
    expect(get.$metadata.httpStatusCode).toBe(412);
    expect(head.$metadata.httpStatusCode).toBe(412);
    expect(await same.Body?.transformToString()).toBe('versioned');
  });

  it('If-Match on PutObject replaces only the version it names', async () => {
    // Prepare
    const Key = newKey();
    const { ETag } = await client.send(new PutObjectCommand({ Bucket, Key, Body: 'v1' }));
    // Act
    await client.send(new PutObjectCommand({ Bucket, Key, Body: 'v2', IfMatch: ETag }));
    const stale = await thrown(client.send(new PutObjectCommand({ Bucket, Key, Body: 'v3', IfMatch: ETag })));
    const missing = await thrown(
      client.send(new PutObjectCommand({ Bucket, Key: newKey(), Body: 'x', IfMatch: ETag })),
    );
    // Assess
    expect(stale.name).toBe('PreconditionFailed');
    expect(missing.name).toBe('NoSuchKey');
    expect(await stored(Key)).toBe('v2');
  });

  it('CompleteMultipartUpload with If-None-Match: * over an existing key is refused', async () => {
    // Prepare
    const Key = newKey();
    await client.send(new PutObjectCommand({ Bucket, Key, Body: 'already here' }));
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    const { ETag } = await client.send(
      new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: 'part' }),
    );
    // Act
    const error = await thrown(
      client.send(
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
    expect(await stored(Key)).toBe('already here');
  });
});

describe('the SDK clients of the runtime (localS3Client)', () => {
  it('put, get, list, delete and complete multipart uploads as before', async () => {
    // Prepare
    const Key = `sdk/${newKey()}`;
    const multipartKey = `sdk/${newKey()}`;
    // Act
    await client.send(new PutObjectCommand({ Bucket, Key, Body: 'sdk bytes', ContentType: 'text/plain' }));
    const got = await client.send(new GetObjectCommand({ Bucket, Key }));
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key: multipartKey }));
    const { ETag } = await client.send(
      new UploadPartCommand({ Bucket, Key: multipartKey, UploadId, PartNumber: 1, Body: 'one part' }),
    );
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket,
        Key: multipartKey,
        UploadId,
        IfNoneMatch: '*',
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag }] },
      }),
    );
    const listed = await client.send(new ListObjectsV2Command({ Bucket, Prefix: 'sdk/' }));
    await client.send(new DeleteObjectCommand({ Bucket, Key }));
    // Assess
    expect(await got.Body?.transformToString()).toBe('sdk bytes');
    expect(listed.Contents?.map((object) => object.Key).sort()).toEqual([Key, multipartKey].sort());
    expect(await stored(Key)).toBeUndefined();
    expect(await stored(multipartKey)).toBe('one part');
  });

  it('refuses an aws-chunked body (the SDK default WHEN_SUPPORTED) instead of storing its framing', async () => {
    // Prepare
    const chunked = localS3Client(s3.endpoint, {
      requestChecksumCalculation: 'WHEN_SUPPORTED',
      maxAttempts: 1,
    });
    const { Readable } = await import('node:stream');
    // Act
    const error = await thrown(
      chunked.send(
        new PutObjectCommand({
          Bucket,
          Key: newKey(),
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
