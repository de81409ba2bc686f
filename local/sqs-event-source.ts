import { setMaxListeners } from 'node:events';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { abortableSleep } from './abortable-sleep.ts';
import { localSqsClient, type SqsConnection } from './emulators.ts';
import { toSqsRecord } from './events/sqs-record.ts';
import { type EventSourceMappingSpec, type FunctionInvoker, LOCAL_REGION, type Stoppable } from './types.ts';

/**
 * Lambda's SQS event source mappings, as pollers: each mapping long-polls its queue, builds the SQS
 * event the way Lambda does (local/events/sqs-record.ts), invokes the function and deletes what succeeded.
 *
 * - Batches: ReceiveMessage takes at most 10; with a MaximumBatchingWindowInSeconds the poller keeps
 *   receiving until it has `batchSize` messages or the window (counted from the first message) ends.
 * - Settling: without ReportBatchItemFailures a successful invocation deletes the whole batch; with it,
 *   everything except the `batchItemFailures`. A failed invocation (error, timeout, crash) or an
 *   invalid batch response deletes nothing: the messages come back after their visibility timeout,
 *   and the queue's own redrive policy (the emulator's) moves them to the DLQ after maxReceiveCount.
 * - Concurrency: `concurrency` pollers per mapping, each with one batch in flight; give it the
 *   function pool's size, as more batches than environments would only wait in the pool's queue.
 *   Several mappings to one function each have their own pollers, sharing the function's pool. A
 *   mapping's ScalingConfig.MaximumConcurrency lowers its pollers to that many: like Lambda's, it stops
 *   receiving at the limit, so nothing is received that could not be invoked.
 * - Stopping aborts the long polls and waits for batches in flight to be invoked and settled;
 *   messages received but not yet handed to the function are made visible again at once.
 */

export interface SqsEventSourceOptions extends SqsConnection {
  /** Batches in flight per mapping. @default 2 */
  concurrency?: number;
  /** Long-poll wait, 0–20 s. @default 20 */
  waitTimeSeconds?: number;
  /** Problems the pollers meet (an unreachable queue, a failed delete, an invalid batch response). */
  log?: (message: string) => void;
}

const MAX_RECEIVE = 10;
const RETRY_DELAYS_MS = [500, 1_000, 2_000, 5_000, 10_000];

const queueNameOf = (queueArn: string): string => queueArn.split(':').at(-1) ?? queueArn;

export type BatchVerdict =
  | { kind: 'failed-items'; messageIds: Set<string> }
  | { kind: 'invalid'; reason: string };

/**
 * Reads a ReportBatchItemFailures response as Lambda does: null, `{}`, or an empty or null
 * `batchItemFailures` is complete success; an item with an empty, missing or unknown `itemIdentifier`
 * (or a response of the wrong shape) fails the whole batch.
 */
export const readBatchResponse = (result: unknown, messageIds: ReadonlySet<string>): BatchVerdict => {
  if (result === null || result === undefined) return { kind: 'failed-items', messageIds: new Set() };
  if (typeof result !== 'object' || Array.isArray(result)) {
    return { kind: 'invalid', reason: 'the response is not an object' };
  }
  const failures = (result as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === null || failures === undefined) return { kind: 'failed-items', messageIds: new Set() };
  if (!Array.isArray(failures)) return { kind: 'invalid', reason: 'batchItemFailures is not an array' };
  const failed = new Set<string>();
  for (const failure of failures) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || id === '' || !messageIds.has(id)) {
      return {
        kind: 'invalid',
        reason: `itemIdentifier ${JSON.stringify(id)} names no message of the batch`,
      };
    }
    failed.add(id);
  }
  return { kind: 'failed-items', messageIds: failed };
};

const chunks = <T>(items: readonly T[], size: number): T[][] => {
  const out: T[][] = [];
  for (let index = 0; index < items.length; index += size) out.push(items.slice(index, index + size));
  return out;
};

class MappingPoller {
  private readonly queueName: string;

  constructor(
    private readonly mapping: EventSourceMappingSpec,
    private readonly invoker: FunctionInvoker,
    private readonly sqs: SQSClient,
    private readonly signal: AbortSignal,
    private readonly options: { region: string; waitTimeSeconds: number; log: (message: string) => void },
  ) {
    this.queueName = queueNameOf(mapping.queueArn);
  }

  async run(): Promise<void> {
    let failures = 0;
    while (!this.signal.aborted) {
      let batch: Message[];
      try {
        batch = await this.collectBatch();
        failures = 0;
      } catch (error) {
        if (this.signal.aborted) break;
        const delay = RETRY_DELAYS_MS[Math.min(failures, RETRY_DELAYS_MS.length - 1)] ?? 10_000;
        failures++;
        if (failures === 1 || failures % 10 === 0) {
          this.options.log(`sqs ${this.queueName}: receive failed (${describe(error)}); retrying`);
        }
        await abortableSleep(delay, this.signal);
        continue;
      }
      if (batch.length === 0) continue;
      if (this.signal.aborted) {
        await this.release(batch);
        break;
      }
      await this.deliver(batch);
    }
  }

  private async receive(max: number, waitTimeSeconds: number): Promise<Message[]> {
    // One short-lived signal per request: the SDK's listener on it goes with it, instead of piling up
    // on the poller's long-lived signal (a leak, and Node's MaxListenersExceeded warning).
    const request = new AbortController();
    const abort = () => request.abort();
    this.signal.addEventListener('abort', abort, { once: true });
    try {
      const response = await this.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: this.mapping.queueUrl,
          MaxNumberOfMessages: Math.max(1, Math.min(MAX_RECEIVE, max)),
          WaitTimeSeconds: waitTimeSeconds,
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
        { abortSignal: request.signal },
      );
      return response.Messages ?? [];
    } finally {
      this.signal.removeEventListener('abort', abort);
    }
  }

  private async collectBatch(): Promise<Message[]> {
    const batchSize = Math.max(1, this.mapping.batchSize);
    const batch = await this.receive(batchSize, this.options.waitTimeSeconds);
    const windowMs = this.mapping.maximumBatchingWindowSeconds * 1000;
    if (batch.length === 0 || windowMs <= 0) return batch;
    const windowEnd = Date.now() + windowMs;
    try {
      while (batch.length < batchSize && !this.signal.aborted) {
        const remaining = windowEnd - Date.now();
        if (remaining <= 0) break;
        const wait = Math.min(this.options.waitTimeSeconds, Math.floor(remaining / 1000));
        const more = await this.receive(batchSize - batch.length, wait);
        batch.push(...more);
        if (more.length === 0 && wait === 0) await abortableSleep(Math.min(remaining, 100), this.signal);
      }
    } catch (error) {
      if (!this.signal.aborted) throw error;
    }
    return batch;
  }

  private async deliver(messages: Message[]): Promise<void> {
    const event: SQSEvent = {
      Records: messages.map((message) => toSqsRecord(message, this.mapping.queueArn, this.options.region)),
    };
    let settled: SQSRecord[] = [];
    try {
      const outcome = await this.invoker.invoke(this.mapping.functionLogicalId, event, {
        trigger: `sqs ${this.queueName}`,
      });
      if (!outcome.ok) return;
      if (!this.mapping.reportBatchItemFailures) {
        settled = event.Records;
      } else {
        const verdict = readBatchResponse(
          outcome.result,
          new Set(event.Records.map((record) => record.messageId)),
        );
        if (verdict.kind === 'invalid') {
          this.options.log(
            `sqs ${this.queueName}: invalid batch response, the whole batch failed: ${verdict.reason}`,
          );
          return;
        }
        settled = event.Records.filter((record) => !verdict.messageIds.has(record.messageId));
      }
    } catch (error) {
      this.options.log(`sqs ${this.queueName}: invoke failed: ${describe(error)}`);
      return;
    } finally {
      await this.delete(settled);
    }
  }

  private async delete(records: readonly SQSRecord[]): Promise<void> {
    for (const group of chunks(records, MAX_RECEIVE)) {
      try {
        const response = await this.sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: this.mapping.queueUrl,
            Entries: group.map((record, index) => ({
              Id: String(index),
              ReceiptHandle: record.receiptHandle,
            })),
          }),
        );
        for (const failed of response.Failed ?? []) {
          this.options.log(`sqs ${this.queueName}: delete failed: ${failed.Code} ${failed.Message ?? ''}`);
        }
      } catch (error) {
        this.options.log(`sqs ${this.queueName}: delete failed: ${describe(error)}`);
      }
    }
  }

  /** Hands messages back to the queue (visible at once) that this poller will not deliver. */
  private async release(messages: readonly Message[]): Promise<void> {
    for (const group of chunks(messages, MAX_RECEIVE)) {
      await this.sqs
        .send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: this.mapping.queueUrl,
            Entries: group.map((message, index) => ({
              Id: String(index),
              ReceiptHandle: message.ReceiptHandle ?? '',
              VisibilityTimeout: 0,
            })),
          }),
        )
        .catch(() => undefined);
    }
  }
}

const describe = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

/** Starts the pollers of every enabled mapping. */
export const startSqsEventSources = (
  mappings: readonly EventSourceMappingSpec[],
  invoker: FunctionInvoker,
  options: SqsEventSourceOptions,
): Stoppable => {
  const sqs = localSqsClient(options);
  const controller = new AbortController();
  const settings = {
    region: options.region ?? LOCAL_REGION,
    waitTimeSeconds: Math.max(0, Math.min(20, options.waitTimeSeconds ?? 20)),
    log: options.log ?? ((message: string) => process.stderr.write(`[sqs-event-source] ${message}\n`)),
  };
  const concurrency = Math.max(1, options.concurrency ?? 2);
  const pollersOf = (mapping: EventSourceMappingSpec): number =>
    mapping.enabled ? Math.min(concurrency, mapping.maximumConcurrency ?? concurrency) : 0;
  // Every poller listens on this one signal (a request or a backoff sleep at a time, never both):
  // tell Node that is the design, not a leak, so it does not warn past its default of 10.
  const pollers = mappings.reduce((sum, mapping) => sum + pollersOf(mapping), 0);
  setMaxListeners(Math.max(10, pollers), controller.signal);
  const running: Promise<void>[] = [];
  for (const mapping of mappings) {
    for (let index = 0; index < pollersOf(mapping); index++) {
      running.push(new MappingPoller(mapping, invoker, sqs, controller.signal, settings).run());
    }
  }
  return {
    stop: async () => {
      controller.abort();
      await Promise.allSettled(running);
      sqs.destroy();
    },
  };
};
