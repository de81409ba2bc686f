import { DeleteObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { ConflictError } from '#shared/errors';
import { DUPLICATE, type Job, JobStatus, RESULTS_PREFIX, tenantOf } from '#shared/job';
import type { JobStore } from '#shared/job-store';
import { logger } from '#shared/observability';
import { ownJob } from './job-access.ts';
import { dropUploadedParts } from './multipart-upload.ts';

export interface DeleteJobDeps {
  store: JobStore;
  s3: S3Client;
  uploadsBucket: string;
  resultsBucket: string;
}

/** Attempts at a deletion whose job moved under it (a duplicate linking, say) before answering 409. */
const MAX_ROUNDS = 3;

const inFlight = (jobId: string, status: string) =>
  new ConflictError(
    'Job::InFlight',
    `job ${jobId} is ${status}: it cannot be deleted while it is queued or processing; wait until it is done or failed, then delete it`,
  );

/** The duplicates listed on a canonical job that still exist (a link whose upload was deleted leaves none). */
const liveDuplicates = async (store: JobStore, job: Job): Promise<string[]> => {
  const ids = [...(job.duplicates ?? [])];
  const found = await Promise.all(ids.map((id) => store.get(id)));
  return ids.filter((_, index) => found[index] !== undefined);
};

/** The job's uploaded object, and the parts of a multipart upload that never completed. */
const removeUpload = async (deps: DeleteJobDeps, job: Job): Promise<void> => {
  if (job.upload_method === 'multipart' && job.status === JobStatus.AwaitingUpload) {
    await dropUploadedParts(deps.s3, deps.uploadsBucket, job);
  }
  // After the abort: an upload completed just before it is an object now, and goes too.
  await deps.s3.send(new DeleteObjectCommand({ Bucket: deps.uploadsBucket, Key: job.upload_key }));
};

/** Everything under results/<id>/: the recorded outputs, and anything a failed attempt left. */
const removeResults = async (deps: DeleteJobDeps, job: Job): Promise<void> => {
  const keys = new Set((job.outputs ?? []).map((output) => output.key));
  let token: string | undefined;
  do {
    const page = await deps.s3.send(
      new ListObjectsV2Command({
        Bucket: deps.resultsBucket,
        Prefix: `${RESULTS_PREFIX}${job.id}/`,
        ...(token ? { ContinuationToken: token } : {}),
      }),
    );
    for (const object of page.Contents ?? []) if (object.Key) keys.add(object.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  await Promise.all(
    [...keys].map((Key) => deps.s3.send(new DeleteObjectCommand({ Bucket: deps.resultsBucket, Key }))),
  );
};

const releaseDedupKey = async (deps: DeleteJobDeps, job: Job): Promise<void> => {
  if (!job.file_hash) return;
  await deps.store.releaseDedupKey(
    { tenant: tenantOf(job), fileHash: job.file_hash, preset: job.preset },
    job.id,
  );
};

/**
 * A tombstoned canonical job whose last duplicate went: its results and record go now. Safe to run
 * twice (two last duplicates deleted at once): the record goes only as it was read.
 */
const finishTombstone = async (deps: DeleteJobDeps, canonical: Job): Promise<void> => {
  if (!canonical.deleted_at || (await liveDuplicates(deps.store, canonical)).length > 0) return;
  await removeResults(deps, canonical);
  await deps.store.remove(canonical);
  logger.info('deleted job removed with its last duplicate', { job_id: canonical.id });
};

/**
 * DELETE /api/media/{id}/: the caller's job goes, with its upload and its results, and nothing is
 * announced. Refused (409) while the job shows queued or processing.
 *
 * Results are shared with the tenant's duplicates of the job (they show the canonical job's outputs):
 * deleting a canonical job that still has duplicates only tombstones it (`deleted_at`: 404 to every
 * route, left out of the listing) and frees its idempotency key, so the same bytes uploaded again make a
 * new job; its results and record go with the last duplicate.
 *
 * Every store write is conditional on the job as read (status and `updated_at`), so it cannot race a
 * change that starts the job again: a retry, an upload arriving, a duplicate linking (which writes
 * `updated_at`). A lost race reads the job again and decides again; the S3 objects go only after the
 * record changed, so a job that wins the race keeps its bytes.
 */
export const deleteJob = async (deps: DeleteJobDeps, tenant: string, jobId: string): Promise<void> => {
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const job = await ownJob(deps.store, tenant, jobId);
    if (job.status === DUPLICATE) {
      const canonical = job.duplicate_of ? await deps.store.get(job.duplicate_of) : undefined;
      const shown = canonical?.status ?? JobStatus.Failed;
      if (shown === JobStatus.Queued || shown === JobStatus.Processing) throw inFlight(jobId, shown);
      if (!(await deps.store.remove(job))) continue;
      await removeUpload(deps, job);
      const unlinked = canonical ? await deps.store.unlinkDuplicate(canonical.id, job.id) : undefined;
      if (unlinked) await finishTombstone(deps, unlinked);
      logger.info('duplicate job deleted', { job_id: jobId, duplicate_of: job.duplicate_of });
      return;
    }
    if (job.status === JobStatus.Queued || job.status === JobStatus.Processing) {
      throw inFlight(jobId, job.status);
    }
    if ((await liveDuplicates(deps.store, job)).length > 0) {
      if (!(await deps.store.tombstone(job))) continue;
      await releaseDedupKey(deps, job);
      await removeUpload(deps, job);
      logger.info('job deleted; its results stay for its duplicates', { job_id: jobId });
      return;
    }
    if (!(await deps.store.remove(job))) continue;
    await releaseDedupKey(deps, job);
    await removeUpload(deps, job);
    await removeResults(deps, job);
    logger.info('job deleted', { job_id: jobId, status: job.status });
    return;
  }
  throw new ConflictError(
    'Job::Conflict',
    `job ${jobId} kept changing while it was being deleted; try again`,
  );
};
