/**
 * How long stored media lives, shared by the storage construct (the buckets' lifecycle rules) and the
 * API (what GET /api/presets/ announces, and the window in which a failed job can still be retried).
 *
 * Originals expire a fixed number of days after they are created, whatever became of their job. A
 * lifecycle rule cannot know "processed", and tagging each original when its job finishes would leave
 * the originals of failed jobs (retryable or not), duplicates and abandoned uploads growing forever
 * unless every terminal path tagged them too. Age alone is safe because a job needs its original only
 * while it runs: ingest reads it within seconds of its arrival, processing attempts within hours (at
 * most 20 attempts of at most 5 minutes with 15-minute backoffs), and a retry only while the retry
 * window below is open, which closes RETRY_MARGIN_DAYS before the original can go.
 */

const DAY_MS = 24 * 60 * 60 * 1000;

/** Originals (uploads/) are deleted this many days after upload when the stack does not say. */
export const DEFAULT_UPLOAD_RETENTION_DAYS = 30;

/**
 * The shortest retention of originals: longer than an announced job waits for its upload (a week,
 * functions/api/create-upload.ts) and than a job's message can wait in a work queue during an outage
 * (7 days, lib/retry-budgets.ts), plus the retry margin below and a day: a job that runs at all finds
 * its original.
 */
export const MIN_UPLOAD_RETENTION_DAYS = 10;

/** Whatever is kept longer than ten years had better not be decided by a lifecycle rule. */
export const MAX_RETENTION_DAYS = 3650;

/**
 * A retry must start this long before the original can expire: time for every attempt and backoff of
 * the retried job (hours), with room for a queue backlog.
 */
export const RETRY_MARGIN_DAYS = 2;

/**
 * Until when a failed job may be retried, given when it was created and how long originals are kept
 * (0: kept, no deadline). S3 expires an object at the first midnight UTC after `creation + days`, and an
 * original is created when its job is announced (multipart) or later (single PUT, direct upload): the
 * job's creation time is never later than its original's, so the deadline is never too late.
 */
export const retryDeadline = (createdAt: string, uploadRetentionDays: number): Date | undefined =>
  uploadRetentionDays > 0
    ? new Date(Date.parse(createdAt) + (uploadRetentionDays - RETRY_MARGIN_DAYS) * DAY_MS)
    : undefined;
