import { GetObjectCommand, PutObjectCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { describe, expect, it } from 'vitest';
import {
  bucketOrigins,
  contentSecurityPolicy,
  type S3Addressing,
} from '../../functions/web/content-security-policy.ts';

/** Bucket names as CDK generates them: lower case, hyphens, no dots. */
const UPLOADS = 'mediapipeline-storageuploadsbucket4d8a1f2c-1x2y3z4w5v6u';
const RESULTS = 'mediapipeline-storageresultsbucket9e7b6a5d-0a1b2c3d4e5f';

/** What the API's presigner (functions/shared/aws-clients.ts) signs for `addressing`, as the SDK does it. */
const signedOrigins = async (bucket: string, addressing: S3Addressing): Promise<string[]> => {
  const client = new S3Client({
    region: addressing.region,
    forcePathStyle: addressing.forcePathStyle,
    ...(addressing.endpoint ? { endpoint: addressing.endpoint } : {}),
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
  });
  const urls = await Promise.all([
    getSignedUrl(client, new PutObjectCommand({ Bucket: bucket, Key: 'uploads/0b8a3c52' })),
    getSignedUrl(
      client,
      new UploadPartCommand({ Bucket: bucket, Key: 'uploads/0b8a', UploadId: 'u', PartNumber: 1 }),
    ),
    getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: 'results/0b8a/thumb.jpg' })),
  ]);
  client.destroy();
  return [...new Set(urls.map((url) => new URL(url).origin))];
};

describe('bucketOrigins', () => {
  it.each<[string, S3Addressing]>([
    ['AWS in us-east-1', { region: 'us-east-1', forcePathStyle: false }],
    ['AWS in eu-west-3', { region: 'eu-west-3', forcePathStyle: false }],
    ['AWS China', { region: 'cn-north-1', forcePathStyle: false }],
    [
      'the local runtime (s3rver, path-style)',
      { region: 'us-east-1', endpoint: 'http://127.0.0.1:4569', forcePathStyle: true },
    ],
    [
      'LocalStack, virtual-hosted',
      { region: 'us-east-1', endpoint: 'http://localhost.localstack.cloud:4566', forcePathStyle: false },
    ],
    [
      'LocalStack, path-style',
      { region: 'eu-central-1', endpoint: 'http://localhost.localstack.cloud:4566', forcePathStyle: true },
    ],
  ])('allows exactly the origin the SDK signs uploads and results for: %s', async (_name, addressing) => {
    // Act
    const allowed = [...bucketOrigins(UPLOADS, addressing), ...bucketOrigins(RESULTS, addressing)];
    const signed = [
      ...(await signedOrigins(UPLOADS, addressing)),
      ...(await signedOrigins(RESULTS, addressing)),
    ];
    // Assess
    for (const origin of signed) expect(allowed).toContain(origin);
  });

  it('names the bucket itself on AWS, not the shared regional endpoint', () => {
    expect(bucketOrigins(UPLOADS, { region: 'eu-west-3', forcePathStyle: false })).toEqual([
      `https://${UPLOADS}.s3.eu-west-3.amazonaws.com`,
    ]);
  });

  it('allows the emulator itself, and no other port, with a path-style endpoint', () => {
    expect(
      bucketOrigins(UPLOADS, {
        region: 'us-east-1',
        endpoint: 'http://127.0.0.1:4569',
        forcePathStyle: true,
      }),
    ).toEqual(['http://127.0.0.1:4569']);
  });
});

describe('contentSecurityPolicy', () => {
  const policy = contentSecurityPolicy({
    connect: ['https://uploads.example'],
    images: ['https://results.example'],
  });
  const directives = Object.fromEntries(
    policy.split('; ').map((directive) => {
      const [name = '', ...values] = directive.split(' ');
      return [name, values];
    }),
  );

  it('starts from nothing and allows only the page’s own script and style sheet, no inline code', () => {
    expect(directives['default-src']).toEqual(["'none'"]);
    expect(directives['script-src']).toEqual(["'self'"]);
    expect(directives['style-src']).toEqual(["'self'"]);
    expect(policy).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
  });

  it('lets the page fetch from its origin and the uploads bucket, and show images from the results bucket', () => {
    expect(directives['connect-src']).toEqual(["'self'", 'https://uploads.example']);
    expect(directives['img-src']).toEqual(["'self'", 'https://results.example']);
  });

  it('forbids framing, form posts and <base>', () => {
    expect(directives['frame-ancestors']).toEqual(["'none'"]);
    expect(directives['form-action']).toEqual(["'none'"]);
    expect(directives['base-uri']).toEqual(["'none'"]);
  });
});
