import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { AppError } from './errors.ts';
import { isTerminal, type Job, JobStatus, runOf } from './job.ts';
import type { MediaKind } from './presets.ts';

/** Asks the image or video processor to work on a job; the job record is the source of truth. */
export const processMessageSchema = z.object({ kind: z.literal('process'), job_id: z.uuid() });
export type ProcessMessage = z.infer<typeof processMessageSchema>;

/**
 * Asks the webhook function to tell `job_id`'s callback URL that `source_job_id` (itself, or the
 * canonical job it duplicates) finished. `run` and `attempts` pin which outcome it was, so the webhook id
 * stays the same across delivery retries and differs after a retried job finishes again. `run` is
 * absent from messages sent before runs existed: run 1.
 */
export const webhookMessageSchema = z.object({
  kind: z.literal('webhook'),
  job_id: z.uuid(),
  source_job_id: z.uuid(),
  status: z.enum([JobStatus.Done, JobStatus.Failed]),
  attempts: z.number().int().min(0),
  run: z.number().int().min(1).optional(),
});
export type WebhookMessage = z.infer<typeof webhookMessageSchema>;

/**
 * The webhook id of an outcome told to `recipientId`'s callback: the webhook function records it on the
 * job (`webhook.message_id`), so the reconciler can tell whether the job's current outcome was told.
 * The webhook function's `webhookIdFor` is this, for the message it delivers. Attempts are counted per
 * run, so a later run's outcome carries its run (`msg_<id>_failed_3_r2`); run 1's id is the one every
 * outcome had before runs existed.
 */
export const outcomeWebhookId = (recipientId: string, status: string, attempts: number, run = 1): string =>
  `msg_${recipientId}_${status}_${attempts}${run > 1 ? `_r${run}` : ''}`;

/** A later run is named in the message; run 1's message is what every message was before runs existed. */
const runField = (job: Pick<Job, 'run'>): { run?: number } => (runOf(job) > 1 ? { run: runOf(job) } : {});

export interface DispatchQueues {
  image?: string;
  video?: string;
  webhook?: string;
}

/**
 * Sends the pipeline's messages: jobs to the processing queues, finished jobs to the webhook queue. It
 * writes no job state; callers record what they sent (JobStore.markEnqueued).
 */
export class Dispatcher {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queues: DispatchQueues,
  ) {}

  /** Sends the job to its processor's queue. */
  async enqueueProcessing(job: Pick<Job, 'id' | 'media_kind'>): Promise<void> {
    const queueUrl = this.processingQueue(job.media_kind);
    const message: ProcessMessage = { kind: 'process', job_id: job.id };
    await this.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(message) }));
  }

  /**
   * A job reached done or failed: its own callback and every duplicate's are told. Safe to call again
   * for the same outcome (the webhook id is derived from it, and delivered webhooks are not re-sent).
   */
  async announceOutcome(job: Job): Promise<void> {
    const { status } = job;
    if (!isTerminal(status)) return;
    const recipients = [...(job.callback_url ? [job.id] : []), ...(job.duplicates ?? [])];
    const messages = recipients.map(
      (recipient): WebhookMessage => ({
        kind: 'webhook',
        job_id: recipient,
        source_job_id: job.id,
        status,
        attempts: job.attempts,
        ...runField(job),
      }),
    );
    await this.sendWebhookMessages(messages);
  }

  /** A duplicate arrived after its canonical job had finished: tell its callback at once. */
  async announceToDuplicate(duplicateId: string, canonical: Job): Promise<void> {
    if (!isTerminal(canonical.status)) return;
    await this.sendWebhookMessages([
      {
        kind: 'webhook',
        job_id: duplicateId,
        source_job_id: canonical.id,
        status: canonical.status,
        attempts: canonical.attempts,
        ...runField(canonical),
      },
    ]);
  }

  /** A job that failed before processing (its upload was refused) is announced like any other. */
  async sendWebhookMessages(messages: WebhookMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const queueUrl = this.queues.webhook;
    if (!queueUrl)
      throw new AppError('Dispatch::NoWebhookQueue', 'this function has no webhook queue configured');
    for (let start = 0; start < messages.length; start += 10) {
      const batch = messages.slice(start, start + 10);
      const response = await this.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: batch.map((message, index) => ({
            Id: String(index),
            MessageBody: JSON.stringify(message),
          })),
        }),
      );
      if (response.Failed && response.Failed.length > 0) {
        throw new AppError(
          'Dispatch::WebhookEnqueueFailed',
          `${response.Failed.length} webhook message(s) could not be queued: ${response.Failed[0]?.Message ?? 'unknown'}`,
        );
      }
    }
  }

  private processingQueue(kind: MediaKind | undefined): string {
    const queueUrl = kind === 'image' ? this.queues.image : kind === 'video' ? this.queues.video : undefined;
    if (!queueUrl)
      throw new AppError(
        'Dispatch::NoQueue',
        `no processing queue is configured for ${kind ?? 'unknown'} media`,
      );
    return queueUrl;
  }
}
