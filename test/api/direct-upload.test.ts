import { createHash, randomUUID } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApi } from '#test/api';
import { httpEvent, type MultipartPart, multipartBody } from '#test/http-events';
import { newJob } from '#test/jobs';
import { makeJpeg } from '#test/media';
import type { JobView } from '../../functions/api/job-view.ts';
import type { ErrorBody } from '../../functions/api/responses.ts';

/** Small enough that the tests can cross it cheaply; the real default is 4 MiB. */
const MAX_BYTES = 256 * 1024;

let api: ApiHarness;
let jpeg: Buffer;

beforeAll(async () => {
  api = await startApi({ env: { DIRECT_UPLOAD_MAX_BYTES: String(MAX_BYTES) } });
  jpeg = await makeJpeg(64, 48, 7);
});
afterAll(() => api?.env.close());

/** POST /api/media/ as API Gateway hands it over, with any body and Content-Type. */
const postMedia = <T = JobView>(body: string | Buffer, contentType: string, path = '/api/media/') =>
  api.invoke<T>(
    httpEvent({
      method: 'POST',
      path,
      routeKey: 'POST /api/media',
      body: Buffer.from(body),
      headers: { 'content-type': contentType },
    }),
  );

const upload = <T = JobView>(parts: MultipartPart[], { path = '/api/media/' } = {}) => {
  const { body, contentType } = multipartBody(parts);
  return postMedia<T>(body, contentType, path);
};

const filePart = (bytes: Buffer, fileName = 'photo.jpg', contentType = 'image/jpeg'): MultipartPart => ({
  name: 'file',
  value: bytes,
  fileName,
  contentType,
});

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

const countItems = async () =>
  (await api.env.clients.dynamodb.send(new ScanCommand({ TableName: api.env.tableName, Select: 'COUNT' })))
    .Count;

const storedUpload = async (jobId: string): Promise<Buffer> => {
  const object = await api.env.clients.s3.send(
    new GetObjectCommand({ Bucket: api.env.uploadsBucket, Key: `uploads/${jobId}` }),
  );
  return Buffer.from(await (object.Body?.transformToByteArray() ?? new Uint8Array()));
};

describe('POST /api/media/ with multipart/form-data', () => {
  it('stores a small file, ingests it at once and answers with the queued job', async () => {
    // Act
    const response = await upload([filePart(jpeg, 'holiday.jpg'), { name: 'preset', value: 'default' }]);

    // Assess
    expect(response.statusCode).toBe(201);
    expect(response.body).toMatchObject({
      status: 'queued',
      file_name: 'holiday.jpg',
      content_type: 'image/jpeg',
      size: jpeg.length,
      preset: 'default',
      file_hash: sha256(jpeg),
      attempts: 0,
      result: null,
      result_urls: null,
      error: null,
      duplicate_of: null,
    });
    const jobId = response.body.id;
    expect(await storedUpload(jobId)).toEqual(jpeg);
    expect(await api.store.get(jobId)).toMatchObject({
      upload_method: 'direct',
      upload_key: `uploads/${jobId}`,
      media_kind: 'image',
      sha256: sha256(jpeg),
    });
    expect(await api.env.drain(api.env.queues.image.url)).toEqual([{ kind: 'process', job_id: jobId }]);
  });

  it('answers 200 with the existing job when the same file comes again with the same preset, creating nothing', async () => {
    // Prepare
    const bytes = await makeJpeg(32, 32, 11);
    const first = await upload([filePart(bytes), { name: 'preset', value: 'square-webp' }]);
    await api.env.drain(api.env.queues.image.url);
    const itemsBefore = await countItems();

    // Act
    const again = await upload([filePart(bytes, 'renamed.jpg'), { name: 'preset', value: 'square-webp' }], {
      path: '/api/media',
    });

    // Assess
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(200);
    expect(again.body).toMatchObject({
      id: first.body.id,
      status: 'queued',
      file_name: first.body.file_name,
    });
    expect(await countItems()).toBe(itemsBefore);
    expect(await api.env.drain(api.env.queues.image.url)).toEqual([]);
  });

  it('makes a new job for the same file with another preset', async () => {
    const bytes = await makeJpeg(32, 32, 12);
    const first = await upload([filePart(bytes), { name: 'preset', value: 'default' }]);

    const other = await upload([filePart(bytes), { name: 'preset', value: 'avatar' }]);

    expect(other.statusCode).toBe(201);
    expect(other.body.id).not.toBe(first.body.id);
    expect(other.body.status).toBe('queued');
    await api.env.drain(api.env.queues.image.url);
  });

  it('makes a new job when the job holding the same file failed', async () => {
    // Prepare
    const bytes = await makeJpeg(32, 32, 13);
    const failed = newJob({ status: 'failed', file_hash: sha256(bytes), media_kind: 'image', attempts: 3 });
    await api.store.create(failed);
    await api.store.claimDedupKey(
      { tenant: 'default', fileHash: sha256(bytes), preset: 'default' },
      failed.id,
    );

    // Act
    const response = await upload([filePart(bytes), { name: 'preset', value: 'default' }]);

    // Assess
    expect(response.statusCode).toBe(201);
    expect(response.body.id).not.toBe(failed.id);
    expect(response.body.status).toBe('queued');
    expect(
      await api.store.findByContent({ tenant: 'default', fileHash: sha256(bytes), preset: 'default' }),
    ).toBe(response.body.id);
    await api.env.drain(api.env.queues.image.url);
  });

  it('answers with the readable failure when the bytes are not what the file claims', async () => {
    const text = Buffer.from('just some text that calls itself a photo\n'.repeat(20));

    const response = await upload([filePart(text, 'fake.jpg'), { name: 'preset', value: 'default' }]);

    expect(response.statusCode).toBe(201);
    expect(response.body).toMatchObject({
      status: 'failed',
      error_code: 'Upload::UnrecognizedType',
      error: expect.stringContaining('not an image or video'),
    });
    expect(await api.env.drain(api.env.queues.image.url)).toEqual([]);
  });

  it('stores the callback URL given in the form', async () => {
    const bytes = await makeJpeg(16, 16, 14);

    const response = await upload([
      { name: 'preset', value: 'default' },
      { name: 'callback_url', value: 'https://example.com/hooks/media' },
      filePart(bytes),
    ]);

    expect(response.statusCode).toBe(201);
    expect((await api.store.get(response.body.id))?.callback_url).toBe('https://example.com/hooks/media');
    await api.env.drain(api.env.queues.image.url);
  });

  it('answers 413 before parsing a request larger than the direct-upload limit, pointing to the presigned flow', async () => {
    const big = Buffer.alloc(MAX_BYTES + 128 * 1024, 1);

    const response = await upload<ErrorBody>([filePart(big), { name: 'preset', value: 'default' }]);

    expect(response.statusCode).toBe(413);
    expect(response.body.error).toEqual({
      code: 'Request::DirectUploadTooLarge',
      field: 'file',
      message: expect.stringMatching(
        /over the 262144-byte limit.*JSON POST \/api\/media\/.*file_name.*content_type.*size/,
      ),
    });
  });

  it('answers 413 when the file alone is over the limit, even if the request is not', async () => {
    const justOver = Buffer.alloc(MAX_BYTES + 1, 1);
    const itemsBefore = await countItems();

    const response = await upload<ErrorBody>([filePart(justOver), { name: 'preset', value: 'default' }]);

    expect(response.statusCode).toBe(413);
    expect(response.body.error).toMatchObject({ code: 'Request::DirectUploadTooLarge', field: 'file' });
    expect(await countItems()).toBe(itemsBefore);
  });

  it.each([
    ['no file', [{ name: 'preset', value: 'default' }], 'Request::MissingField', 'file'],
    [
      'the file in another field',
      [
        { ...filePart(Buffer.from('x')), name: 'upload' },
        { name: 'preset', value: 'default' },
      ],
      'Request::InvalidField',
      'file',
    ],
    ['no preset', [filePart(Buffer.from('x'))], 'Request::MissingField', 'preset'],
    [
      'an unknown preset',
      [filePart(Buffer.from('x')), { name: 'preset', value: 'poster-only' }],
      'Request::UnknownPreset',
      'preset',
    ],
    [
      'a type the preset does not accept',
      [filePart(Buffer.from('x'), 'a.mp4', 'video/mp4'), { name: 'preset', value: 'avatar' }],
      'Request::UnsupportedContentType',
      'file',
    ],
    [
      'an empty file',
      [filePart(Buffer.alloc(0)), { name: 'preset', value: 'default' }],
      'Request::EmptyFile',
      'file',
    ],
    [
      'a loopback callback',
      [
        filePart(Buffer.from('x')),
        { name: 'preset', value: 'default' },
        { name: 'callback_url', value: 'http://localhost/x' },
      ],
      'Request::InvalidCallbackUrl',
      'callback_url',
    ],
    [
      'two files',
      [filePart(Buffer.from('x')), filePart(Buffer.from('y')), { name: 'preset', value: 'default' }],
      'Request::TooManyFiles',
      'file',
    ],
  ] satisfies [string, MultipartPart[], string, string][])(
    'answers 400 for %s',
    async (_case, parts, code, field) => {
      const response = await upload<ErrorBody>(parts);

      expect(response.statusCode).toBe(400);
      expect(response.body.error).toEqual({ code, field, message: expect.stringMatching(/\S/) });
    },
  );

  it('answers 400 for a multipart body without a boundary', async () => {
    const response = await postMedia<ErrorBody>('--x\r\n\r\n', 'multipart/form-data');

    expect(response.statusCode).toBe(400);
    expect(response.body.error.code).toBe('Request::MalformedMultipart');
  });

  it.each([
    ['in UTF-8', 'filename="invoice\u202egpj.exe"'],
    ['as RFC 5987 filename*', "filename*=UTF-8''invoice%E2%80%AEgpj.exe"],
  ])(
    'answers 400 naming U+202E for a file name with a right-to-left override %s',
    async (_case, parameter) => {
      // Prepare: the file's name comes from its part's Content-Disposition
      const boundary = 'bidi';
      const body = Buffer.concat([
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="file"; ${parameter}\r\nContent-Type: image/jpeg\r\n\r\n`,
        ),
        jpeg,
        Buffer.from(
          `\r\n--${boundary}\r\nContent-Disposition: form-data; name="preset"\r\n\r\ndefault\r\n--${boundary}--\r\n`,
        ),
      ]);
      const itemsBefore = await countItems();

      // Act
      const response = await postMedia<ErrorBody>(body, `multipart/form-data; boundary=${boundary}`);

      // Assess: the form's file name is in its "file" field, as every other file-name error says
      expect(response.statusCode).toBe(400);
      expect(response.body.error).toEqual({
        code: 'Request::InvalidFileName',
        field: 'file',
        message: expect.stringMatching(
          /file_name must not contain invisible or text-direction characters.*U\+202E at position 7/,
        ),
      });
      expect(await countItems()).toBe(itemsBefore);
    },
  );

  describe('a hostile or cut-off form', () => {
    const rawUpload = (body: string | Buffer, contentType = 'multipart/form-data; boundary=zzz') =>
      postMedia<ErrorBody>(body, contentType);
    const fileHead = '--zzz\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n';

    it('answers 400 Request::MalformedMultipart for a form cut off inside the file, and the function keeps serving', async () => {
      // Prepare: the curl body, which ends in the middle of the file part
      const bytes = await makeJpeg(24, 24, 15);

      // Act
      const cutOff = await rawUpload(`${fileHead}abc`);
      const next = await upload([filePart(bytes), { name: 'preset', value: 'default' }]);

      // Assess
      expect(cutOff.statusCode).toBe(400);
      expect(cutOff.body.error).toEqual({
        code: 'Request::MalformedMultipart',
        message: expect.stringMatching(/cut off or is malformed/),
      });
      expect(next.statusCode).toBe(201);
      expect(next.body).toMatchObject({ status: 'queued', size: bytes.length });
      await api.env.drain(api.env.queues.image.url);
    });

    it.each([
      ['a form cut off inside a part header', '--zzz\r\nContent-Disposition: form-da'],
      ['a form cut off after the file, before the closing boundary', `${fileHead}abc\r\n`],
      [
        'a form cut off after a field',
        '--zzz\r\nContent-Disposition: form-data; name="preset"\r\n\r\ndefault',
      ],
      ['a form ending at its first boundary', '--zzz'],
      ['an empty body', ''],
      ['a part header without a colon', '--zzz\r\nContent-Disposition form-data\r\n\r\nx\r\n--zzz--\r\n'],
      [
        'a form of too many parts',
        `${Array.from({ length: 13 }, (_, index) => `--zzz\r\nContent-Disposition: form-data; name="f${index}"\r\n\r\nx\r\n`).join('')}--zzz--\r\n`,
      ],
    ])('answers 400 Request::MalformedMultipart for %s', async (_case, body) => {
      const response = await rawUpload(body);

      expect(response.statusCode).toBe(400);
      expect(response.body.error.code).toBe('Request::MalformedMultipart');
    });

    it('answers 400 for a multipart content type whose boundary is empty', async () => {
      const response = await rawUpload(`${fileHead}abc`, 'multipart/form-data; boundary=');

      expect(response.statusCode).toBe(400);
      expect(response.body.error.code).toBe('Request::MalformedMultipart');
    });

    it('reads a field sent after the file', async () => {
      const bytes = await makeJpeg(24, 24, 16);

      const response = await upload([filePart(bytes), { name: 'preset', value: 'square-webp' }]);

      expect(response.statusCode).toBe(201);
      expect(response.body.preset).toBe('square-webp');
      await api.env.drain(api.env.queues.image.url);
    });
  });

  it('leaves nothing behind for a refused request', async () => {
    const id = randomUUID();
    const itemsBefore = await countItems();

    await upload<ErrorBody>([filePart(Buffer.from(id)), { name: 'preset', value: 'nope' }]);

    expect(await countItems()).toBe(itemsBefore);
  });
});
