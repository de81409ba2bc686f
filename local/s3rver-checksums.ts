import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type KoaContext,
  type Middleware,
  respondError,
  type S3rverInternals,
  single,
} from './s3rver-koa.ts';

/**
 * The body checks S3 makes and s3rver 3.7.1 does not: `x-amz-checksum-sha256` on PutObject and
 * UploadPart (400 BadDigest, nothing stored), and a hex `x-amz-content-sha256` against the body
 * (400 XAmzContentSHA256Mismatch), which the SDK sends for bodies it holds in memory over plain http.
 *
 * s3rver writes a PUT straight over the object's file as it streams, so a body cannot be judged after
 * the fact without losing the object it replaces, and an error raised inside the stream it reads is
 * not seen by its pipe (the request would hang). So a body that must be checked is first streamed to a
 * temporary file while it is hashed (bounded memory whatever its size), and s3rver reads it from there
 * only once it matched. Bodies with nothing to check go straight through.
 *
 * aws-chunked bodies (`STREAMING-*` payloads, what the SDK sends with its default
 * requestChecksumCalculation WHEN_SUPPORTED) are refused: s3rver would store the chunk framing with
 * the bytes and answer 200. Other checksum algorithms (CRC32, CRC32C, SHA-1, CRC64NVME) pass unchecked.
 */

const EMPTY_SHA256 = createHash('sha256').digest();

const header = (ctx: KoaContext, name: string): string | undefined => single(ctx.headers[name]);

/** PutObject and UploadPart: the writes whose body becomes object bytes. */
const isObjectWrite = (ctx: KoaContext): boolean =>
  ctx.method === 'PUT' &&
  /^\/[^/]+\/.+/.test(ctx.path) &&
  header(ctx, 'x-amz-copy-source') === undefined &&
  !['tagging', 'acl'].some((subresource) => subresource in ctx.query);

const hasBody = (ctx: KoaContext): boolean =>
  header(ctx, 'transfer-encoding') !== undefined || Number(header(ctx, 'content-length') ?? 0) > 0;

/** The body, hashed, in a file of its own (removed by `discard`). */
const spool = async (
  ctx: KoaContext,
): Promise<{ digest: Buffer; path: string; discard(): Promise<void> }> => {
  const directory = await mkdtemp(join(tmpdir(), 's3rver-body-'));
  const discard = () => rm(directory, { recursive: true, force: true });
  const path = join(directory, 'body');
  const hash = createHash('sha256');
  try {
    await pipeline(
      ctx.req,
      new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          hash.update(chunk);
          callback(null, chunk);
        },
      }),
      createWriteStream(path),
    );
  } catch (error) {
    await discard();
    throw error;
  }
  return { digest: hash.digest(), path, discard };
};

const isSha256Base64 = (value: string): boolean =>
  /^[A-Za-z0-9+/]{43}=$/.test(value) && Buffer.from(value, 'base64').length === 32;

export const payloadChecks = (): Middleware => async (ctx, next) => {
  if (ctx.method !== 'PUT' && ctx.method !== 'POST') return next();
  const contentSha256 = header(ctx, 'x-amz-content-sha256');
  if (contentSha256?.startsWith('STREAMING-') || /aws-chunked/i.test(header(ctx, 'content-encoding') ?? '')) {
    return respondError(
      ctx,
      501,
      'NotImplemented',
      "The local S3 does not take aws-chunked bodies: create the S3Client with requestChecksumCalculation: 'WHEN_REQUIRED' (localS3Client does, and AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED for the functions).",
    );
  }
  const expectedPayload = /^[0-9a-f]{64}$/i.test(contentSha256 ?? '')
    ? contentSha256?.toLowerCase()
    : undefined;
  const checksum = isObjectWrite(ctx) ? header(ctx, 'x-amz-checksum-sha256') : undefined;
  if (checksum !== undefined && !isSha256Base64(checksum)) {
    return respondError(ctx, 400, 'InvalidRequest', 'Value for x-amz-checksum-sha256 header is invalid.');
  }
  if (expectedPayload === undefined && checksum === undefined) return next();

  const body = hasBody(ctx) ? await spool(ctx) : undefined;
  try {
    const digest = body?.digest ?? EMPTY_SHA256;
    if (expectedPayload !== undefined && digest.toString('hex') !== expectedPayload) {
      return respondError(
        ctx,
        400,
        'XAmzContentSHA256Mismatch',
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
        { ClientComputedContentSHA256: expectedPayload, S3ComputedContentSHA256: digest.toString('hex') },
      );
    }
    if (checksum !== undefined && digest.toString('base64') !== checksum) {
      return respondError(
        ctx,
        400,
        'BadDigest',
        'The SHA256 you specified did not match the calculated checksum.',
      );
    }
    if (body) ctx.req = createReadStream(body.path);
    return await next();
  } finally {
    await body?.discard();
  }
};

/** Put in front of s3rver's handlers (after authentication: an unsigned body is never read). */
export const addPayloadChecks = (server: S3rverInternals): void => {
  server.middleware.unshift(payloadChecks());
};
