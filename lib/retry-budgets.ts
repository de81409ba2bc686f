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
 * - Webhooks: the webhook queue's maxReceiveCount is the delivery budget itself, so SQS's
 *   ApproximateReceiveCount is the attempt number the function reports, and the dead-letter queue keeps
 *   what exhausted it for a redrive.
 * - Ingest: Lambda's asynchronous invocation retries a failed ingest INGEST_ASYNC_RETRIES times before
 *   the S3 event goes to ingest's dead-letter queue (and the dead-letter function fails the job).
 */

/** Receives of a processing message beyond the job's attempts: room for crashes on the last ones. */
export const SPARE_RECEIVES = 2;

/** Lambda's asynchronous retries of a failed ingest (0–2; Lambda's own default is 2). */
export const INGEST_ASYNC_RETRIES = 2;

export const processingMaxReceiveCount = (maxAttempts: number): number => maxAttempts + SPARE_RECEIVES;

export const webhookMaxReceiveCount = (webhookMaxAttempts: number): number => webhookMaxAttempts;

export interface RetrySettings {
  readonly maxAttempts: number;
  readonly webhookMaxAttempts: number;
}

export interface RetryBudgets {
  readonly processing: { readonly attempts: number; readonly maxReceiveCount: number };
  readonly webhook: { readonly attempts: number; readonly maxReceiveCount: number };
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
  },
  ingest: { asyncRetries: INGEST_ASYNC_RETRIES },
});
