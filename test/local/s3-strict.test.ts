import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localS3Client } from '#test/emulators';
import { Bucket, errorOf, ORIGIN, put, type StrictS3, startStrictS3, thrown } from './fixtures/strict-s3.ts';

/**
 * The local S3 authenticates as AWS S3 does (local/s3rver-sigv4.ts in front of s3rver): a presigned
 * URL takes only the request it was signed for, and nothing unsigned gets in, so that a wrong upload
 * fails here and not first once deployed.
 */

let env: StrictS3;
beforeAll(async () => {
  env = await startStrictS3();
});
afterAll(() => env?.close());

/** The headers the API lists for a PUT, as a browser sends them (Content-Length follows the body). */
const sendable = (headers: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'content-length'));

describe('presigned URLs', () => {
  it('take a PUT from presignUpload with the headers it lists', async () => {
    // Prepare
    const Key = env.newKey();
    const ticket = await env.presignUpload(Key, 'jpeg bytes');
    // Act
    const response = await put(ticket.url, sendable(ticket.headers), 'jpeg bytes');
    // Assess
    expect(response.status).toBe(200);
    expect(await env.stored(Key)).toBe('jpeg bytes');
  });

  it('refuse the same URL with another Content-Type: SignatureDoesNotMatch, nothing stored', async () => {
    // Prepare
    const Key = env.newKey();
    const ticket = await env.presignUpload(Key, 'jpeg bytes');
    // Act
    const response = await put(
      ticket.url,
      { ...sendable(ticket.headers), 'Content-Type': 'text/html' },
      'jpeg bytes',
    );
    // Assess
    expect(await errorOf(response)).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
    expect(await env.stored(Key)).toBeUndefined();
  });

  it('refuse another size than the signed Content-Length', async () => {
    // Prepare
    const Key = env.newKey();
    const ticket = await env.presignUpload(Key, 'jpeg bytes');
    // Act
    const response = await put(ticket.url, sendable(ticket.headers), 'jpeg bytes and more');
    // Assess
    expect(await errorOf(response)).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
  });

  it('refuse a tampered signature', async () => {
    // Prepare
    const ticket = await env.presignUpload(env.newKey(), 'jpeg bytes');
    const url = new URL(ticket.url);
    const signature = url.searchParams.get('X-Amz-Signature') ?? '';
    url.searchParams.set('X-Amz-Signature', `${signature.startsWith('0') ? '1' : '0'}${signature.slice(1)}`);
    // Act
    const response = await put(url.href, sendable(ticket.headers), 'jpeg bytes');
    // Assess
    expect(await errorOf(response)).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
  });

  it('refuse a request without a signed header', async () => {
    // Prepare
    const ticket = await env.presignUpload(env.newKey(), 'jpeg bytes');
    // Act: every listed header but Content-Type
    const { 'Content-Type': _left, ...withoutType } = sendable(ticket.headers);
    const response = await put(ticket.url, withoutType, 'jpeg bytes');
    // Assess
    expect(await errorOf(response)).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
  });

  it('refuse an expired URL: AccessDenied, Request has expired', async () => {
    // Prepare: signed ten minutes ago for one minute
    const url = await getSignedUrl(env.client, new GetObjectCommand({ Bucket, Key: env.newKey() }), {
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
    const url = new URL(await getSignedUrl(env.client, new GetObjectCommand({ Bucket, Key: env.newKey() })));
    url.searchParams.set('X-Amz-Expires', '604801');
    // Act
    const response = await fetch(url);
    // Assess
    expect(await errorOf(response)).toMatchObject({ status: 400, code: 'AuthorizationQueryParametersError' });
  });

  it('serve a presigned GET, as the job view hands out for results', async () => {
    // Prepare
    const Key = env.newKey();
    await env.client.send(new PutObjectCommand({ Bucket, Key, Body: 'result' }));
    const url = await getSignedUrl(env.client, new GetObjectCommand({ Bucket, Key }), { expiresIn: 60 });
    // Act
    const response = await fetch(url, { headers: { Origin: ORIGIN } });
    // Assess
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('result');
  });

  it('verify keys and query values that need encoding, presigned and signed by header', async () => {
    // Prepare
    const Key = `odd/ä b+c (1)!*'~.txt`;
    await env.client.send(new PutObjectCommand({ Bucket, Key, Body: 'odd' }));
    const url = await getSignedUrl(
      env.client,
      new GetObjectCommand({
        Bucket,
        Key,
        ResponseContentDisposition: 'attachment; filename="a b (1);+.txt"',
      }),
      { expiresIn: 60 },
    );
    // Act
    const response = await fetch(url);
    const listed = await env.client.send(
      new ListObjectsV2Command({ Bucket, Prefix: 'odd/ä b+c (', MaxKeys: 5 }),
    );
    // Assess
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('odd');
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="a b (1);+.txt"');
    expect(listed.Contents?.map((object) => object.Key)).toEqual([Key]);
  });

  it('bind If-None-Match: * when it is signed: the second PUT of the URL is refused and the first kept', async () => {
    // Prepare: as the API presigns a PUT that cannot overwrite
    const Key = env.newKey();
    const url = await getSignedUrl(
      env.client,
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
    expect(await env.stored(Key)).toBe('first');
  });
});

describe('requests without a valid signature', () => {
  it('are refused when anonymous, with the Origin allowed so that a page can read why', async () => {
    // Prepare
    const Key = env.newKey();
    await env.client.send(new PutObjectCommand({ Bucket, Key, Body: 'private' }));
    // Act
    const anonymousPut = await fetch(`${env.s3.endpoint}/${Bucket}/${env.newKey()}`, {
      method: 'PUT',
      headers: { Origin: ORIGIN },
      body: 'x',
    });
    const anonymousGet = await fetch(`${env.s3.endpoint}/${Bucket}/${Key}`);
    // Assess
    expect(anonymousPut.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(await errorOf(anonymousPut)).toEqual({
      status: 403,
      code: 'AccessDenied',
      message: 'Access Denied',
    });
    expect(await errorOf(anonymousGet)).toMatchObject({ status: 403, code: 'AccessDenied' });
  });

  it('refuse a browser form upload (presigned POST), which nothing here verifies, and store nothing', async () => {
    // Prepare: a cross-origin form, as any page could send without a preflight
    const Key = env.newKey();
    const form = new FormData();
    form.append('key', Key);
    form.append('file', new Blob(['forged']), 'a.jpg');
    // Act
    const response = await fetch(`${env.s3.endpoint}/${Bucket}`, {
      method: 'POST',
      headers: { Origin: ORIGIN },
      body: form,
    });
    // Assess
    expect(await errorOf(response)).toMatchObject({ status: 403, code: 'AccessDenied' });
    expect(await env.stored(Key)).toBeUndefined();
  });

  it('leave CORS preflights to the bucket rules (never signed)', async () => {
    // Act
    const preflight = await fetch(`${env.s3.endpoint}/${Bucket}/${env.newKey()}`, {
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
    const wrongSecret = localS3Client(env.s3.endpoint, {
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'guessed' },
      maxAttempts: 1,
    });
    const unknownKey = localS3Client(env.s3.endpoint, {
      credentials: { accessKeyId: 'AKIAUNKNOWN', secretAccessKey: 'S3RVER' },
      maxAttempts: 1,
    });
    // Act
    const mismatch = await thrown(
      wrongSecret.send(new PutObjectCommand({ Bucket, Key: env.newKey(), Body: 'x' })),
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
    const tampering = localS3Client(env.s3.endpoint, { maxAttempts: 1 });
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
    const Key = env.newKey();
    // Act
    const error = await thrown(tampering.send(new PutObjectCommand({ Bucket, Key, Body: 'hello' })));
    // Assess
    expect(error.name).toBe('XAmzContentSHA256Mismatch');
    expect(await env.stored(Key)).toBeUndefined();
    tampering.destroy();
  });
});
