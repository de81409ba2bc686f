import { createHash } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApi } from '#test/api';
import { LOCAL_CREDENTIALS, REGION } from '#test/emulators';
import { httpEvent, jsonEvent } from '#test/http-events';
import type { CreatedUpload } from '../../functions/api/create-upload.ts';
import type { ErrorBody } from '../../functions/api/responses.ts';

let api: ApiHarness;

beforeAll(async () => {
  api = await startApi();
});
afterAll(() => api?.env.close());

const createMedia = (json: unknown, path = '/api/media/') =>
  api.invoke<CreatedUpload>(jsonEvent({ method: 'POST', path, routeKey: 'POST /api/media', json }));

const signedHeadersOf = (url: string): string[] =>
  (new URL(url).searchParams.get('X-Amz-SignedHeaders') ?? '').split(';');

const countItems = async () =>
  (await api.env.clients.dynamodb.send(new ScanCommand({ TableName: api.env.tableName, Select: 'COUNT' })))
    .Count;

const sha256 = (bytes: Buffer, encoding: 'hex' | 'base64') =>
  createHash('sha256').update(bytes).digest(encoding);

describe('POST /api/media/ with a JSON description', () => {
  it('creates a job awaiting its upload and a presigned PUT that takes exactly the announced file', async () => {
    // Prepare
    const bytes = Buffer.from('not really a jpeg, but S3 does not care');

    // Act
    const response = await createMedia({
      file_name: 'holiday.jpg',
      content_type: 'image/jpeg',
      size: bytes.length,
      preset: 'default',
    });

    // Assess
    expect(response.statusCode).toBe(201);
    const { job_id: jobId, status, upload } = response.body;
    expect(status).toBe('awaiting_upload');
    expect(upload).toEqual({
      method: 'PUT',
      url: expect.any(String),
      headers: { 'Content-Type': 'image/jpeg', 'Content-Length': String(bytes.length), 'If-None-Match': '*' },
      expires_at: expect.any(String),
    });
    expect(new URL(upload.url).pathname).toBe(`/${api.env.uploadsBucket}/uploads/${jobId}`);
    expect(signedHeadersOf(upload.url)).toEqual(
      expect.arrayContaining(['content-length', 'content-type', 'host', 'if-none-match']),
    );
    expect(new URL(upload.url).searchParams.get('X-Amz-Expires')).toBe('900');
    const expiresIn = Date.parse(upload.expires_at) - Date.now();
    expect(expiresIn).toBeGreaterThan(890_000);
    expect(expiresIn).toBeLessThanOrEqual(900_000);

    const job = await api.store.get(jobId);
    expect(job).toMatchObject({
      id: jobId,
      status: 'awaiting_upload',
      file_name: 'holiday.jpg',
      content_type: 'image/jpeg',
      size: bytes.length,
      preset: 'default',
      upload_key: `uploads/${jobId}`,
      upload_method: 'presigned_put',
      attempts: 0,
    });
    const weekFromNow = Math.floor(Date.now() / 1000) + 7 * 24 * 3600;
    expect(job?.ttl).toBeGreaterThan(weekFromNow - 60);
    expect(job?.ttl).toBeLessThanOrEqual(weekFromNow);

    // Act: the client uploads as a browser would (Content-Length follows the body)
    const put = await fetch(upload.url, {
      method: 'PUT',
      headers: { 'Content-Type': 'image/jpeg', 'If-None-Match': '*' },
      body: bytes,
    });

    // Assess
    expect(put.status).toBe(200);
    const stored = await api.env.clients.s3.send(
      new GetObjectCommand({ Bucket: api.env.uploadsBucket, Key: `uploads/${jobId}` }),
    );
    expect(Buffer.from(await (stored.Body?.transformToByteArray() ?? new Uint8Array()))).toEqual(bytes);
    expect(stored.ContentType).toBe('image/jpeg');
  });

  it('writes the object once: the same URL cannot replace the bytes it already took', async () => {
    // Prepare: an upload whose URL was used
    const first = Buffer.from('the bytes ingest will check, and nothing else');
    const { upload, job_id: jobId } = (
      await createMedia({
        file_name: 'a.jpg',
        content_type: 'image/jpeg',
        size: first.length,
        preset: 'default',
      })
    ).body;
    const put = (body: string) =>
      fetch(upload.url, {
        method: 'PUT',
        headers: { 'Content-Type': 'image/jpeg', 'If-None-Match': '*' },
        body,
      });
    expect((await put(first.toString())).status).toBe(200);

    // Act: the same URL again, with other bytes of the same size, then without the signed header
    const again = await put('A'.repeat(first.length));
    const unsigned = await fetch(upload.url, {
      method: 'PUT',
      headers: { 'Content-Type': 'image/jpeg' },
      body: 'B'.repeat(first.length),
    });

    // Assess: S3's 412, and a URL stripped of the header no longer verifies
    expect(again.status).toBe(412);
    expect(await again.text()).toContain('<Code>PreconditionFailed</Code>');
    expect(unsigned.status).toBe(403);
    const stored = await api.env.clients.s3.send(
      new GetObjectCommand({ Bucket: api.env.uploadsBucket, Key: `uploads/${jobId}` }),
    );
    expect(Buffer.from(await (stored.Body?.transformToByteArray() ?? new Uint8Array()))).toEqual(first);
  });

  it('signs the declared SHA-256 as a header, so S3 checks the bytes against it', async () => {
    const bytes = Buffer.from('bytes whose digest the client knows');

    const response = await createMedia({
      file_name: 'clip.mp4',
      content_type: 'video/mp4',
      size: bytes.length,
      preset: 'default',
      sha256: sha256(bytes, 'hex').toUpperCase(),
    });

    expect(response.statusCode).toBe(201);
    const { upload, job_id: jobId } = response.body;
    expect(signedHeadersOf(upload.url)).toEqual(
      expect.arrayContaining(['content-length', 'content-type', 'x-amz-checksum-sha256']),
    );
    expect(new URL(upload.url).searchParams.has('x-amz-checksum-sha256')).toBe(false);
    expect(upload.headers).toEqual({
      'Content-Type': 'video/mp4',
      'Content-Length': String(bytes.length),
      'If-None-Match': '*',
      'x-amz-checksum-sha256': sha256(bytes, 'base64'),
    });
    expect(await api.store.get(jobId)).toMatchObject({ sha256: sha256(bytes, 'hex') });

    const put = await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: bytes });
    expect(put.status).toBe(200);
  });

  it('keeps any file name as given but never uses it for the key', async () => {
    const fileName = '../../etc/passwd ünïcødé «photo».jpg';

    const response = await createMedia({
      file_name: fileName,
      content_type: 'image/jpeg',
      size: 10,
      preset: 'avatar',
    });

    expect(response.statusCode).toBe(201);
    const { job_id: jobId, upload } = response.body;
    expect(new URL(upload.url).pathname).toBe(`/${api.env.uploadsBucket}/uploads/${jobId}`);
    expect(await api.store.get(jobId)).toMatchObject({ file_name: fileName, upload_key: `uploads/${jobId}` });
  });

  it('normalises the declared content type, and signs the form the client is told to send', async () => {
    const response = await createMedia({
      file_name: 'a.png',
      content_type: 'IMAGE/PNG; charset=binary',
      size: 10,
      preset: 'default',
    });

    expect(response.statusCode).toBe(201);
    expect(response.body.upload.headers['Content-Type']).toBe('image/png');
  });

  it.each([
    ['video/matroska', 'video/x-matroska'],
    ['video/x-matroska', 'video/x-matroska'],
    ['video/x-m4v', 'video/mp4'],
  ])('takes %s as the presets name it, %s, in what it stores and signs', async (declared, canonical) => {
    const response = await createMedia({
      file_name: 'clip.mkv',
      content_type: declared,
      size: 10,
      preset: 'default',
    });

    expect(response.statusCode).toBe(201);
    expect(response.body.upload.headers['Content-Type']).toBe(canonical);
    expect(await api.store.get(response.body.job_id)).toMatchObject({ content_type: canonical });
  });

  it('stores a valid callback URL and accepts null for the optional fields', async () => {
    const response = await createMedia({
      file_name: 'a.webp',
      content_type: 'image/webp',
      size: 10,
      preset: 'square-webp',
      callback_url: 'https://example.com/hooks/media',
      sha256: null,
    });

    expect(response.statusCode).toBe(201);
    const job = await api.store.get(response.body.job_id);
    expect(job?.callback_url).toBe('https://example.com/hooks/media');
    expect(job?.sha256).toBeUndefined();
  });

  it('takes a base64-encoded JSON body and answers without the trailing slash too', async () => {
    const event = jsonEvent({
      method: 'POST',
      path: '/api/media',
      routeKey: 'POST /api/media',
      json: { file_name: 'a.jpg', content_type: 'image/jpeg', size: 5, preset: 'default' },
    });
    event.body = Buffer.from(event.body ?? '').toString('base64');
    event.isBase64Encoded = true;

    const response = await api.invoke<CreatedUpload>(event);

    expect(response.statusCode).toBe(201);
    expect(response.body.status).toBe('awaiting_upload');
  });

  it('never signs the SDK default CRC32 of an empty body into the URL (AWS_REQUEST_CHECKSUM_CALCULATION unset)', async () => {
    // Prepare: a client with the SDK default, as a Lambda gets unless the stack sets the variable
    const { presignUpload } = await import('../../functions/api/create-upload.ts');
    const presigner = new S3Client({
      region: REGION,
      credentials: LOCAL_CREDENTIALS,
      endpoint: api.env.s3.endpoint,
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_SUPPORTED',
    });
    const job = { upload_key: 'uploads/x', content_type: 'image/jpeg', size: 3 };

    // Act
    const plain = await presignUpload(presigner, api.env.uploadsBucket, job, 60);
    const withSha = await presignUpload(
      presigner,
      api.env.uploadsBucket,
      { ...job, sha256: 'ab'.repeat(32) },
      60,
    );

    // Assess
    for (const { url } of [plain, withSha]) {
      const query = [...new URL(url).searchParams.keys()].map((key) => key.toLowerCase());
      expect(query.filter((key) => key.includes('checksum'))).toEqual([]);
    }
    expect(signedHeadersOf(plain.url)).not.toContain('x-amz-checksum-crc32');
    expect(signedHeadersOf(withSha.url)).toContain('x-amz-checksum-sha256');
    presigner.destroy();
  });
});

describe('POST /api/media/ validation', () => {
  const valid = { file_name: 'photo.jpg', content_type: 'image/jpeg', size: 1024, preset: 'default' };

  it.each([
    [
      'file_name is missing',
      { ...valid, file_name: undefined },
      'Request::MissingField',
      'file_name',
      /file_name is required/,
    ],
    [
      'file_name is not a string',
      { ...valid, file_name: 42 },
      'Request::InvalidField',
      'file_name',
      /must be a string/,
    ],
    [
      'file_name is empty',
      { ...valid, file_name: '' },
      'Request::InvalidFileName',
      'file_name',
      /must not be empty/,
    ],
    [
      'file_name is too long',
      { ...valid, file_name: `${'a'.repeat(252)}.jpg` },
      'Request::InvalidFileName',
      'file_name',
      /at most 255 characters/,
    ],
    [
      'file_name has a line break',
      { ...valid, file_name: 'a\nb.jpg' },
      'Request::InvalidFileName',
      'file_name',
      /control characters/,
    ],
    [
      'content_type is missing',
      { ...valid, content_type: undefined },
      'Request::MissingField',
      'content_type',
      /content_type is required/,
    ],
    ['size is missing', { ...valid, size: undefined }, 'Request::MissingField', 'size', /size is required/],
    [
      'size is a string',
      { ...valid, size: '1024' },
      'Request::InvalidField',
      'size',
      /size must be a number of bytes/,
    ],
    ['size is fractional', { ...valid, size: 10.5 }, 'Request::InvalidField', 'size', /whole number/],
    ['size is 0', { ...valid, size: 0 }, 'Request::EmptyFile', 'size', /empty files cannot be processed/],
    ['size is negative', { ...valid, size: -5 }, 'Request::EmptyFile', 'size', /greater than 0/],
    [
      'preset is missing',
      { ...valid, preset: undefined },
      'Request::MissingField',
      'preset',
      /preset is required/,
    ],
    [
      'preset is unknown',
      { ...valid, preset: 'huge' },
      'Request::UnknownPreset',
      'preset',
      /"huge" does not exist; use one of: default, square-webp, avatar/,
    ],
    [
      'preset is an inherited property name',
      { ...valid, preset: 'constructor' },
      'Request::UnknownPreset',
      'preset',
      /does not exist/,
    ],
    [
      'the preset does not take the type',
      { ...valid, content_type: 'video/mp4', preset: 'avatar' },
      'Request::UnsupportedContentType',
      'content_type',
      /preset "avatar" does not accept video\/mp4; it accepts image\/jpeg, image\/png, image\/webp, image\/avif/,
    ],
    [
      'the type is no media at all',
      { ...valid, content_type: 'image/svg+xml' },
      'Request::UnsupportedContentType',
      'content_type',
      /does not accept image\/svg\+xml/,
    ],
    [
      'sha256 is not 64 hex digits',
      { ...valid, sha256: 'abc123' },
      'Request::InvalidSha256',
      'sha256',
      /64 hexadecimal digits/,
    ],
    [
      'sha256 is not a string',
      { ...valid, sha256: 12 },
      'Request::InvalidField',
      'sha256',
      /sha256 must be a string/,
    ],
    [
      'callback_url is not a URL',
      { ...valid, callback_url: 'not a url' },
      'Request::InvalidCallbackUrl',
      'callback_url',
      /absolute http/,
    ],
    [
      'callback_url is not http',
      { ...valid, callback_url: 'ftp://example.com/x' },
      'Request::InvalidCallbackUrl',
      'callback_url',
      /http/,
    ],
    [
      'callback_url is loopback',
      { ...valid, callback_url: 'http://127.0.0.1:8080/hook' },
      'Request::InvalidCallbackUrl',
      'callback_url',
      /public address/,
    ],
    [
      'callback_url aims at a port outside the allowed list',
      { ...valid, callback_url: 'https://hooks.example.com:6379/hook' },
      'Request::InvalidCallbackUrl',
      'callback_url',
      /must use one of the ports 80, 443, 8080, 8443, not 6379/,
    ],
    [
      'callback_url is the metadata service',
      { ...valid, callback_url: 'http://169.254.169.254/latest' },
      'Request::InvalidCallbackUrl',
      'callback_url',
      /public address/,
    ],
    [
      'callback_url is not a string',
      { ...valid, callback_url: 7 },
      'Request::InvalidField',
      'callback_url',
      /callback_url must be a URL string/,
    ],
  ])('answers 400 when %s', async (_case, json, code, field, message) => {
    const response = await api.invoke<ErrorBody>(
      jsonEvent({ method: 'POST', path: '/api/media/', routeKey: 'POST /api/media', json }),
    );

    expect(response.statusCode).toBe(400);
    expect(response.body.error).toEqual({ code, field, message: expect.stringMatching(message) });
  });

  it.each([
    ['a right-to-left override', 'invoice\u202egpj.exe', /U\+202E at position 7/],
    ['a left-to-right embedding', '\u202aphoto.jpg', /U\+202A at position 0/],
    ['a first-strong isolate', 'photo\u2068.jpg', /U\+2068/],
    ['a pop directional isolate', 'photo\u2069.jpg', /U\+2069/],
    ['a zero-width space', 'pho\u200bto.jpg', /U\+200B/],
    ['a right-to-left mark', 'photo\u200f.jpg', /U\+200F/],
    ['a byte order mark', '\ufeffphoto.jpg', /U\+FEFF/],
    ['a line separator', 'photo\u2028.jpg', /U\+2028/],
    ['a C1 control', 'photo\u0085.jpg', /control characters/],
  ])('answers 400 naming the character when file_name contains %s', async (_case, fileName, message) => {
    const itemsBefore = await countItems();

    const response = await api.invoke<ErrorBody>(
      jsonEvent({
        method: 'POST',
        path: '/api/media/',
        routeKey: 'POST /api/media',
        json: { ...valid, file_name: fileName },
      }),
    );

    expect(response.statusCode).toBe(400);
    expect(response.body.error).toEqual({
      code: 'Request::InvalidFileName',
      field: 'file_name',
      message: expect.stringMatching(message),
    });
    expect(await countItems()).toBe(itemsBefore);
  });

  it('keeps names in any script, right-to-left ones included', async () => {
    const response = await createMedia({ ...valid, file_name: 'صورة العطلة.jpg' });

    expect(response.statusCode).toBe(201);
  });

  it('answers 413 with both numbers when the file is over its kind limit', async () => {
    const response = await createMedia({ ...valid, size: 52_428_801 });

    expect(response.statusCode).toBe(413);
    expect(response.body).toEqual({
      error: {
        code: 'Request::FileTooLarge',
        field: 'size',
        message: 'the file has 52428801 bytes; images may have at most 52428800 bytes',
      },
    });
  });

  it('takes a video far above the image limit, since videos have their own', async () => {
    const response = await createMedia({
      ...valid,
      file_name: 'long.mp4',
      content_type: 'video/mp4',
      size: 2_000_000_000,
    });

    expect(response.statusCode).toBe(201);
  });

  it.each([
    ['malformed JSON', '{"file_name": "a.jpg",', 'application/json', 400, 'Request::MalformedJson'],
    ['an empty body', '', 'application/json', 400, 'Request::MissingBody'],
    ['a JSON array', '[1, 2]', 'application/json', 400, 'Request::InvalidBody'],
    ['a JSON string', '"photo.jpg"', 'application/json', 400, 'Request::InvalidBody'],
    [
      'a form-encoded body',
      'file_name=a.jpg',
      'application/x-www-form-urlencoded',
      415,
      'Request::UnsupportedMediaType',
    ],
    ['a text body', 'hello', 'text/plain', 415, 'Request::UnsupportedMediaType'],
  ])('refuses %s', async (_case, body, contentType, status, code) => {
    const response = await api.invoke<ErrorBody>(
      httpEvent({
        method: 'POST',
        path: '/api/media/',
        routeKey: 'POST /api/media',
        body,
        headers: { 'content-type': contentType },
      }),
    );

    expect(response.statusCode).toBe(status);
    expect(response.body.error.code).toBe(code);
    expect(response.body.error.message).toMatch(/\S/);
  });

  it('answers 415 when the request has no Content-Type', async () => {
    const event = jsonEvent({
      method: 'POST',
      path: '/api/media/',
      routeKey: 'POST /api/media',
      json: valid,
    });
    delete event.headers['content-type'];

    const response = await api.invoke<ErrorBody>(event);

    expect(response.statusCode).toBe(415);
    expect(response.body.error).toEqual({
      code: 'Request::UnsupportedMediaType',
      message: expect.stringContaining('send application/json'),
    });
  });

  it('refuses a JSON body too large to be a file description before parsing it', async () => {
    const response = await createMedia({ ...valid, padding: 'x'.repeat(20_000) });

    expect(response.statusCode).toBe(413);
    expect(response.body).toMatchObject({ error: { code: 'Request::BodyTooLarge' } });
  });

  it('creates nothing when validation fails', async () => {
    const jobsBefore = await countItems();

    const response = await createMedia({ ...valid, size: 0 });

    expect(response.statusCode).toBe(400);
    expect(await countItems()).toBe(jobsBefore);
  });
});
