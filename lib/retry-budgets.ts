/**
 * Every retry budget of the pipeline, in one place, derived from the two settings people choose
 * (`maxAttempts`, `webhookMaxAttempts`). The constructs, the functions' environment and the test
 * harness all take their numbers from here, so the queues and the code that counts can never disagree.
 *
 * - Processing: the image and video functions count attempts on the job and fail it after the last
 *   (functions/processing/process-job.ts). Their queues allow SPARE_RECEIVES more receives than that, so
 *   that a crash or timeout on the last attempts still leaves a delivery that sees the count and fails
 *   the job readably; only messages every delivery of which crashed reach the dead-letter queue, where
 *   the dead-letter function fails the job (functions/dead-letter/settle-dead-letter.ts).
 * - Webhooks: attempts follow a schedule of about a day (WEBHOOK_RETRY_SCHEDULE_SECONDS in
 *   functions/shared/retry.ts), whose length is the default budget. The webhook function counts them on
 *   the job (`webhook.attempts`), not with SQS's receive count, so the budget survives restarts and
 *   redrives; the queue allows WEBHOOK_SPARE_RECEIVES more receives (deliveries whose outcome was lost and
 *   is sent again, the receives after the last attempt that hand the message to the dead-letter queue),
 *   and keeps messages longer than the whole schedule can take.
 * - Ingest: Lambda's asynchronous invocation retries a failed ingest INGEST_ASYNC_RETRIES times before
 *   the S3 event goes to ingest's dead-letter queue (and the dead-letter function fails the job).
 */

import { DEFAULT_WEBHOOK_MAX_ATTEMPTS, webhookScheduleMaxSpanSeconds } from '#shared/retry';

/** Receives of a processing message beyond the job's attempts: room for crashes on the last ones. */
export const SPARE_RECEIVES = 2;

/** Receives of a webhook message beyond its attempts: lost outcomes sent again, the hand-over to the DLQ. */
export const WEBHOOK_SPARE_RECEIVES = 2;

/** The default webhook budget: one attempt per step of the schedule (8, over about 27.5 hours). */
export { DEFAULT_WEBHOOK_MAX_ATTEMPTS };

/** SQS keeps a message at most 14 days; the webhook queue keeps one at least its default, 4 days. */
const DAY_SECONDS = 24 * 3600;
const MAX_RETENTION_SECONDS = 14 * DAY_SECONDS;
const MIN_RETENTION_SECONDS = 4 * DAY_SECONDS;
/** A message outlives the longest schedule by a day: time for crashes and visibility timeouts along the way. */
const RETENTION_MARGIN_SECONDS = DAY_SECONDS;

/** The largest webhook budget whose whole schedule, and the margin, fits SQS's 14-day retention. */
export const MAX_WEBHOOK_ATTEMPTS = (() => {
  let attempts = 1;
  while (webhookScheduleMaxSpanSeconds(attempts + 1) + RETENTION_MARGIN_SECONDS <= MAX_RETENTION_SECONDS)
    attempts++;
  return attempts;
})();

/** Lambda's asynchronous retries of a failed ingest (0–2; Lambda's own default is 2). */
export const INGEST_ASYNC_RETRIES = 2;

export const processingMaxReceiveCount = (maxAttempts: number): number => maxAttempts + SPARE_RECEIVES;

export const webhookMaxReceiveCount = (webhookMaxAttempts: number): number =>
  webhookMaxAttempts + WEBHOOK_SPARE_RECEIVES;

/**
 * How long the webhook queue keeps a message: the longest the schedule can take (every wait at the top of
 * its jitter) plus a day, in whole days, at least SQS's default of 4 days. Throws for a budget whose
 * schedule SQS cannot keep a message through.
 */
export const webhookQueueRetentionSeconds = (webhookMaxAttempts: number): number => {
  const needed = webhookScheduleMaxSpanSeconds(webhookMaxAttempts) + RETENTION_MARGIN_SECONDS;
  if (needed > MAX_RETENTION_SECONDS) {
    throw new Error(
      `webhookMaxAttempts ${webhookMaxAttempts} makes the webhook schedule last up to ${Math.ceil(needed / DAY_SECONDS)} days with its margin, longer than SQS keeps a message (14 days): use at most ${MAX_WEBHOOK_ATTEMPTS}`,
    );
  }
  return Math.max(MIN_RETENTION_SECONDS, Math.ceil(needed / DAY_SECONDS) * DAY_SECONDS);
};

export interface RetrySettings {
  readonly maxAttempts: number;
  readonly webhookMaxAttempts: number;
}

export interface RetryBudgets {
  readonly processing: { readonly attempts: number; readonly maxReceiveCount: number };
  readonly webhook: {
    readonly attempts: number;
    readonly maxReceiveCount: number;
    /** How long the webhook queue keeps a message, in seconds. */
    readonly retentionSeconds: number;
  };
  readonly ingest: { readonly asyncRetries: number };
}

export const retryBudgets = (settings: RetrySettings): RetryBudgets => ({
  processing: {
    attempts: settings.maxAttempts,
    maxReceiveCount: processingMaxReceiveCount(settings.maxAttempts),
  },
  webhook: {
    attempts: settings.webhookMaxAttempts,
    maxReceiveCount: webhookMaxReceiveCount(settings.webhookMaxAttempts),
    retentionSeconds: webhookQueueRetentionSeconds(settings.webhookMaxAttempts),
  },
  ingest: { asyncRetries: INGEST_ASYNC_RETRIES },
});
