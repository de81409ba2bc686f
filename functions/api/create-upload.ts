import { randomUUID } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { type Job, JobStatus, uploadKeyFor } from '#shared/job';
import type { JobStore } from '#shared/job-store';
import type { ValidatedFileDescription } from './request-schemas.ts';

/** A job whose upload never arrives is deleted by DynamoDB's TTL a week later. */
export const AWAITING_UPLOAD_TTL_SECONDS = 7 * 24 * 60 * 60;

export interface CreateUploadDeps {
  store: JobStore;
  /** Signs for the host the client will use (`s3Presigner` in #shared/aws-clients). */
  presigner: S3Client;
  uploadsBucket: string;
  uploadUrlTtlSeconds: number;
}

export interface UploadInstructions {
  method: 'PUT';
  url: string;
  /** Headers the PUT must carry, exactly as given: they are part of the signature. */
  headers: Record<string, string>;
  expires_at: string;
}

export interface CreatedUpload {
  job_id: string;
  status: typeof JobStatus.AwaitingUpload;
  upload: UploadInstructions;
}

/** The job record for an announced file, before its bytes arrive. Its key comes from its id alone. */
export const newJobFor = (
  tenant: string,
  description: Omit<ValidatedFileDescription, 'media_kind'>,
  uploadMethod: Job['upload_method'],
  now: Date = new Date(),
): Job => {
  const id = randomUUID();
  const timestamp = now.toISOString();
  return {
    id,
    tenant,
    status: JobStatus.AwaitingUpload,
    file_name: description.file_name,
    content_type: description.content_type,
    size: description.size,
    preset: description.preset,
    ...(description.callback_url ? { callback_url: description.callback_url.href } : {}),
    ...(description.sha256 ? { sha256: description.sha256 } : {}),
    upload_key: uploadKeyFor(id),
    upload_method: uploadMethod,
    attempts: 0,
    created_at: timestamp,
    updated_at: timestamp,
    ttl: Math.floor(now.getTime() / 1000) + AWAITING_UPLOAD_TTL_SECONDS,
  };
};

export const sha256HexToBase64 = (hex: string): string => Buffer.from(hex, 'hex').toString('base64');

/**
 * With AWS_REQUEST_CHECKSUM_CALCULATION at its default (WHEN_SUPPORTED), the SDK adds a CRC32 of the
 * request body to every PutObject, and when presigning there is no body: the URL would carry
 * `x-amz-checksum-crc32=AAAAAA==` (the CRC of zero bytes) and S3 would refuse every real upload as a bad
 * digest. Only the checksum the client declared (`x-amz-checksum-sha256`) may be signed.
 */
const dropUndeclaredChecksums = (request: unknown): void => {
  const headers = (request as { headers?: Record<string, string> }).headers ?? {};
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    const sdkChecksum = lower.startsWith('x-amz-checksum-') && lower !== 'x-amz-checksum-sha256';
    if (sdkChecksum || lower === 'x-amz-sdk-checksum-algorithm') delete headers[name];
  }
};

/** Keeps the SDK's own checksum out of a command that is presigned (PutObject, UploadPart). */
export const signOnlyDeclaredChecksums = (command: { middlewareStack: object }): void => {
  // Typed loosely: each command's stack is typed by its own input and output, and this works on any.
  type Handler = (args: { request: unknown }) => Promise<unknown>;
  const stack = command.middlewareStack as {
    add(middleware: (next: Handler) => Handler, options: object): void;
  };
  stack.add(
    (next) => async (args) => {
      dropUndeclaredChecksums(args.request);
      return next(args);
    },
    // After the SDK's flexibleChecksumsMiddleware (build step, normal priority) has added its checksum.
    { step: 'build', priority: 'low', name: 'dropUndeclaredChecksums' },
  );
};

/**
 * A presigned PUT that S3 accepts only with the announced bytes: Content-Type and Content-Length are
 * signed (the presigner leaves Content-Type unsigned unless told, and a presigned PUT alone cannot bound
 * the size), and so is the SHA-256 the client declared, kept as a header rather than hoisted into the
 * query string so that S3 checks the body against it. `If-None-Match: *` is signed too: the URL writes
 * the object once and S3 answers 412 to any later PUT, so the bytes ingest checks stay the bytes
 * processed (a URL re-used after a failure or after the job finished cannot swap them).
 */
export const presignUpload = async (
  presigner: S3Client,
  bucket: string,
  job: Pick<Job, 'upload_key' | 'content_type' | 'size' | 'sha256'>,
  expiresInSeconds: number,
  now: Date = new Date(),
): Promise<UploadInstructions> => {
  const checksum = job.sha256 ? sha256HexToBase64(job.sha256) : undefined;
  const command = new PutObjectCommand({
    Bucket: bucket,
    Key: job.upload_key,
    ContentType: job.content_type,
    ContentLength: job.size,
    IfNoneMatch: '*',
    ...(checksum ? { ChecksumSHA256: checksum } : {}),
  });
  signOnlyDeclaredChecksums(command);
  const url = await getSignedUrl(presigner, command, {
    expiresIn: expiresInSeconds,
    signableHeaders: new Set(['content-type', 'content-length', 'if-none-match']),
    unhoistableHeaders: new Set(checksum ? ['x-amz-checksum-sha256'] : []),
  });
  return {
    method: 'PUT',
    url,
    headers: {
      'Content-Type': job.content_type,
      // Listed because it is signed. A browser cannot set Content-Length (fetch and XHR drop it): it
      // follows the body, so sending exactly `size` bytes is what satisfies it.
      'Content-Length': String(job.size),
      'If-None-Match': '*',
      ...(checksum ? { 'x-amz-checksum-sha256': checksum } : {}),
    },
    expires_at: new Date(now.getTime() + expiresInSeconds * 1000).toISOString(),
  };
};

/** Records a job awaiting its upload and hands the caller a URL that takes exactly the announced file. */
export const createUpload = async (
  deps: CreateUploadDeps,
  tenant: string,
  description: ValidatedFileDescription,
): Promise<CreatedUpload> => {
  const now = new Date();
  const job = newJobFor(tenant, description, 'presigned_put', now);
  const upload = await presignUpload(deps.presigner, deps.uploadsBucket, job, deps.uploadUrlTtlSeconds, now);
  await deps.store.create(job);
  return { job_id: job.id, status: JobStatus.AwaitingUpload, upload };
};
