/**
 * Lambda's asynchronous invocation (Invoke with InvocationType Event, as S3 notifications invoke), for
 * the local runtime: the caller queues an event and gets its request id at once; this module runs the
 * function, retries it and dead-letters it the way Lambda's internal event queue does, with the numbers
 * from the template (FunctionSpec, from the function's EventInvokeConfig and DeadLetterConfig).
 *
 * - Retries: a failed invocation (the handler threw, timed out or crashed) is retried up to
 *   `maximumRetryAttempts` times (EventInvokeConfig.MaximumRetryAttempts, 0–2; Lambda's default 2).
 *   Every attempt of one event carries the same request id, as on Lambda.
 * - Delays: Lambda waits about one minute before the first retry and two minutes before the second
 *   (LAMBDA_RETRY_DELAYS_MS), multiplied here by `retryScale` (default 1, real time) so that tests and
 *   the end-to-end suite retry in milliseconds or seconds.
 * - Age: an event older than `maximumEventAgeSeconds` (EventInvokeConfig.MaximumEventAgeInSeconds;
 *   default 6 h) when an attempt is due is not run again; it goes where a failed event goes. The age is
 *   measured on the same scaled clock as the delays, so a template's cut-off keeps its place among the
 *   retries (60 s still falls between the first and the second retry) whatever the scale.
 * - Dead-letter queue: after the last failed attempt, or the age cut-off, the event goes to the
 *   function's DeadLetterConfig.TargetArn (an SQS queue of the template) as its JSON, with the message
 *   attributes Lambda documents: RequestID (String, the invocation's request id), ErrorCode (Number, the
 *   Invoke response's HTTP status: 200 for a function error) and ErrorMessage (String, its first 1 KB).
 *   Without a dead-letter queue (dropped, as on AWS) or when sending to it fails, the whole event is
 *   logged: nothing is dropped silently.
 * - Stopping: events waiting for a retry are not kept: each is logged in full ("still to retry") and
 *   dropped; invocations already running are awaited (the pool must still be open), and events queued
 *   after stop are logged the same way. (S3 notifications are at-least-once on AWS; a crash-safe queue
 *   that survives a restart is a later task.)
 *
 * Not emulated: on-success / on-failure destinations, throttling retries (the pool queues instead) and
 * Lambda's occasional duplicate delivery.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { abortableSleep } from './abortable-sleep.ts';
import { localSqsClient, type SqsConnection } from './emulators.ts';
import type { FunctionInvoker, FunctionSpec, InvokeMeta, Stoppable } from './types.ts';

/** Lambda's defaults for asynchronous invocation where the template has no EventInvokeConfig. */
export const ASYNC_INVOKE_DEFAULTS = { maximumRetryAttempts: 2, maximumEventAgeSeconds: 21_600 } as const;

/** Lambda's waits before the first and the second retry (AWS: "one minute … then two minutes"). */
export const LAMBDA_RETRY_DELAYS_MS: readonly number[] = [60_000, 120_000];

/** Time as this module sees it: a seam for tests, which record the delays instead of waiting them out. */
export interface AsyncClock {
  now(): number;
  /** Waits `ms`, or less if `signal` aborts first. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

const realClock: AsyncClock = { now: () => Date.now(), sleep: abortableSleep };

export interface AsyncInvokeOptions {
  /** The functions, for their retries, event age and dead-letter queue. */
  functions: readonly FunctionSpec[];
  /** Queue URL of each dead-letter queue, by ARN. */
  queueUrlsByArn: Readonly<Record<string, string>>;
  /** The SQS emulator, for the dead-letter queues. */
  sqs: SqsConnection;
  /**
   * Multiplies Lambda's retry delays and the event age cut-off: 1 is Lambda's real time (1 and 2
   * minutes), 1/60 makes them 1 and 2 seconds. @default 1
   */
  retryScale?: number;
  /** @default the real clock */
  clock?: AsyncClock;
  log?: (message: string) => void;
  /**
   * A file that keeps every accepted event until it is delivered or dead-lettered, as Lambda's own
   * event queue is durable: events it holds at start (the runtime was killed, or stopped while they
   * waited for a retry) are invoked again. @default none: events live in memory only
   */
  journal?: string;
}

export interface AsyncInvoker extends Stoppable {
  /**
   * Queues `event` for the function and returns the request id its attempts will carry; the outcome is
   * the function's retries and dead-letter queue, never the caller's.
   */
  invokeAsync(functionLogicalId: string, event: unknown, meta: InvokeMeta): string;
  /** Resolves once every event queued so far is delivered, dead-lettered or logged. */
  idle(): Promise<void>;
}

interface Failure {
  name: string;
  message: string;
}

/** Starts the asynchronous invocation queue in front of `invoker` (the function pool). */
export const startAsyncInvoker = (invoker: FunctionInvoker, options: AsyncInvokeOptions): AsyncInvoker => {
  const scale = options.retryScale ?? 1;
  if (!(scale > 0) || !Number.isFinite(scale)) {
    throw new RangeError(`retryScale must be a positive number, got ${scale}`);
  }
  const clock = options.clock ?? realClock;
  const log = options.log ?? ((message: string) => process.stderr.write(`[async-invoke] ${message}\n`));
  const functions = new Map(options.functions.map((spec) => [spec.logicalId, spec]));
  const sqs = localSqsClient(options.sqs);
  const controller = new AbortController();
  const pending = new Set<Promise<void>>();
  const journal = options.journal ? openJournal(options.journal, log) : undefined;

  const deadLetter = async (
    functionLogicalId: string,
    event: unknown,
    requestId: string,
    trigger: string,
    outcome: { error: Failure; attempts: number; expired: boolean },
  ): Promise<void> => {
    const arn = functions.get(functionLogicalId)?.deadLetterTargetArn;
    const { error, attempts } = outcome;
    const summary =
      `${functionLogicalId} failed on ${trigger} ${attempts} time${attempts === 1 ? '' : 's'} ` +
      `(${error.name}: ${error.message})${outcome.expired ? ' and the event is past its maximum age' : ''}`;
    const queueUrl = arn ? options.queueUrlsByArn[arn] : undefined;
    if (!arn || !queueUrl) {
      log(
        `${summary}; ${arn ? `no queue URL known for its dead-letter queue ${arn}` : 'it has no dead-letter queue'}: event dropped, as on AWS: ${JSON.stringify(event)}`,
      );
      return;
    }
    try {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: JSON.stringify(event),
          MessageAttributes: {
            RequestID: { DataType: 'String', StringValue: requestId },
            ErrorCode: { DataType: 'Number', StringValue: '200' },
            ErrorMessage: {
              DataType: 'String',
              StringValue: `${error.name}: ${error.message}`.slice(0, 1024),
            },
          },
        }),
      );
      log(`${summary}; sent to its dead-letter queue`);
    } catch (sendError) {
      log(
        `${summary}; sending to its dead-letter queue failed (${String(sendError)}): ${JSON.stringify(event)}`,
      );
    }
  };

  const run = async (functionLogicalId: string, event: unknown, meta: InvokeMeta, requestId: string) => {
    const spec = functions.get(functionLogicalId);
    const retries = spec?.maximumRetryAttempts ?? ASYNC_INVOKE_DEFAULTS.maximumRetryAttempts;
    const maxAgeMs =
      (spec?.maximumEventAgeSeconds ?? ASYNC_INVOKE_DEFAULTS.maximumEventAgeSeconds) * 1000 * scale;
    const queuedAt = clock.now();
    let lastError: Failure = { name: 'Error', message: 'not invoked' };
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) {
        const delay = (LAMBDA_RETRY_DELAYS_MS[attempt - 1] ?? LAMBDA_RETRY_DELAYS_MS.at(-1) ?? 0) * scale;
        await clock.sleep(delay, controller.signal);
        if (controller.signal.aborted) {
          log(
            journal
              ? `shutting down with ${meta.trigger} still to retry for ${functionLogicalId}: kept for the next start`
              : `shutting down with ${meta.trigger} still to retry for ${functionLogicalId}: ${JSON.stringify(event)}`,
          );
          throw new StoppedError();
        }
        if (clock.now() - queuedAt > maxAgeMs) {
          await deadLetter(functionLogicalId, event, requestId, meta.trigger, {
            error: lastError,
            attempts: attempt,
            expired: true,
          });
          return;
        }
      }
      try {
        const outcome = await invoker.invoke(functionLogicalId, event, { ...meta, requestId });
        if (outcome.ok) return;
        lastError = outcome.error;
      } catch (error) {
        lastError = error instanceof Error ? error : { name: 'Error', message: String(error) };
      }
    }
    await deadLetter(functionLogicalId, event, requestId, meta.trigger, {
      error: lastError,
      attempts: retries + 1,
      expired: false,
    });
  };

  const idle = async (): Promise<void> => {
    while (pending.size > 0) await Promise.allSettled([...pending]);
  };

  const invokeAsync: AsyncInvoker['invokeAsync'] = (functionLogicalId, event, meta) => {
    const requestId = meta.requestId ?? randomUUID();
    if (controller.signal.aborted) {
      log(`shutting down: ${meta.trigger} for ${functionLogicalId} not invoked: ${JSON.stringify(event)}`);
      return requestId;
    }
    journal?.accept(requestId, { functionLogicalId, event, trigger: meta.trigger });
    let settled = true;
    const work = run(functionLogicalId, event, meta, requestId).catch((error: unknown) => {
      if (error instanceof StoppedError) {
        // Waiting for a retry at the stop: it stays in the journal for the next start.
        settled = false;
        return;
      }
      log(
        `invoking ${functionLogicalId} for ${meta.trigger} failed: ${String(error)}: ${JSON.stringify(event)}`,
      );
    });
    pending.add(work);
    void work.finally(() => {
      pending.delete(work);
      if (settled) journal?.settle(requestId);
    });
    return requestId;
  };

  // Events a previous run accepted and never settled (it was killed, or stopped while they waited).
  const carried = journal?.carried() ?? [];
  if (carried.length > 0) log(`invoking again ${carried.length} event(s) the last run had not delivered`);
  for (const entry of carried) {
    invokeAsync(entry.functionLogicalId, entry.event, { trigger: entry.trigger, requestId: entry.requestId });
  }

  return {
    invokeAsync,
    idle,
    stop: async () => {
      controller.abort();
      await idle();
      await journal?.flush();
      sqs.destroy();
    },
  };
};

class StoppedError extends Error {}

interface JournalEntry {
  requestId: string;
  functionLogicalId: string;
  event: unknown;
  trigger: string;
}

/** The accepted, unsettled events on disk: rewritten whole (aside, then renamed) after each change. */
const openJournal = (file: string, log: (message: string) => void) => {
  const entries = new Map<string, JournalEntry>();
  let carried: JournalEntry[] = [];
  try {
    carried = JSON.parse(readFileSync(file, 'utf8')) as JournalEntry[];
  } catch {
    carried = [];
  }
  let writing: Promise<void> = Promise.resolve();
  const save = () => {
    const snapshot = JSON.stringify([...entries.values()]);
    writing = writing
      .then(async () => {
        await writeFile(`${file}.partial`, snapshot);
        await rename(`${file}.partial`, file);
      })
      .catch((error: unknown) => log(`could not keep the asynchronous events: ${String(error)}`));
  };
  return {
    carried: () => carried,
    accept: (requestId: string, entry: Omit<JournalEntry, 'requestId'>) => {
      entries.set(requestId, { requestId, ...entry });
      save();
    },
    settle: (requestId: string) => {
      if (entries.delete(requestId)) save();
    },
    flush: () => writing,
  };
};
