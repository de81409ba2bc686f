import { ChangeMessageVisibilityCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { envInt } from './config.ts';

/** SQS's ChangeMessageVisibility maximum: no single wait of a received message can be longer. */
export const MAX_VISIBILITY_SECONDS = 43_200;

export interface BackoffPolicy {
  /** The first retry waits up to this long; each further one doubles the ceiling. */
  baseSeconds: number;
  /** The ceiling never grows past this (SQS allows 12 hours). */
  maxSeconds: number;
}

/** The backoff a consumer uses when its environment sets none (the reconciler's deadlines count on it). */
export const DEFAULT_BACKOFF: BackoffPolicy = { baseSeconds: 10, maxSeconds: 900 };

/** Environment fields for a backoff policy, shared by every retrying consumer. */
export const backoffEnv = {
  RETRY_BASE_SECONDS: envInt(DEFAULT_BACKOFF.baseSeconds, { max: 43_200 }),
  RETRY_MAX_SECONDS: envInt(DEFAULT_BACKOFF.maxSeconds, { max: 43_200 }),
};

export const backoffPolicyFrom = (config: {
  RETRY_BASE_SECONDS: number;
  RETRY_MAX_SECONDS: number;
}): BackoffPolicy => ({
  baseSeconds: config.RETRY_BASE_SECONDS,
  maxSeconds: config.RETRY_MAX_SECONDS,
});

/**
 * The exponential ceiling of the wait after attempt `attempt` (from 1) failed: the longest
 * {@link fullJitterDelaySeconds} can draw, and what the stack's queue-age alarms allow for.
 */
export const backoffCeilingSeconds = (attempt: number, policy: BackoffPolicy): number =>
  Math.min(MAX_VISIBILITY_SECONDS, policy.maxSeconds, policy.baseSeconds * 2 ** Math.max(0, attempt - 1));

/**
 * Exponential backoff with full jitter: a uniformly random wait below the exponential ceiling, so that
 * retries of many jobs that failed together (an outage) spread out instead of returning together.
 * `attempt` is the number of the attempt that just failed, from 1.
 */
export const fullJitterDelaySeconds = (
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number => {
  return Math.floor(random() * (backoffCeilingSeconds(attempt, policy) + 1));
};

/**
 * When webhook delivery attempts are made, in the spirit of the Standard Webhooks providers (Svix's
 * schedule): entry `i` is the wait before attempt `i + 1`, so the first attempt is immediate and the
 * last comes about 27.5 hours after it. Its length is the default delivery budget (`webhookMaxAttempts`);
 * a larger budget repeats the last wait. Each wait, jitter included, fits one visibility change.
 */
export const WEBHOOK_RETRY_SCHEDULE_SECONDS: readonly number[] = [
  0, // immediately
  5,
  5 * 60,
  30 * 60,
  2 * 3600,
  5 * 3600,
  10 * 3600,
  10 * 3600,
];

/** The default webhook budget: one attempt per step of the schedule (8, over about 27.5 hours). */
export const DEFAULT_WEBHOOK_MAX_ATTEMPTS = WEBHOOK_RETRY_SCHEDULE_SECONDS.length;

/** Each wait is drawn within ±20% of the schedule's, so that webhooks failed together come back spread out. */
export const WEBHOOK_RETRY_JITTER = 0.2;
/** No retry comes back sooner than this, whatever the draw. */
export const WEBHOOK_RETRY_MIN_SECONDS = 1;

/** The schedule's wait after attempt `attempt` (from 1) failed, before jitter. */
export const webhookScheduledWaitSeconds = (attempt: number): number => {
  const index = Math.min(Math.max(1, attempt), WEBHOOK_RETRY_SCHEDULE_SECONDS.length - 1);
  return WEBHOOK_RETRY_SCHEDULE_SECONDS[index] ?? 0;
};

/**
 * How long to wait after webhook attempt `attempt` (from 1) failed: the schedule's wait, ±20%, never
 * below a second nor above what one visibility change allows (`maxSeconds` lowers that ceiling further;
 * the tests set it to 0 so a failed delivery comes back at once).
 */
export const webhookRetryDelaySeconds = (
  attempt: number,
  options: { random?: () => number; maxSeconds?: number } = {},
): number => {
  const random = options.random ?? Math.random;
  const wait = webhookScheduledWaitSeconds(attempt);
  const jittered = Math.round(wait * (1 + WEBHOOK_RETRY_JITTER * (2 * random() - 1)));
  const ceiling = Math.min(MAX_VISIBILITY_SECONDS, options.maxSeconds ?? MAX_VISIBILITY_SECONDS);
  return Math.min(ceiling, Math.max(WEBHOOK_RETRY_MIN_SECONDS, jittered));
};

/**
 * The longest a webhook's retries can wait in all, first attempt to last, for a budget of `attempts`:
 * every wait drawn at the top of its jitter. The webhook queue keeps messages longer than this.
 */
export const webhookScheduleMaxSpanSeconds = (attempts: number): number => {
  let total = 0;
  for (let attempt = 1; attempt < attempts; attempt++) {
    total += webhookRetryDelaySeconds(attempt, { random: () => 1 });
  }
  return total;
};

/** Makes a received message visible again only after `seconds`: how a failed SQS message waits before its retry. */
export const delayRedelivery = async (
  sqs: SQSClient,
  queueUrl: string,
  receiptHandle: string,
  seconds: number,
): Promise<void> => {
  await sqs.send(
    new ChangeMessageVisibilityCommand({
      QueueUrl: queueUrl,
      ReceiptHandle: receiptHandle,
      VisibilityTimeout: seconds,
    }),
  );
};
