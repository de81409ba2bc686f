import type { WebhookMessage } from '#shared/dispatch';
import { describeError } from '#shared/errors';
import { WebhookStatus } from '#shared/job';
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
  /** The signing secret; fetched (and cached) by the caller, asked for only when there is something to send. */
  signingSecret: () => Promise<string>;
  delivery: DeliveryOptions;
  /** Receives allowed per message; must equal the queue's redrive maxReceiveCount. */
  maxAttempts: number;
  /** Caps each wait of the schedule (SQS's 12 hours by default; 0 in tests). */
  maxDelaySeconds?: number;
}

/** What became of one webhook message, for the caller to act on (acknowledge, delay, fail the record). */
export type WebhookOutcome =
  | { kind: 'delivered'; webhookId: string; statusCode: number; durationMs: number }
  | { kind: 'skipped'; reason: SkipReason }
  | { kind: 'refused'; webhookId: string; error: WebhookRefusedError }
  /** Transient failure with receives left: the caller delays the redelivery and fails the record. */
  | { kind: 'retry'; webhookId: string; error: WebhookDeliveryError; delaySeconds: number }
  /** Transient failure on the last allowed receive: the caller fails the record so SQS moves it to the DLQ. */
  | { kind: 'exhausted'; webhookId: string; error: WebhookDeliveryError };

export type SkipReason =
  | 'job_not_found'
  | 'source_job_not_found'
  | 'no_callback_url'
  | 'already_delivered'
  | 'outcome_superseded';

/**
 * Tells a job's callback URL that it (or the canonical job it duplicates) finished, and records how that
 * went on the job. `receiveCount` is how many times this message has been handed out, this time included:
 * it counts the attempts, and decides between a retry and giving up.
 */
export const sendJobWebhook = async (
  message: WebhookMessage,
  receiveCount: number,
  deps: SendJobWebhookDependencies,
): Promise<WebhookOutcome> => {
  const webhookId = webhookIdFor(message);
  const job = await deps.store.get(message.job_id);
  if (!job) return { kind: 'skipped', reason: 'job_not_found' };
  if (!job.callback_url) return { kind: 'skipped', reason: 'no_callback_url' };
  // A redelivered message (SQS is at-least-once, or the record's deletion failed) is not sent twice.
  if (job.webhook?.message_id === webhookId && job.webhook.status === WebhookStatus.Delivered) {
    return { kind: 'skipped', reason: 'already_delivered' };
  }
  const source = message.source_job_id === job.id ? job : await deps.store.get(message.source_job_id);
  if (!source) return { kind: 'skipped', reason: 'source_job_not_found' };
  // The job was retried since this outcome: the new run announces itself with its own webhook id, and
  // this one could only report an error the retry has already cleared.
  if (!isCurrentOutcome(message, source)) return { kind: 'skipped', reason: 'outcome_superseded' };

  const body = JSON.stringify(buildWebhookPayload(message, source));
  const attempts = receiveCount;
  try {
    const { statusCode, durationMs } = await deliverWebhook(
      { url: job.callback_url, webhookId, body, secret: await deps.signingSecret() },
      deps.delivery,
    );
    await deps.store.recordWebhook(job.id, {
      message_id: webhookId,
      status: WebhookStatus.Delivered,
      attempts,
      last_status_code: statusCode,
      delivered_at: new Date().toISOString(),
    });
    return { kind: 'delivered', webhookId, statusCode, durationMs };
  } catch (error) {
    if (error instanceof WebhookRefusedError) {
      await deps.store.recordWebhook(job.id, {
        message_id: webhookId,
        status: WebhookStatus.Refused,
        attempts,
        last_error: error.message,
      });
      return { kind: 'refused', webhookId, error };
    }
    if (!(error instanceof WebhookDeliveryError)) throw error;
    const lastStatusCode = error.statusCode === undefined ? {} : { last_status_code: error.statusCode };
    if (receiveCount < deps.maxAttempts) {
      await deps.store.recordWebhook(job.id, {
        message_id: webhookId,
        status: WebhookStatus.Retrying,
        attempts,
        last_error: error.message,
        ...lastStatusCode,
      });
      const delaySeconds = webhookRetryDelaySeconds(receiveCount, { maxSeconds: deps.maxDelaySeconds });
      return { kind: 'retry', webhookId, error, delaySeconds };
    }
    await deps.store.recordWebhook(job.id, {
      message_id: webhookId,
      status: WebhookStatus.Failed,
      attempts,
      last_error: `gave up after ${attempts} attempts, the message is kept in the dead-letter queue; last error: ${describeError(error).message}`,
      ...lastStatusCode,
    });
    return { kind: 'exhausted', webhookId, error };
  }
};
