import type { WebhookMessage } from '#shared/dispatch';
import { describeError } from '#shared/errors';
import { tenantOf, type WebhookState, WebhookStatus } from '#shared/job';
import type { JobStore } from '#shared/job-store';
import { webhookRetryDelaySeconds } from '#shared/retry';
import {
  type DeliveryOptions,
  deliverWebhook,
  WebhookDeliveryError,
  WebhookRefusedError,
} from './deliver-webhook.ts';
import { buildWebhookPayload, isCurrentOutcome, webhookIdFor } from './webhook-payload.ts';

export interface SendJobWebhookDependencies {
  store: JobStore;
  /**
   * The secrets that sign a tenant's webhooks (signing-secrets.ts); asked for only when there is
   * something to send.
   */
  signingSecrets: (tenant: string) => Promise<string[]>;
  delivery: DeliveryOptions;
  /** Delivery attempts per webhook, counted on the job (the queue allows a few more receives). */
  maxAttempts: number;
  /** Caps each wait of the schedule (SQS's 12 hours by default; 0 in tests). */
  maxDelaySeconds?: number;
}

/** What became of one webhook message, for the caller to act on (acknowledge, delay, fail the record). */
export type WebhookOutcome =
  | {
      kind: 'delivered';
      webhookId: string;
      attempt: number;
      resent: boolean;
      statusCode: number;
      durationMs: number;
    }
  | { kind: 'skipped'; reason: SkipReason }
  | { kind: 'refused'; webhookId: string; attempt: number; error: WebhookRefusedError }
  /** Transient failure with attempts left: the caller delays the redelivery and fails the record. */
  | { kind: 'retry'; webhookId: string; attempt: number; error: WebhookDeliveryError; delaySeconds: number }
  /** Transient failure on the last attempt: the caller fails the record so SQS moves it to the DLQ. */
  | { kind: 'exhausted'; webhookId: string; attempt: number; error: WebhookDeliveryError }
  /**
   * Every attempt was used before this receive (the job says `failed`): nothing is sent, and the caller
   * fails the record at once so that SQS hands the message to the dead-letter queue.
   */
  | { kind: 'spent'; webhookId: string; attempts: number }
  /** Another delivery of the same message changed the job's webhook meanwhile: the caller tries later. */
  | { kind: 'contended'; webhookId: string };

export type SkipReason =
  | 'job_not_found'
  | 'job_deleted'
  | 'source_job_not_found'
  | 'no_callback_url'
  | 'already_delivered'
  | 'already_refused'
  | 'outcome_superseded';

/**
 * The attempt this receive makes, from what the job says of this message's webhook (`seen`):
 * - nothing yet: the first;
 * - `pending`: that attempt was made, or begun, and its outcome never recorded (the worker died between
 *   sending and recording): it is made again, as the same attempt, with the same webhook id;
 * - `retrying`: the next one, while the budget lasts;
 * - `failed`: none, unless the message was just redriven from the dead-letter queue (its receive count
 *   starts again at 1), which grants one more.
 */
const attemptFor = (
  seen: WebhookState | null,
  receiveCount: number,
  maxAttempts: number,
): number | undefined => {
  if (!seen) return 1;
  switch (seen.status) {
    case WebhookStatus.Pending:
      return seen.attempts;
    case WebhookStatus.Retrying:
      return seen.attempts < maxAttempts ? seen.attempts + 1 : undefined;
    case WebhookStatus.Failed:
      return receiveCount === 1 ? seen.attempts + 1 : undefined;
    default:
      return undefined;
  }
};

/** The last failure's details, carried into the next state so that the job keeps showing them. */
const lastFailure = (seen: WebhookState | null): Pick<WebhookState, 'last_error' | 'last_status_code'> => ({
  ...(seen?.last_error === undefined ? {} : { last_error: seen.last_error }),
  ...(seen?.last_status_code === undefined ? {} : { last_status_code: seen.last_status_code }),
});

const gaveUp = (attempts: number, lastError: string): string =>
  `gave up after ${attempts} attempt${attempts === 1 ? '' : 's'}, the message is kept in the dead-letter queue; last error: ${lastError}`;

/**
 * Tells a job's callback URL that it (or the canonical job it duplicates) finished, and records how that
 * went on the job. Attempts are counted on the job (`webhook.attempts`), so the budget survives restarts
 * and redrives; each one is recorded `pending` before sending and its outcome after, so an outcome lost
 * to a crash in between is recovered by the next receive. `receiveCount` (SQS's) only tells a message
 * redriven from the dead-letter queue (1) from one handed out again after the last attempt.
 */
export const sendJobWebhook = async (
  message: WebhookMessage,
  receiveCount: number,
  deps: SendJobWebhookDependencies,
): Promise<WebhookOutcome> => {
  const webhookId = webhookIdFor(message);
  const job = await deps.store.get(message.job_id);
  if (!job) return { kind: 'skipped', reason: 'job_not_found' };
  // DELETE announces nothing: a job deleted while duplicates keep its record (a tombstone) is not told either.
  if (job.deleted_at) return { kind: 'skipped', reason: 'job_deleted' };
  if (!job.callback_url) return { kind: 'skipped', reason: 'no_callback_url' };
  const seen = job.webhook?.message_id === webhookId ? job.webhook : null;
  // A redelivered message (SQS is at-least-once, or the record's deletion failed) is not sent twice.
  if (seen?.status === WebhookStatus.Delivered) return { kind: 'skipped', reason: 'already_delivered' };
  if (seen?.status === WebhookStatus.Refused) return { kind: 'skipped', reason: 'already_refused' };
  const source = message.source_job_id === job.id ? job : await deps.store.get(message.source_job_id);
  if (!source) return { kind: 'skipped', reason: 'source_job_not_found' };
  // The job was retried since this outcome: the new run announces itself with its own webhook id, and
  // this one could only report an error the retry has already cleared.
  if (!isCurrentOutcome(message, source)) return { kind: 'skipped', reason: 'outcome_superseded' };

  const attempt = attemptFor(seen, receiveCount, deps.maxAttempts);
  if (attempt === undefined) {
    if (seen?.status === WebhookStatus.Retrying) {
      // The budget shrank below the attempts already made (webhookMaxAttempts was lowered): give up now.
      const { next_attempt_at: _none, ...last } = seen;
      await deps.store.recordWebhook(
        job.id,
        {
          ...last,
          status: WebhookStatus.Failed,
          last_error: gaveUp(seen.attempts, seen.last_error ?? 'none'),
        },
        seen,
      );
    }
    return { kind: 'spent', webhookId, attempts: seen?.attempts ?? 0 };
  }

  // Asked before the attempt is counted: a secret that cannot be read is the deployment's fault, not the receiver's.
  const secrets = await deps.signingSecrets(tenantOf(job));
  const pending: WebhookState = {
    message_id: webhookId,
    status: WebhookStatus.Pending,
    attempts: attempt,
    ...lastFailure(seen),
  };
  if (!(await deps.store.recordWebhook(job.id, pending, seen))) return { kind: 'contended', webhookId };
  // Only over the pending state this attempt wrote: a concurrent delivery's outcome is not overwritten.
  const record = (state: Omit<WebhookState, 'message_id' | 'attempts'>) =>
    deps.store.recordWebhook(job.id, { message_id: webhookId, attempts: attempt, ...state }, pending);

  const body = JSON.stringify(buildWebhookPayload(message, source));
  let delivered: { statusCode: number; durationMs: number };
  try {
    delivered = await deliverWebhook({ url: job.callback_url, webhookId, body, secrets }, deps.delivery);
  } catch (error) {
    if (error instanceof WebhookRefusedError) {
      await record({ status: WebhookStatus.Refused, last_error: error.message });
      return { kind: 'refused', webhookId, attempt, error };
    }
    if (!(error instanceof WebhookDeliveryError)) throw error;
    const lastStatusCode = error.statusCode === undefined ? {} : { last_status_code: error.statusCode };
    if (attempt < deps.maxAttempts) {
      const delaySeconds = webhookRetryDelaySeconds(attempt, { maxSeconds: deps.maxDelaySeconds });
      await record({
        status: WebhookStatus.Retrying,
        next_attempt_at: new Date(Date.now() + delaySeconds * 1000).toISOString(),
        last_error: error.message,
        ...lastStatusCode,
      });
      return { kind: 'retry', webhookId, attempt, error, delaySeconds };
    }
    await record({
      status: WebhookStatus.Failed,
      last_error: gaveUp(attempt, describeError(error).message),
      ...lastStatusCode,
    });
    return { kind: 'exhausted', webhookId, attempt, error };
  }
  await record({
    status: WebhookStatus.Delivered,
    last_status_code: delivered.statusCode,
    delivered_at: new Date().toISOString(),
  });
  return {
    kind: 'delivered',
    webhookId,
    attempt,
    resent: seen?.status === WebhookStatus.Pending,
    ...delivered,
  };
};
