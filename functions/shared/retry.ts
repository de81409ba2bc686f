import { ChangeMessageVisibilityCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { envInt } from './config.ts';

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
 * Exponential backoff with full jitter: a uniformly random wait below the exponential ceiling, so that
 * retries of many jobs that failed together (an outage) spread out instead of returning together.
 * `attempt` is the number of the attempt that just failed, from 1.
 */
export const fullJitterDelaySeconds = (
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number => {
  const ceiling = Math.min(policy.maxSeconds, policy.baseSeconds * 2 ** Math.max(0, attempt - 1));
  return Math.min(43_200, Math.floor(random() * (ceiling + 1)));
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
