/**
 * Every retry budget of the pipeline, in one place, derived from the two settings people choose
 * (`maxAttempts`, `webhookMaxAttempts`) and the timings below. The constructs, the functions' environment
 * and the test harness all take their numbers from here, so the queues and the code that counts can
 * never disagree.
 *
 * - Processing: the image and video functions count attempts on the job (in DynamoDB, before any work,
 *   so crashes and timeouts count too) and fail it after the last (functions/processing/process-job.ts).
 *   Those attempts are what limit real failures. SQS's receive count also counts receives that started
 *   no attempt: a delivery Lambda throttled (the account's concurrency was used up, or a reserved
 *   concurrency was lower than the mapping's maximum concurrency), or a handler that failed before it
 *   could count (DynamoDB unreachable, a broken deployment). Each of those hides the message for one
 *   visibility timeout. The queue's maxReceiveCount is therefore made as large as the queue's
 *   retention allows (`processingReceiveBudget`): the attempts, plus one receive per visibility timeout
 *   for the rest of the retention, at most SQS's 1000. Throttling then only delays a job, for days: an
 *   image message's 1000 receives last about 4.2 days of uninterrupted throttling, a video message's
 *   336 the whole 7 days' retention. A message that outlasts its budget reaches the dead-letter queue,
 *   as does one none of whose deliveries could ever count an attempt, and the dead-letter function
 *   fails its job (functions/dead-letter/settle-dead-letter.ts). Meanwhile the reconciler counts the
 *   queued jobs whose message was sent longer ago than the backoff ceiling plus a visibility timeout
 *   (about 23 minutes for images, 47 for videos) and asks their queue for its backlog (waiting, in
 *   flight and delayed messages): while the queue holds at least as many messages, a backlog or
 *   throttling keeps them there and nothing is sent again. Only a queue holding fewer has lost some;
 *   which ones cannot be told, so that run's candidates are all sent again, and the copies of messages
 *   still queued are dropped by the processors once their job has moved on.
 * - Webhooks: attempts follow a schedule of about a day (WEBHOOK_RETRY_SCHEDULE_SECONDS in
 *   functions/shared/retry.ts), whose length is the default budget. The webhook function counts them on
 *   the job (`webhook.attempts`), not with SQS's receive count, so the budget survives restarts and
 *   redrives; the queue allows WEBHOOK_SPARE_RECEIVES more receives (deliveries whose outcome was lost and
 *   is sent again, the receives after the last attempt that hand the message to the dead-letter queue)
 *   and one per visibility timeout of WEBHOOK_THROTTLE_WINDOW_SECONDS (an hour of throttled deliveries),
 *   and keeps messages longer than the whole schedule can take. The function hands a spent message to
 *   the dead-letter queue by failing it back at once, receive after receive, so its budget stays small;
 *   a webhook whose message was lost anyway is announced again by the reconciler. A webhook is never a
 *   job's failure: the job's outcome is recorded before it is announced.
 * - Ingest: Lambda's asynchronous invocation retries a failed ingest INGEST_ASYNC_RETRIES times (and a
 *   throttled one for up to 6 hours) before the S3 event goes to ingest's dead-letter queue (and the
 *   dead-letter function fails the job, or leaves it to the reconciler when the upload is there).
 *
 * Retention: a standard queue's message keeps its original enqueue time when SQS moves it to a
 * dead-letter queue, so the dead-letter queue's retention counts from the first send. Every dead-letter
 * queue keeps messages SQS's maximum, 14 days, and every work queue at most 14 − 7 = 7 days, so that
 * whatever is dead-lettered waits at least 7 days there for a look and a redrive.
 */

import { DEFAULT_BACKOFF, DEFAULT_WEBHOOK_MAX_ATTEMPTS, webhookScheduleMaxSpanSeconds } from '#shared/retry';

const DAY_SECONDS = 24 * 3600;

/** SQS's largest maxReceiveCount. */
export const SQS_MAX_RECEIVE_COUNT = 1000;
/** SQS's longest retention, which every dead-letter queue keeps. */
export const DEAD_LETTER_RETENTION_SECONDS = 14 * DAY_SECONDS;
/** The least time a dead-lettered message waits in its dead-letter queue (retention counts from its first send). */
export const MIN_DEAD_LETTER_WAIT_SECONDS = 7 * DAY_SECONDS;
/** A work queue keeps messages at most this long: 7 days. */
export const MAX_WORK_QUEUE_RETENTION_SECONDS = DEAD_LETTER_RETENTION_SECONDS - MIN_DEAD_LETTER_WAIT_SECONDS;
/**
 * The image and video queues keep a message 7 days (SQS's default is 4): a backlog held back by the
 * mappings' maximum concurrency, an outage over a long weekend, or days of throttling delay jobs
 * without losing their messages, and a dead-lettered one still waits 7 days in its dead-letter queue.
 */
export const PROCESSING_QUEUE_RETENTION_SECONDS = MAX_WORK_QUEUE_RETENTION_SECONDS;

/**
 * AWS's guidance: a queue's visibility timeout is at least six times its consumer's timeout, so that
 * a message is not handed to a second invocation while the first (or its retries) still works on it.
 */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

export const visibilityTimeoutSeconds = (consumerTimeoutSeconds: number): number =>
  consumerTimeoutSeconds * VISIBILITY_TIMEOUT_FACTOR;

/** The processors' timeouts: their functions, their queues' visibility and the reconciler's deadlines follow them. */
export const PROCESSOR_TIMEOUT_SECONDS = { image: 60, video: 300 } as const;
export type Processor = keyof typeof PROCESSOR_TIMEOUT_SECONDS;

/** One webhook delivery attempt: connect, send, read a bounded response (the function's own limit is 10 s). */
export const WEBHOOK_FUNCTION_TIMEOUT_SECONDS = 30;

/** Receives of a processing message beyond the job's attempts, at the least: room for crashes on the last ones. */
export const SPARE_RECEIVES = 2;

/** Receives of a webhook message beyond its attempts: lost outcomes sent again, the hand-over to the DLQ. */
export const WEBHOOK_SPARE_RECEIVES = 2;

/** How long a webhook message may be throttled, on top of its attempts, before it runs out of receives. */
export const WEBHOOK_THROTTLE_WINDOW_SECONDS = 3600;

/** The default webhook budget: one attempt per step of the schedule (8, over about 27.5 hours). */
export { DEFAULT_WEBHOOK_MAX_ATTEMPTS };

/** The webhook queue keeps a message at least SQS's default, 4 days. */
const MIN_WEBHOOK_RETENTION_SECONDS = 4 * DAY_SECONDS;
/** A message outlives the longest schedule by a day: time for crashes and visibility timeouts along the way. */
const RETENTION_MARGIN_SECONDS = DAY_SECONDS;

/** The largest webhook budget whose whole schedule, and the margin, fits a work queue's 7 days. */
export const MAX_WEBHOOK_ATTEMPTS = (() => {
  let attempts = 1;
  while (
    webhookScheduleMaxSpanSeconds(attempts + 1) + RETENTION_MARGIN_SECONDS <=
    MAX_WORK_QUEUE_RETENTION_SECONDS
  )
    attempts++;
  return attempts;
})();

/** Lambda's asynchronous retries of a failed ingest (0–2; Lambda's own default is 2). */
export const INGEST_ASYNC_RETRIES = 2;

/** What a processing queue's receive budget is made of, and how long it can last. */
export interface ProcessingBudget {
  readonly attempts: number;
  readonly maxReceiveCount: number;
  /** How long the queue keeps a message, in seconds. */
  readonly retentionSeconds: number;
  readonly visibilityTimeoutSeconds: number;
  /**
   * Receives that may start no attempt (throttled, or failed before the attempt was counted) before the
   * message is dead-lettered: maxReceiveCount − attempts.
   */
  readonly uncountedReceives: number;
  /** How long uninterrupted throttling must last to use up those receives: uncountedReceives × visibility. */
  readonly throttleToleranceSeconds: number;
  /**
   * The longest the whole budget can take, first receive to the last: each attempt hides its message at
   * most max(visibility timeout, function timeout + the largest backoff), each other receive one
   * visibility timeout. Never more than the retention, so a message dead-lettered by SQS gets there
   * before it expires.
   */
  readonly budgetSpanSeconds: number;
}

/**
 * The receive budget of a processing queue:
 *
 *   attemptSpan      = max(V, T + B)                        (V visibility, T function timeout, B backoff ceiling)
 *   uncounted        = floor((R − A × attemptSpan) / V)      (R retention, A attempts)
 *   maxReceiveCount  = min(1000, A + uncounted)
 *
 * With the defaults (A 3, B 900 s, R 7 days): images (T 60 s, V 360 s) 3 + 1672 → 1000 receives, which
 * throttling needs 997 × 6 min ≈ 4.2 days to use up; videos (T 300 s, V 1800 s) 3 + 333 = 336, about
 * 6.9 days. Throws when the retention leaves fewer than SPARE_RECEIVES receives beyond the attempts.
 */
export const processingReceiveBudget = (
  maxAttempts: number,
  functionTimeoutSeconds: number,
  options: { retentionSeconds?: number; retryMaxSeconds?: number } = {},
): ProcessingBudget => {
  const retentionSeconds = options.retentionSeconds ?? PROCESSING_QUEUE_RETENTION_SECONDS;
  const retryMaxSeconds = options.retryMaxSeconds ?? DEFAULT_BACKOFF.maxSeconds;
  const visibility = visibilityTimeoutSeconds(functionTimeoutSeconds);
  const attemptSpan = Math.max(visibility, functionTimeoutSeconds + retryMaxSeconds);
  const attemptsSpan = maxAttempts * attemptSpan;
  const uncountedFit = Math.floor((retentionSeconds - attemptsSpan) / visibility);
  const maxReceiveCount = Math.min(SQS_MAX_RECEIVE_COUNT, maxAttempts + uncountedFit);
  if (maxReceiveCount < maxAttempts + SPARE_RECEIVES) {
    throw new Error(
      `a processing queue that keeps messages ${retentionSeconds} s cannot hold ${maxAttempts} attempts of a ${functionTimeoutSeconds} s function (each up to ${attemptSpan} s) and ${SPARE_RECEIVES} more receives: lower maxAttempts`,
    );
  }
  const uncountedReceives = maxReceiveCount - maxAttempts;
  return {
    attempts: maxAttempts,
    maxReceiveCount,
    retentionSeconds,
    visibilityTimeoutSeconds: visibility,
    uncountedReceives,
    throttleToleranceSeconds: uncountedReceives * visibility,
    budgetSpanSeconds: attemptsSpan + uncountedReceives * visibility,
  };
};

/** Receives of a webhook message that make no attempt and are not the hand-over: an hour of throttling. */
export const WEBHOOK_THROTTLE_RECEIVES = Math.ceil(
  WEBHOOK_THROTTLE_WINDOW_SECONDS / visibilityTimeoutSeconds(WEBHOOK_FUNCTION_TIMEOUT_SECONDS),
);

export const webhookMaxReceiveCount = (webhookMaxAttempts: number): number =>
  webhookMaxAttempts + WEBHOOK_SPARE_RECEIVES + WEBHOOK_THROTTLE_RECEIVES;

/**
 * How long the webhook queue keeps a message: the longest the schedule can take (every wait at the top of
 * its jitter) plus a day, in whole days, at least SQS's default of 4 days. Throws for a budget whose
 * schedule does not fit a work queue's 7 days (which leave a dead-lettered webhook 7 days in its
 * dead-letter queue for a redrive).
 */
export const webhookQueueRetentionSeconds = (webhookMaxAttempts: number): number => {
  const needed = webhookScheduleMaxSpanSeconds(webhookMaxAttempts) + RETENTION_MARGIN_SECONDS;
  if (needed > MAX_WORK_QUEUE_RETENTION_SECONDS) {
    throw new Error(
      `webhookMaxAttempts ${webhookMaxAttempts} makes the webhook schedule last up to ${Math.ceil(needed / DAY_SECONDS)} days with its margin, longer than a work queue keeps a message (7 days, so that a dead-lettered webhook still waits 7 of SQS's 14 days in its dead-letter queue): use at most ${MAX_WEBHOOK_ATTEMPTS}`,
    );
  }
  return Math.max(MIN_WEBHOOK_RETENTION_SECONDS, Math.ceil(needed / DAY_SECONDS) * DAY_SECONDS);
};

export interface RetrySettings {
  readonly maxAttempts: number;
  readonly webhookMaxAttempts: number;
}

export interface RetryBudgets {
  readonly image: ProcessingBudget;
  readonly video: ProcessingBudget;
  readonly webhook: {
    readonly attempts: number;
    readonly maxReceiveCount: number;
    /** How long the webhook queue keeps a message, in seconds. */
    readonly retentionSeconds: number;
  };
  readonly ingest: { readonly asyncRetries: number };
}

export const retryBudgets = (settings: RetrySettings): RetryBudgets => ({
  image: processingReceiveBudget(settings.maxAttempts, PROCESSOR_TIMEOUT_SECONDS.image),
  video: processingReceiveBudget(settings.maxAttempts, PROCESSOR_TIMEOUT_SECONDS.video),
  webhook: {
    attempts: settings.webhookMaxAttempts,
    maxReceiveCount: webhookMaxReceiveCount(settings.webhookMaxAttempts),
    retentionSeconds: webhookQueueRetentionSeconds(settings.webhookMaxAttempts),
  },
  ingest: { asyncRetries: INGEST_ASYNC_RETRIES },
});
