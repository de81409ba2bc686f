import { existsSync } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  type KoaContext,
  type Middleware,
  respondError,
  type S3rverInternals,
  single,
  xmlEscape,
} from './s3rver-koa.ts';

export type { S3rverInternals };

/**
 * What s3rver 3.7.1 lacks of S3's multipart API, added in front of its router: it initiates, stores
 * parts and completes, but answers ListParts (`GET ?uploadId`) and AbortMultipartUpload
 * (`DELETE ?uploadId`) with 405, takes an UploadPart for an upload that no longer exists (recreating
 * it), and completes whatever it is given: a missing part fails with a 500, a wrong ETag or a 1-byte
 * middle part is accepted. Here those answer as S3 does (NoSuchUpload, InvalidPart, InvalidPartOrder,
 * EntityTooSmall), so that a client's mistake shows locally as it would on AWS.
 *
 * s3rver keeps an upload in `<bucket>/._S3rver_uploads/<uploadId>/`: `key`, `metadata`, one file per
 * part named by its number, and `<number>.md5` written once the part is stored.
 */

/** S3 refuses to complete an upload whose parts, the last excepted, are smaller than this. */
export const MIN_PART_BYTES = 5 * 1024 * 1024;
const MAX_PARTS_PER_LIST = 1000;

const noSuchUpload = (ctx: KoaContext) =>
  respondError(
    ctx,
    404,
    'NoSuchUpload',
    'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
  );

interface StoredPart {
  number: number;
  etag: string;
  size: number;
  lastModified: Date;
}

/** Parts whose upload finished (their `.md5` exists), in part-number order. */
const storedParts = async (uploadDir: string): Promise<StoredPart[]> => {
  const names = await readdir(uploadDir);
  const numbers = names
    .filter((name) => /^\d+\.md5$/.test(name))
    .map((name) => Number(name.slice(0, -4)))
    .sort((a, b) => a - b);
  return Promise.all(
    numbers.map(async (number) => {
      const [etag, stats] = await Promise.all([
        readFile(join(uploadDir, `${number}.md5`), 'utf8'),
        stat(join(uploadDir, String(number))),
      ]);
      return { number, etag: etag.trim(), size: stats.size, lastModified: stats.mtime };
    }),
  );
};

const readBody = async (stream: NodeJS.ReadableStream): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
};

/** The parts a CompleteMultipartUpload body names, in the order given. */
const requestedParts = (xml: string): Array<{ number: number; etag: string }> =>
  [...xml.matchAll(/<Part>([\s\S]*?)<\/Part>/g)].map(([, part = '']) => ({
    number: Number(/<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(part)?.[1] ?? Number.NaN),
    etag: (/<ETag>([\s\S]*?)<\/ETag>/.exec(part)?.[1] ?? '').replace(/&quot;|&#34;|"/g, '').trim(),
  }));

/** Why S3 would refuse to complete the upload with these parts, or undefined when it would not. */
export const completionRefusal = (
  requested: ReadonlyArray<{ number: number; etag: string }>,
  stored: readonly StoredPart[],
): { code: string; message: string } | undefined => {
  const byNumber = new Map(stored.map((part) => [part.number, part]));
  for (const [index, part] of requested.entries()) {
    const previous = requested[index - 1];
    if (previous && !(part.number > previous.number)) {
      return {
        code: 'InvalidPartOrder',
        message: 'The list of parts was not in ascending order. Parts must be ordered by part number.',
      };
    }
    const found = byNumber.get(part.number);
    if (!found || found.etag !== part.etag) {
      return {
        code: 'InvalidPart',
        message: `One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag. (part ${part.number})`,
      };
    }
    if (index < requested.length - 1 && found.size < MIN_PART_BYTES) {
      return {
        code: 'EntityTooSmall',
        message: `Your proposed upload is smaller than the minimum allowed size. (part ${part.number} has ${found.size} bytes)`,
      };
    }
  }
  return undefined;
};

const listPartsXml = (
  bucket: string,
  key: string,
  uploadId: string,
  parts: readonly StoredPart[],
  marker: number,
  maxParts: number,
): string => {
  const after = parts.filter((part) => part.number > marker);
  const page = after.slice(0, maxParts);
  const truncated = after.length > page.length;
  const last = page.at(-1)?.number ?? marker;
  const partsXml = page
    .map(
      (part) =>
        `<Part><PartNumber>${part.number}</PartNumber><LastModified>${part.lastModified.toISOString()}</LastModified><ETag>"${part.etag}"</ETag><Size>${part.size}</Size></Part>`,
    )
    .join('');
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    `<Bucket>${xmlEscape(bucket)}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${xmlEscape(uploadId)}</UploadId>` +
    `<PartNumberMarker>${marker}</PartNumberMarker><NextPartNumberMarker>${last}</NextPartNumberMarker>` +
    `<MaxParts>${maxParts}</MaxParts><IsTruncated>${truncated}</IsTruncated>${partsXml}</ListPartsResult>`
  );
};

/** Puts the missing multipart operations in front of s3rver's own handlers. Call before `run()`. */
export const addMultipartOperations = (server: S3rverInternals): void => {
  const multipart: Middleware = async (ctx, next) => {
    const uploadId = single(ctx.query.uploadId);
    // Path-style requests only (the emulators run with vhostBuckets: false): /<bucket>/<key>.
    const match = /^\/([^/]+)\/(.+)$/.exec(ctx.path);
    if (uploadId === undefined || !match || !['GET', 'PUT', 'POST', 'DELETE'].includes(ctx.method)) {
      return next();
    }
    const [, bucket = '', key = ''] = match;
    if (!/^[0-9a-zA-Z]+$/.test(uploadId)) return noSuchUpload(ctx);
    const uploadDir = join(server.store.getResourcePath(bucket, undefined, 'uploads'), uploadId);
    const keyFile = join(uploadDir, 'key');
    const uploadKey = existsSync(keyFile) ? await readFile(keyFile, 'utf8') : undefined;
    if (uploadKey !== key) return noSuchUpload(ctx);

    switch (ctx.method) {
      case 'GET': {
        const marker = Number(single(ctx.query['part-number-marker']) ?? 0) || 0;
        const requestedMax = Number(single(ctx.query['max-parts']) ?? MAX_PARTS_PER_LIST);
        const maxParts = Math.min(Math.max(1, requestedMax || MAX_PARTS_PER_LIST), MAX_PARTS_PER_LIST);
        ctx.status = 200;
        ctx.type = 'application/xml';
        ctx.body = listPartsXml(bucket, key, uploadId, await storedParts(uploadDir), marker, maxParts);
        return undefined;
      }
      case 'DELETE':
        await rm(uploadDir, { recursive: true, force: true });
        ctx.status = 204;
        ctx.body = null;
        return undefined;
      case 'POST': {
        const body = await readBody(ctx.req);
        const refusal = completionRefusal(
          requestedParts(body.toString('utf8')),
          await storedParts(uploadDir),
        );
        if (refusal) return respondError(ctx, 400, refusal.code, refusal.message);
        // s3rver reads the body again to complete the upload.
        ctx.req = Readable.from([body]);
        return next();
      }
      default:
        // PUT: an UploadPart to an upload that exists.
        return next();
    }
  };
  server.middleware.unshift(multipart);
};
