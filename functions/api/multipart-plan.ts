import { MAX_PARTS } from './request-schemas.ts';

/** How a multipart upload is cut into parts; pure, so that tests and the handler share it. */

const MiB = 1024 * 1024;

/** Files over 100 MiB take the multipart path unless MULTIPART_THRESHOLD_BYTES says otherwise. */
export const DEFAULT_MULTIPART_THRESHOLD_BYTES = 100 * MiB;

/** The smallest part planned; S3's own minimum (every part but the last) is 5 MiB. */
export const MIN_PLANNED_PART_BYTES = 8 * MiB;

/**
 * How long the client has to finish: the uploads bucket's lifecycle rule aborts multipart uploads left
 * incomplete a day after they started (lib/storage.ts).
 */
export const MULTIPART_UPLOAD_LIFETIME_SECONDS = 24 * 60 * 60;

/** Parts of at least 8 MiB, larger when a file would otherwise need more than S3's 10,000 parts. */
export const planParts = (
  size: number,
  minPartSize: number = MIN_PLANNED_PART_BYTES,
): { part_size: number; part_count: number } => {
  const partSize = Math.max(minPartSize, Math.ceil(size / MAX_PARTS / MiB) * MiB);
  return { part_size: partSize, part_count: Math.ceil(size / partSize) };
};

/** The byte count of part `partNumber` (1-based) of a job's plan. */
export const partSizeOf = (
  job: { size: number; part_size: number; part_count: number },
  partNumber: number,
): number => (partNumber < job.part_count ? job.part_size : job.size - job.part_size * (job.part_count - 1));
