import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type AsyncClock,
  type AsyncInvokeOptions,
  LAMBDA_RETRY_DELAYS_MS,
  startAsyncInvoker,
} from '../../local/async-invoke.ts';
import { localSettingsFromEnvironment } from '../../local/config.ts';
import type { InvocationRecord } from '../../local/invocation-log.ts';
import { LambdaPool } from '../../local/lambda-pool.ts';
import type { FunctionSpec, Stoppable } from '../../local/types.ts';
import { LOCAL_CREDENTIALS, REGION, type SqsEmulator, startSqs } from '../support/emulators.ts';
import { tinyFunctionSpec, writeTinyBundles } from '../support/tiny-functions.ts';

/**
 * Lambda's asynchronous invocation (local/async-invoke.ts) over tiny bundles in real worker processes
 * and fauxqs for the dead-letter queues. Time is a recording clock: the tests assert on the delays the
 * module asked for, not on the wall clock.
 */

const ALWAYS_FAILS = `
exports.handler = async () => {
  throw new Error('always fails');
};
`;

/** Fails its first `event.failures` attempts, counted in `event.counter` (attempts may meet different workers). */
const FLAKY = `
const fs = require('node:fs');
exports.handler = async (event) => {
  const attempt = Number(fs.existsSync(event.counter) ? fs.readFileSync(event.counter, 'utf8') : 0) + 1;
  fs.writeFileSync(event.counter, String(attempt));
  if (attempt <= event.failures) throw new Error('attempt ' + attempt + ' fails');
  return { attempt };
};
`;

let root: string;
let sqsEmulator: SqsEmulator;
let sqs: SQSClient;
let pool: LambdaPool | undefined;
const records: InvocationRecord[] = [];
const started: Stoppable[] = [];
let counter = 0;

const spec = (name: string, overrides: Partial<FunctionSpec> = {}): FunctionSpec =>
  tinyFunctionSpec(root, name, overrides);

/** A clock that records each delay asked for and moves time by it at once. */
const recordingClock = (): AsyncClock & { delays: number[] } => {
  let now = 1_000_000;
  const delays: number[] = [];
  return {
    delays,
    now: () => now,
    sleep: async (ms) => {
      delays.push(ms);
      now += ms;
    },
  };
};

const createQueue = async (): Promise<{ url: string; arn: string }> => {
  const created = await sqs.send(new CreateQueueCommand({ QueueName: `dlq-${process.pid}-${counter++}` }));
  const url = created.QueueUrl ?? '';
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  return { url, arn: Attributes?.QueueArn ?? '' };
};

const receiveAll = async (queueUrl: string) =>
  (
    await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        MessageAttributeNames: ['All'],
      }),
    )
  ).Messages ?? [];

/** Resolves once the pool finished its first invocation since `start`. */
const firstInvocation = async (): Promise<void> => {
  while (records.length === 0) await new Promise((resolve) => setImmediate(resolve));
};

const start = (
  functions: FunctionSpec[],
  options: Partial<AsyncInvokeOptions> = {},
): { invoker: ReturnType<typeof startAsyncInvoker>; logged: string[] } => {
  records.length = 0;
  pool = new LambdaPool(functions, { output: () => {}, onInvocation: (record) => records.push(record) });
  const logged: string[] = [];
  const invoker = startAsyncInvoker(pool, {
    functions,
    queueUrlsByArn: {},
    sqs: { endpoint: sqsEmulator.endpoint },
    log: (message) => logged.push(message),
    ...options,
  });
  started.push(invoker);
  return { invoker, logged };
};

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'async-invoke-'));
  await writeTinyBundles(root, { 'always-fails': ALWAYS_FAILS, flaky: FLAKY });
  sqsEmulator = await startSqs();
  sqs = new SQSClient({
    region: REGION,
    credentials: LOCAL_CREDENTIALS,
    endpoint: sqsEmulator.endpoint,
    useQueueUrlAsEndpoint: false,
  });
});

afterEach(async () => {
  // The invokers first: they wait for invocations in flight, which need the pool.
  await Promise.all(started.splice(0).map((stoppable) => stoppable.stop()));
  await pool?.close();
  pool = undefined;
});

afterAll(async () => {
  sqs?.destroy();
  await sqsEmulator?.close();
  await rm(root, { recursive: true, force: true });
});

describe('asynchronous invocation', () => {
  it.each([0, 1, 2])(
    'retries a failing function as often as its MaximumRetryAttempts says (%i), under one request id',
    async (retries) => {
      // Prepare
      const clock = recordingClock();
      const { invoker } = start([spec('always-fails', { maximumRetryAttempts: retries })], { clock });

      // Act
      const requestId = invoker.invokeAsync('always-fails', { n: 1 }, { trigger: 'test' });
      await invoker.idle();

      // Assess
      expect(records).toHaveLength(retries + 1);
      expect(records.every((record) => !record.outcome.ok)).toBe(true);
      expect(records.map((record) => record.requestId)).toEqual(Array(retries + 1).fill(requestId));
      expect(clock.delays).toHaveLength(retries);
    },
  );

  it("retries twice by default, after Lambda's one and two minutes", async () => {
    // Prepare
    const clock = recordingClock();
    const { invoker } = start([spec('always-fails')], { clock });

    // Act
    invoker.invokeAsync('always-fails', {}, { trigger: 'test' });
    await invoker.idle();

    // Assess
    expect(records).toHaveLength(3);
    expect(clock.delays).toEqual([60_000, 120_000]);
    expect(LAMBDA_RETRY_DELAYS_MS).toEqual([60_000, 120_000]);
  });

  it('scales the delays, keeping their order', async () => {
    // Prepare
    const clock = recordingClock();
    const { invoker } = start([spec('always-fails')], { clock, retryScale: 1 / 60 });

    // Act
    invoker.invokeAsync('always-fails', {}, { trigger: 'test' });
    await invoker.idle();

    // Assess
    expect(clock.delays).toEqual([1_000, 2_000]);
  });

  it('refuses a scale that is not a positive number', () => {
    // Prepare
    const create = (retryScale: number) =>
      startAsyncInvoker(
        { invoke: async () => ({ ok: true, result: null, durationMs: 0 }), close: async () => {} },
        { functions: [], queueUrlsByArn: {}, sqs: { endpoint: 'http://127.0.0.1:1' }, retryScale },
      );
    // Assess
    expect(() => create(0)).toThrow(RangeError);
    expect(() => create(Number.NaN)).toThrow(RangeError);
  });

  it('succeeds on a later attempt without dead-lettering', async () => {
    // Prepare
    const dlq = await createQueue();
    const clock = recordingClock();
    const flaky = spec('flaky', { deadLetterTargetArn: dlq.arn });
    const { invoker } = start([flaky], { clock, queueUrlsByArn: { [dlq.arn]: dlq.url }, retryScale: 0.001 });

    // Act
    invoker.invokeAsync(
      'flaky',
      { counter: join(root, `counter-${counter++}`), failures: 1 },
      { trigger: 'test' },
    );
    await invoker.idle();

    // Assess
    expect(records.map((record) => record.outcome.ok)).toEqual([false, true]);
    expect(clock.delays).toEqual([60]);
    expect(await receiveAll(dlq.url)).toEqual([]);
  });

  it("sends the event to the function's dead-letter queue with Lambda's message attributes", async () => {
    // Prepare
    const dlq = await createQueue();
    const failing = spec('always-fails', { deadLetterTargetArn: dlq.arn, maximumRetryAttempts: 1 });
    const { invoker, logged } = start([failing], {
      clock: recordingClock(),
      queueUrlsByArn: { [dlq.arn]: dlq.url },
    });
    const event = { Records: [{ s3: { object: { key: 'uploads/doomed.bin' } } }] };

    // Act
    const requestId = invoker.invokeAsync('always-fails', event, { trigger: 's3 uploads/doomed.bin' });
    await invoker.idle();

    // Assess
    const messages = await receiveAll(dlq.url);
    expect(messages).toHaveLength(1);
    expect(JSON.parse(messages[0]?.Body ?? 'null')).toEqual(event);
    expect(messages[0]?.MessageAttributes).toEqual({
      RequestID: { DataType: 'String', StringValue: requestId },
      ErrorCode: { DataType: 'Number', StringValue: '200' },
      ErrorMessage: { DataType: 'String', StringValue: 'Error: always fails' },
    });
    expect(logged).toEqual([
      'always-fails failed on s3 uploads/doomed.bin 2 times (Error: always fails); sent to its dead-letter queue',
    ]);
  });

  it('stops retrying an event past its MaximumEventAgeInSeconds and dead-letters it', async () => {
    // Prepare: 60 s falls between the first retry (at 1 min) and the second (at 3 min)
    const dlq = await createQueue();
    const clock = recordingClock();
    const failing = spec('always-fails', { deadLetterTargetArn: dlq.arn, maximumEventAgeSeconds: 90 });
    const { invoker, logged } = start([failing], { clock, queueUrlsByArn: { [dlq.arn]: dlq.url } });

    // Act
    invoker.invokeAsync('always-fails', { n: 1 }, { trigger: 'test' });
    await invoker.idle();

    // Assess
    expect(records).toHaveLength(2);
    expect(clock.delays).toEqual([60_000, 120_000]);
    expect(await receiveAll(dlq.url)).toHaveLength(1);
    expect(logged[0]).toMatch(/failed on test 2 times .*past its maximum age; sent to its dead-letter queue/);
  });

  it('measures the event age on the scaled clock', async () => {
    // Prepare
    const clock = recordingClock();
    const failing = spec('always-fails', { maximumEventAgeSeconds: 90 });
    const { invoker } = start([failing], { clock, retryScale: 1 / 60 });

    // Act
    invoker.invokeAsync('always-fails', {}, { trigger: 'test' });
    await invoker.idle();

    // Assess: 1 s and 2 s of delay against a 1.5 s cut-off
    expect(records).toHaveLength(2);
    expect(clock.delays).toEqual([1_000, 2_000]);
  });

  it('logs the whole event when the function has no dead-letter queue', async () => {
    // Prepare
    const { invoker, logged } = start([spec('always-fails', { maximumRetryAttempts: 0 })], {
      clock: recordingClock(),
    });

    // Act
    invoker.invokeAsync('always-fails', { key: 'kept-in-the-log' }, { trigger: 'test' });
    await invoker.idle();

    // Assess
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain(
      'it has no dead-letter queue: event dropped, as on AWS: {"key":"kept-in-the-log"}',
    );
  });

  it('on stop, logs an event still waiting for a retry instead of waiting the delay out', async () => {
    // Prepare: the real clock and Lambda's real one-minute delay (a stop that waited it out would time out)
    const { invoker, logged } = start([spec('always-fails')]);
    invoker.invokeAsync('always-fails', { key: 'waiting' }, { trigger: 'test' });
    await firstInvocation();

    // Act
    await invoker.stop();

    // Assess
    expect(records).toHaveLength(1);
    expect(logged).toEqual(['shutting down with test still to retry for always-fails: {"key":"waiting"}']);
  });

  it('keeps an event it has not settled in its journal, and invokes it again at the next start', async () => {
    // Prepare: a flaky function's first attempt fails; the runtime stops while the retry waits
    const journal = join(root, `journal-${counter++}.json`);
    const event = { counter: join(root, `flaky-${counter++}`), failures: 1 };
    const first = start([spec('flaky')], { journal });
    const requestId = first.invoker.invokeAsync('flaky', event, { trigger: 's3 uploads/a' });
    await firstInvocation();
    await first.invoker.stop();
    expect(JSON.parse(await readFile(journal, 'utf8'))).toEqual([
      { requestId, functionLogicalId: 'flaky', event, trigger: 's3 uploads/a' },
    ]);

    // Act: the next start on the same journal
    const second = start([spec('flaky')], { journal });
    await second.invoker.idle();

    // Assess: invoked again under its request id, delivered, and gone from the journal
    expect(second.logged).toContain('invoking again 1 event(s) the last run had not delivered');
    expect(records).toMatchObject([{ requestId, outcome: { ok: true } }]);
    await second.invoker.stop();
    expect(JSON.parse(await readFile(journal, 'utf8'))).toEqual([]);
  });
});

describe('the scale setting of npm start', () => {
  it('reads MEDIA_PIPELINE_ASYNC_RETRY_SCALE, 1 (real time) by default, and refuses a scale that is not positive', () => {
    // Act
    const byDefault = localSettingsFromEnvironment({});
    const scaled = localSettingsFromEnvironment({ MEDIA_PIPELINE_ASYNC_RETRY_SCALE: '0.01' });
    // Assess
    expect(byDefault.asyncRetryScale).toBe(1);
    expect(scaled.asyncRetryScale).toBe(0.01);
    expect(() => localSettingsFromEnvironment({ MEDIA_PIPELINE_ASYNC_RETRY_SCALE: '0' })).toThrow(
      /MEDIA_PIPELINE_ASYNC_RETRY_SCALE/,
    );
  });
});
