import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListPartsCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Dispatcher } from '#shared/dispatch';
import { ConflictError, ValidationError } from '#shared/errors';
import { type Job, JobStatus } from '#shared/job';
import type { JobStore } from '#shared/job-store';
import { logger } from '#shared/observability';
import { newJobFor, signOnlyDeclaredChecksums } from './create-upload.ts';
import { ownJob } from './job-access.ts';
import { type JobView, type JobViewDeps, viewJob } from './job-view.ts';
import { MULTIPART_UPLOAD_LIFETIME_SECONDS, partSizeOf, planParts } from './multipart-plan.ts';
import type { CompleteUploadRequest, PartUrlsRequest, ValidatedFileDescription } from './request-schemas.ts';

/**
 * Large files go to S3 in parts (a multipart upload): the client sends parts in parallel, retries a
 * failed part alone, and resumes an interrupted upload without sending the finished parts again. The
 * API starts the upload, signs UploadPart URLs a batch at a time (so a multi-gigabyte upload never holds
 * URLs that expire before they are used), lists what S3 already has, completes and aborts. The bytes
 * never pass through the API; ingest takes the completed object like any other upload.
 */

export interface MultipartDeps {
  /** Starts, lists, completes and aborts uploads. */
  s3: S3Client;
  /** Signs UploadPart URLs for the host the client will use (`s3Presigner` in #shared/aws-clients). */
  presigner: S3Client;
  store: JobStore;
  /** An aborted upload fails its job, which is announced to its callback like any failure. */
  dispatcher: Dispatcher;
  uploadsBucket: string;
  partUrlTtlSeconds: number;
  /** The completion answers with the job as GET /api/media/{id}/ shows it. */
  view: JobViewDeps;
}

export interface MultipartInstructions {
  method: 'multipart';
  upload_id: string;
  /** Every part but the last has exactly this many bytes; the last has the rest. */
  part_size: number;
  part_count: number;
  /** When S3 discards the parts of an upload not completed by then. */
  expires_at: string;
  /** Paths on this API: POST for part URLs, GET for the parts S3 has. */
  parts_url: string;
  complete_url: string;
  abort_url: string;
}

export interface CreatedMultipartUpload {
  job_id: string;
  status: typeof JobStatus.AwaitingUpload;
  upload: MultipartInstructions;
}

export interface SignedPart {
  part_number: number;
  url: string;
  size: number;
  /** Signed like the single PUT's: the part must have exactly `size` bytes (fetch sets it from the body). */
  headers: Record<string, string>;
}

export interface SignedParts {
  job_id: string;
  upload_id: string;
  expires_at: string;
  parts: SignedPart[];
}

export interface UploadedPart {
  part_number: number;
  etag: string;
  size: number;
}

export interface UploadedParts {
  job_id: string;
  upload_id: string;
  part_size: number;
  part_count: number;
  parts: UploadedPart[];
}

type MultipartJob = Job & { upload_id: string; part_size: number; part_count: number };

const routesOf = (jobId: string) => {
  const base = `/api/media/${jobId}/upload`;
  return { parts_url: `${base}/parts`, complete_url: `${base}/complete`, abort_url: `${base}/abort` };
};

const isS3Error = (error: unknown, ...names: string[]): error is Error =>
  error instanceof Error && names.includes(error.name);

/** Starts the S3 multipart upload and records the job that waits for it. */
export const createMultipartUpload = async (
  deps: MultipartDeps,
  tenant: string,
  description: ValidatedFileDescription,
): Promise<CreatedMultipartUpload> => {
  const now = new Date();
  const plan = planParts(description.size);
  const draft = newJobFor(tenant, description, 'multipart', now);
  const started = await deps.s3.send(
    new CreateMultipartUploadCommand({
      Bucket: deps.uploadsBucket,
      Key: draft.upload_key,
      ContentType: draft.content_type,
    }),
  );
  if (!started.UploadId) throw new Error('S3 started a multipart upload without an upload id');
  const job: MultipartJob = { ...draft, upload_id: started.UploadId, ...plan };
  // Should this fail, the started upload holds no parts and the bucket's lifecycle rule removes it.
  await deps.store.create(job);
  return {
    job_id: job.id,
    status: JobStatus.AwaitingUpload,
    upload: {
      method: 'multipart',
      upload_id: job.upload_id,
      ...plan,
      expires_at: new Date(now.getTime() + MULTIPART_UPLOAD_LIFETIME_SECONDS * 1000).toISOString(),
      ...routesOf(job.id),
    },
  };
};

/** The job behind a multipart route, refused with what to do when it cannot take part requests. */
const awaitingMultipartJob = async (
  store: JobStore,
  tenant: string,
  jobId: string,
): Promise<MultipartJob> => {
  const job = await ownJob(store, tenant, jobId);
  if (job.upload_method !== 'multipart' || !job.upload_id || !job.part_size || !job.part_count) {
    throw new ConflictError(
      'Upload::NotMultipart',
      `job ${jobId} was not created for a multipart upload: send its file with the single PUT it was given`,
    );
  }
  if (job.status !== JobStatus.AwaitingUpload) {
    const why =
      job.error_code === 'Upload::Aborted'
        ? 'its upload was aborted'
        : `its upload is complete and the job is ${job.status === 'duplicate' ? 'a duplicate of another' : job.status}`;
    throw new ConflictError(
      'Upload::NotAwaitingUpload',
      `job ${jobId} is no longer awaiting its upload: ${why}; create a new upload to send a file again`,
    );
  }
  return job as MultipartJob;
};

const gone = (jobId: string, cause: unknown) =>
  new ConflictError(
    'Upload::MultipartGone',
    `the multipart upload of job ${jobId} no longer exists in S3 (aborted, or left incomplete for more than a day); create a new upload`,
    { cause },
  );

const keyTaken = (jobId: string, cause: unknown) =>
  new ConflictError(
    'Upload::AlreadyStored',
    `another object is already stored for job ${jobId}, and uploads never replace one; create a new upload`,
    { cause },
  );

const assertPartNumbersInPlan = (job: MultipartJob, numbers: readonly number[], field: string): void => {
  const outside = numbers.filter((number) => number > job.part_count);
  if (outside.length > 0) {
    throw new ValidationError(
      'Upload::InvalidPartNumber',
      `part ${outside[0]} is outside this upload: it has ${job.part_count} part${job.part_count === 1 ? '' : 's'}, numbered 1 to ${job.part_count}`,
      field,
    );
  }
};

/** Presigned UploadPart URLs for the parts asked for, each bound to its part's exact size. */
export const signUploadParts = async (
  deps: MultipartDeps,
  tenant: string,
  jobId: string,
  request: PartUrlsRequest,
): Promise<SignedParts> => {
  const job = await awaitingMultipartJob(deps.store, tenant, jobId);
  assertPartNumbersInPlan(job, request.part_numbers, 'part_numbers');
  const now = Date.now();
  const parts = await Promise.all(
    request.part_numbers.map(async (partNumber): Promise<SignedPart> => {
      const size = partSizeOf(job, partNumber);
      const command = new UploadPartCommand({
        Bucket: deps.uploadsBucket,
        Key: job.upload_key,
        UploadId: job.upload_id,
        PartNumber: partNumber,
        ContentLength: size,
      });
      signOnlyDeclaredChecksums(command);
      const url = await getSignedUrl(deps.presigner, command, {
        expiresIn: deps.partUrlTtlSeconds,
        signableHeaders: new Set(['content-length']),
      });
      return { part_number: partNumber, url, size, headers: { 'Content-Length': String(size) } };
    }),
  );
  return {
    job_id: job.id,
    upload_id: job.upload_id,
    expires_at: new Date(now + deps.partUrlTtlSeconds * 1000).toISOString(),
    parts,
  };
};

/** The parts S3 already holds (ListParts, every page), so that a client resumes without resending them. */
export const listUploadedParts = async (
  deps: MultipartDeps,
  tenant: string,
  jobId: string,
): Promise<UploadedParts> => {
  const job = await awaitingMultipartJob(deps.store, tenant, jobId);
  const parts: UploadedPart[] = [];
  let marker: string | undefined;
  try {
    for (;;) {
      const page = await deps.s3.send(
        new ListPartsCommand({
          Bucket: deps.uploadsBucket,
          Key: job.upload_key,
          UploadId: job.upload_id,
          ...(marker ? { PartNumberMarker: marker } : {}),
        }),
      );
      for (const part of page.Parts ?? []) {
        if (part.PartNumber === undefined || !part.ETag) continue;
        parts.push({ part_number: part.PartNumber, etag: part.ETag, size: part.Size ?? 0 });
      }
      if (!page.IsTruncated || !page.NextPartNumberMarker) break;
      marker = page.NextPartNumberMarker;
    }
  } catch (error) {
    if (isS3Error(error, 'NoSuchUpload')) throw gone(jobId, error);
    throw error;
  }
  return {
    job_id: job.id,
    upload_id: job.upload_id,
    part_size: job.part_size,
    part_count: job.part_count,
    parts,
  };
};

/** Whether the job's object is in place with its declared size (a completion whose answer was lost). */
const objectInPlace = async (deps: MultipartDeps, job: Job): Promise<boolean> => {
  try {
    const head = await deps.s3.send(
      new HeadObjectCommand({ Bucket: deps.uploadsBucket, Key: job.upload_key }),
    );
    return head.ContentLength === job.size;
  } catch (error) {
    if (isS3Error(error, 'NotFound', 'NoSuchKey')) return false;
    throw error;
  }
};

/** Every part 1..part_count exactly once, in order, as S3 wants them listed. */
const partsInOrder = (job: MultipartJob, request: CompleteUploadRequest) => {
  const numbers = request.parts.map((part) => part.part_number);
  assertPartNumbersInPlan(job, numbers, 'parts');
  const seen = new Set<number>();
  for (const number of numbers) {
    if (seen.has(number)) {
      throw new ValidationError('Upload::InvalidPartNumber', `part ${number} is listed twice`, 'parts');
    }
    seen.add(number);
  }
  const missing = Array.from({ length: job.part_count }, (_, i) => i + 1).filter((n) => !seen.has(n));
  if (missing.length > 0) {
    const shown = missing.slice(0, 10).join(', ');
    throw new ValidationError(
      'Upload::MissingParts',
      `the upload has ${job.part_count} parts and ${missing.length} ${missing.length === 1 ? 'is' : 'are'} not listed (${shown}${missing.length > 10 ? ', …' : ''}); upload ${missing.length === 1 ? 'it' : 'them'}, then list every part with the ETag S3 answered`,
      'parts',
    );
  }
  return [...request.parts].sort((a, b) => a.part_number - b.part_number);
};

const PART_ERRORS: Record<string, { code: string; message: string }> = {
  InvalidPart: {
    code: 'Upload::InvalidPart',
    message:
      'S3 does not have one of the listed parts with the ETag given: upload that part again, or take the ETags from GET {parts_url}, then complete again',
  },
  InvalidPartOrder: {
    code: 'Upload::InvalidPartOrder',
    message: 'the parts must be listed in ascending part-number order',
  },
  EntityTooSmall: {
    code: 'Upload::PartTooSmall',
    message:
      'a part other than the last is smaller than S3 allows (5 MiB): send every part but the last with exactly part_size bytes, then complete again',
  },
};

/** Assembles the uploaded parts into the job's object; ingest takes it from there. */
export const completeMultipartUpload = async (
  deps: MultipartDeps,
  tenant: string,
  jobId: string,
  request: CompleteUploadRequest,
): Promise<JobView> => {
  const job = await awaitingMultipartJob(deps.store, tenant, jobId);
  const parts = partsInOrder(job, request);
  try {
    await deps.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: deps.uploadsBucket,
        Key: job.upload_key,
        UploadId: job.upload_id,
        // Like the single PUT: an upload completes into an empty key, never over checked bytes.
        IfNoneMatch: '*',
        MultipartUpload: {
          Parts: parts.map((part) => ({ PartNumber: part.part_number, ETag: part.etag })),
        },
      }),
    );
  } catch (error) {
    const refusal = error instanceof Error ? PART_ERRORS[error.name] : undefined;
    if (refusal) {
      throw new ValidationError(
        refusal.code,
        refusal.message.replace('{parts_url}', routesOf(jobId).parts_url),
        'parts',
      );
    }
    // A retried completion whose first answer was lost finds the upload gone (or, with If-None-Match,
    // the key taken) and the object in place.
    if (!isS3Error(error, 'NoSuchUpload', 'PreconditionFailed')) throw error;
    if (!(await objectInPlace(deps, job))) {
      if (isS3Error(error, 'PreconditionFailed')) throw keyTaken(jobId, error);
      throw gone(jobId, error);
    }
    logger.info('multipart upload was already complete', { job_id: jobId });
  }
  return viewJob(deps.view, tenant, jobId);
};

/**
 * Has S3 drop the parts of the job's multipart upload (the abort route, and deleting a job still
 * awaiting its upload). Called once the job record has changed, so it never fails the request: already
 * gone is what is wanted, and any other failure leaves the parts to the uploads bucket's lifecycle rule
 * (AbortIncompleteMultipartUploads, a day).
 */
export const dropUploadedParts = async (
  s3: S3Client,
  uploadsBucket: string,
  job: Pick<Job, 'id' | 'upload_key' | 'upload_id'>,
): Promise<void> => {
  if (!job.upload_id) return;
  try {
    await s3.send(
      new AbortMultipartUploadCommand({
        Bucket: uploadsBucket,
        Key: job.upload_key,
        UploadId: job.upload_id,
      }),
    );
  } catch (error) {
    if (!isS3Error(error, 'NoSuchUpload')) {
      logger.warn('multipart upload could not be aborted; the lifecycle rule will remove its parts', {
        job_id: job.id,
        error: error as Error,
      });
    }
  }
};

/** Cancels the upload: the job fails with a readable error first, then S3 drops the parts. */
export const abortMultipartUpload = async (
  deps: MultipartDeps,
  tenant: string,
  jobId: string,
): Promise<{ job_id: string; status: typeof JobStatus.Failed; error: string; error_code: string }> => {
  const job = await awaitingMultipartJob(deps.store, tenant, jobId);
  const failure = {
    code: 'Upload::Aborted',
    message: 'the upload was cancelled before it completed; upload the file again to process it',
  };
  // The job's state decides: if the upload completed meanwhile, ingest owns the job and abort is refused.
  const failed = await deps.store.markUploadRefused(job.id, failure);
  if (!failed) {
    await awaitingMultipartJob(deps.store, tenant, jobId);
    throw new ConflictError('Upload::Conflict', `job ${jobId} changed while it was being aborted; try again`);
  }
  await dropUploadedParts(deps.s3, deps.uploadsBucket, job);
  await deps.dispatcher.announceOutcome(failed);
  return { job_id: jobId, status: JobStatus.Failed, error: failure.message, error_code: failure.code };
};
