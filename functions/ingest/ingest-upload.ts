import { GetObjectCommand, NoSuchKey, type S3Client } from '@aws-sdk/client-s3';
import type { Dispatcher } from '#shared/dispatch';
import { isTerminal, type Job, JobStatus, tenantOf } from '#shared/job';
import type { ContentKey, JobFailure, JobStore, UploadFacts } from '#shared/job-store';
import { countJob, JobMetric, logger } from '#shared/observability';
import { findPreset, maxBytesFor, mediaKindOf } from '#shared/presets';
import { digestUpload, sniffMediaType } from './digest-upload.ts';

export interface IngestDeps {
  s3: S3Client;
  store: JobStore;
  dispatcher: Dispatcher;
  uploadsBucket: string;
}

export interface IngestOutcome {
  /**
   * queued: first upload of these bytes with this preset, sent to its processor;
   * duplicate: the same bytes and preset as `canonical`, which is processed once for both;
   * refused: the upload cannot be processed, the job failed with a readable error;
   * ignored: nothing to do (a redelivered or late event, an object that is not a job's upload).
   */
  outcome: 'queued' | 'duplicate' | 'refused' | 'ignored';
  job?: Job;
  canonical?: Job;
}

const refusal = (code: string, message: string): JobFailure => ({ code, message });

/**
 * Decides what an uploaded object becomes: hashes and sniffs it, refuses what its preset cannot take,
 * and makes one job per file + preset through a conditional put on the idempotency key. Safe to run
 * again for the same upload: S3 may deliver an event twice, late, or after the API already ingested
 * a direct upload.
 */
export const ingestUpload = async (deps: IngestDeps, jobId: string): Promise<IngestOutcome> => {
  const job = await deps.store.get(jobId);
  if (!job) {
    logger.warn('object under uploads/ has no job; ignoring it', { job_id: jobId });
    return { outcome: 'ignored' };
  }
  // Anything past awaiting its upload is another writer's: a job queued whose message was never sent
  // (a run stopped between the two writes) is the reconciler's to send, with a claim, so that a late S3
  // event can never race the retry route into sending a job twice.
  if (job.status !== JobStatus.AwaitingUpload) return { outcome: 'ignored', job };

  const preset = findPreset(job.preset);
  if (!preset) {
    return refuse(deps, job, refusal('Upload::UnknownPreset', `preset "${job.preset}" no longer exists`));
  }

  let body: AsyncIterable<Uint8Array>;
  let etag: string | undefined;
  try {
    const object = await deps.s3.send(
      new GetObjectCommand({ Bucket: deps.uploadsBucket, Key: job.upload_key }),
    );
    body = object.Body as AsyncIterable<Uint8Array>;
    etag = object.ETag;
  } catch (error) {
    if (error instanceof NoSuchKey || (error instanceof Error && error.name === 'NoSuchKey')) {
      logger.warn('upload event for an object that no longer exists', { job_id: jobId });
      return { outcome: 'ignored', job };
    }
    throw error;
  }
  const digest = await digestUpload(body);
  const facts: Partial<UploadFacts> = { file_hash: digest.sha256, upload_etag: etag };

  if (digest.size === 0) {
    return refuse(deps, job, refusal('Upload::Empty', 'the uploaded file is empty (0 bytes)'), facts);
  }
  if (digest.size !== job.size) {
    return refuse(
      deps,
      job,
      refusal(
        'Upload::SizeMismatch',
        `the uploaded file has ${digest.size} bytes but the upload was created for ${job.size}; create a new upload with the file's real size`,
      ),
      facts,
    );
  }
  if (job.sha256 && job.sha256 !== digest.sha256) {
    return refuse(
      deps,
      job,
      refusal(
        'Upload::ChecksumMismatch',
        'the uploaded bytes do not match the sha256 given when the upload was created',
      ),
      facts,
    );
  }

  const detectedType = await sniffMediaType(digest);
  const kind = detectedType ? mediaKindOf(detectedType) : undefined;
  if (!detectedType || !kind) {
    return refuse(
      deps,
      job,
      refusal(
        'Upload::UnrecognizedType',
        `the file is not an image or video this service can process (its content was recognised as ${detectedType ?? 'nothing known'}, whatever its name says); supported: ${preset.accept.join(', ')}`,
      ),
      { ...facts, detected_type: detectedType },
    );
  }
  if (!(preset.accept as readonly string[]).includes(detectedType)) {
    return refuse(
      deps,
      job,
      refusal(
        'Upload::TypeNotAccepted',
        `the file is ${detectedType}, which preset "${job.preset}" does not accept; it accepts ${preset.accept.join(', ')}`,
      ),
      { ...facts, detected_type: detectedType },
    );
  }
  const limit = maxBytesFor(kind);
  if (digest.size > limit) {
    return refuse(
      deps,
      job,
      refusal('Upload::TooLarge', `the ${kind} has ${digest.size} bytes; ${kind}s may have at most ${limit}`),
      { ...facts, detected_type: detectedType },
    );
  }

  const accepted: UploadFacts = {
    ...facts,
    file_hash: digest.sha256,
    detected_type: detectedType,
    media_kind: kind,
  };
  return claimAndQueue(deps, job, accepted);
};

const claimAndQueue = async (deps: IngestDeps, job: Job, facts: UploadFacts): Promise<IngestOutcome> => {
  // Idempotency is per tenant: the same bytes of another tenant are another job, never a duplicate.
  const content: ContentKey = { tenant: tenantOf(job), fileHash: facts.file_hash, preset: job.preset };
  // A few rounds at most: a failed or deleted holder hands the key over, and the hand-over itself can
  // race another upload.
  for (let round = 0; round < 4; round++) {
    const claim = await deps.store.claimDedupKey(content, job.id);
    if (claim.claimed) {
      const queued = await deps.store.markQueued(job.id, facts);
      if (!queued) return { outcome: 'ignored', job };
      await deps.dispatcher.enqueueProcessing(queued);
      await deps.store.markEnqueued(job.id);
      logger.info('upload accepted and queued', { job_id: job.id, media_kind: facts.media_kind });
      return { outcome: 'queued', job: queued };
    }

    const holder = await deps.store.get(claim.holder);
    if (!holder || holder.status === JobStatus.Failed || holder.deleted_at) {
      // A failed job never absorbs a new upload of the same bytes: the new upload takes the key over.
      await deps.store.takeOverDedupKey(content, claim.holder, job.id);
      continue;
    }
    const linked = await linkAsDuplicate(deps, job, holder, facts);
    // The holder was deleted between the read and the link: claim the content again.
    if (linked) return linked;
  }
  throw new Error(`could not settle the idempotency key for job ${job.id}`);
};

const linkAsDuplicate = async (
  deps: IngestDeps,
  job: Job,
  holder: Job,
  facts: UploadFacts,
): Promise<IngestOutcome | undefined> => {
  // Link on the canonical job first: a single-item update is atomic, so either the canonical job's
  // completion sees this duplicate, or this call sees the completion and announces it itself.
  const canonical = await deps.store.linkDuplicate(holder.id, job.id);
  if (!canonical) return undefined;
  const duplicate = await deps.store.markDuplicate(job.id, holder.id, facts);
  if (!duplicate) return { outcome: 'ignored', job, canonical };
  countJob(JobMetric.Duplicate);
  logger.info('upload is a duplicate', { job_id: job.id, duplicate_of: holder.id });
  if (isTerminal(canonical.status)) {
    await deps.dispatcher.announceToDuplicate(job.id, canonical);
  }
  return { outcome: 'duplicate', job: duplicate, canonical };
};

const refuse = async (
  deps: IngestDeps,
  job: Job,
  failure: JobFailure,
  facts?: Partial<UploadFacts>,
): Promise<IngestOutcome> => {
  const failed = await deps.store.markUploadRefused(job.id, failure, facts);
  if (!failed) return { outcome: 'ignored', job };
  countJob(JobMetric.Failed);
  logger.info('upload refused', { job_id: job.id, error_code: failure.code });
  await deps.dispatcher.announceOutcome(failed);
  return { outcome: 'refused', job: failed };
};
