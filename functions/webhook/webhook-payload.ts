import { outcomeWebhookId, type WebhookMessage } from '#shared/dispatch';
import { type Job, JobStatus, runOf } from '#shared/job';

export const WebhookEventType = {
  Done: 'media.job.done',
  Failed: 'media.job.failed',
} as const;
export type WebhookEventType = (typeof WebhookEventType)[keyof typeof WebhookEventType];

/**
 * What a callback receives: the original project's `{ job_id, status, result, error }` plus the event
 * `type` and its `timestamp`. Every key is always present (`null` when empty) so receivers need not
 * tell a missing key from an empty one; `duplicate_of` appears only for a duplicate.
 */
export interface WebhookPayload {
  type: WebhookEventType;
  timestamp: string;
  job_id: string;
  status: WebhookMessage['status'];
  result: Record<string, unknown> | null;
  error: string | null;
  /** The job whose processing this job's upload matched: its result (or error) is the one reported. */
  duplicate_of?: string;
  /**
   * Which run of the job this outcome ends: 1 for its first processing, one more for each manual retry
   * (POST /api/media/{id}/retry/). Added beside the original fields; receivers may ignore it.
   */
  run: number;
}

/** The run a message announces (messages sent before runs existed name none: run 1). */
const runOfMessage = (message: WebhookMessage): number => message.run ?? 1;

/**
 * The Standard Webhooks `webhook-id`, derived from the message: one id per outcome of a run, the same
 * across delivery retries and redeliveries (so receivers can deduplicate), a new one when a retried job
 * finishes again (another run). Duplicates get their own, since `job_id` differs.
 */
export const webhookIdFor = (message: WebhookMessage): string =>
  outcomeWebhookId(message.job_id, message.status, message.attempts, runOfMessage(message));

/**
 * Whether the source job still shows the outcome the message announces. It does not once the job was
 * retried after failing (the retry clears the error and starts another run, which sends its own webhook).
 */
export const isCurrentOutcome = (message: WebhookMessage, source: Job): boolean =>
  source.status === message.status &&
  source.attempts === message.attempts &&
  runOf(source) === runOfMessage(message);

/** The payload for `message`, built from the job that was processed (the recipient itself or its canonical). */
export const buildWebhookPayload = (
  message: WebhookMessage,
  source: Job,
  now: Date = new Date(),
): WebhookPayload => ({
  type: message.status === JobStatus.Done ? WebhookEventType.Done : WebhookEventType.Failed,
  timestamp: now.toISOString(),
  job_id: message.job_id,
  status: message.status,
  result: message.status === JobStatus.Done ? (source.result ?? null) : null,
  error: message.status === JobStatus.Failed ? (source.error ?? null) : null,
  ...(message.source_job_id !== message.job_id ? { duplicate_of: message.source_job_id } : {}),
  run: runOfMessage(message),
});
