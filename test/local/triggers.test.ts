import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { S3Event, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAsyncInvoker } from '../../local/async-invoke.ts';
import { startFaultProxy } from '../../local/fault-proxy.ts';
import type { InvocationRecord } from '../../local/invocation-log.ts';
import { LambdaPool } from '../../local/lambda-pool.ts';
import { startS3Notifications } from '../../local/s3-notifications.ts';
import { startSqsEventSources } from '../../local/sqs-event-source.ts';
import type { EventSourceMappingSpec, FunctionSpec, Stoppable } from '../../local/types.ts';
import {
  LOCAL_CREDENTIALS,
  localS3Client,
  REGION,
  type S3Emulator,
  type SqsEmulator,
  startS3,
  startSqs,
} from '../support/emulators.ts';
import { tinyFunctionSpec, writeTinyBundles } from '../support/tiny-functions.ts';

/**
 * The SQS event source mappings against fauxqs and the S3 notification bridge against s3rver, both in
 * this process, invoking tiny bundles in real worker processes.
 */

/** Fails the records whose body contains "fail", reports the rest as done. */
const PARTIAL = `
exports.handler = async (event) => ({
  batchItemFailures: event.Records.filter((record) => record.body.includes('fail')).map((record) => ({
    itemIdentifier: record.messageId,
  })),
});
`;

const ALWAYS_FAILS = `
exports.handler = async () => {
  throw new Error('always fails');
};
`;

const INVALID_RESPONSE = `
exports.handler = async () => ({ batchItemFailures: [{ itemIdentifier: 'not-a-message-of-this-batch' }] });
`;

const ECHO = `
exports.handler = async (event) => ({ received: event.Records.length });
`;

let root: string;
let sqsEmulator: SqsEmulator;
let s3Emulator: S3Emulator;
let sqs: SQSClient;
let s3: S3Client;
let pool: LambdaPool;
const records: InvocationRecord[] = [];
const started: Stoppable[] = [];
let counter = 0;

const spec = (name: string, overrides: Partial<FunctionSpec> = {}): FunctionSpec =>
  tinyFunctionSpec(root, name, overrides);

interface HeldReceive {
  /** How the long poll ended: the poller hung up, or SQS answered. */
  outcome: Promise<'aborted by the poller' | 'answered'>;
}

/** A pass-through to the SQS emulator that tells when a ReceiveMessage is held open, and how it ends. */
/** The SQS emulator behind a pass-through proxy that tells when a ReceiveMessage is held open, and how it ends. */
const startSqsProxy = async (target: string) => {
  const waiting: Array<(held: HeldReceive) => void> = [];
  const proxy = await startFaultProxy(target, [], {
    observe: (request, response, upstream) => {
      if (!String(request.headers['x-amz-target'] ?? '').endsWith('.ReceiveMessage')) return;
      const outcome = new Promise<'aborted by the poller' | 'answered'>((resolve) => {
        response.on('finish', () => resolve('answered'));
        response.on('close', () => {
          if (!response.writableFinished) {
            upstream.destroy();
            resolve('aborted by the poller');
          }
        });
      });
      waiting.shift()?.({ outcome });
    },
  });
  return { ...proxy, nextReceive: () => new Promise<HeldReceive>((resolve) => waiting.push(resolve)) };
};

const createQueue = async (
  attributes: Record<string, string> = {},
): Promise<{ url: string; arn: string; name: string }> => {
  const name = `queue-${process.pid}-${counter++}`;
  const created = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  const url = created.QueueUrl ?? '';
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  return { url, arn: Attributes?.QueueArn ?? '', name };
};

const depth = async (queueUrl: string): Promise<{ visible: number; inFlight: number }> => {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(Attributes?.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
};

const waitUntil = async <T>(probe: () => T | Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000) => {
  const startedAt = Date.now();
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() - startedAt > timeoutMs)
      throw new Error(`condition not met in time: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

const mapping = (
  functionLogicalId: string,
  queue: { url: string; arn: string },
  overrides: Partial<EventSourceMappingSpec> = {},
): EventSourceMappingSpec => ({
  logicalId: `${functionLogicalId}Mapping${counter++}`,
  functionLogicalId,
  queueLogicalId: 'Queue',
  queueUrl: queue.url,
  queueArn: queue.arn,
  batchSize: 10,
  maximumBatchingWindowSeconds: 0,
  reportBatchItemFailures: true,
  enabled: true,
  ...overrides,
});

const startPollers = (mappings: EventSourceMappingSpec[]): Stoppable => {
  const pollers = startSqsEventSources(mappings, pool, {
    endpoint: sqsEmulator.endpoint,
    waitTimeSeconds: 1,
    log: () => {},
  });
  started.push(pollers);
  return pollers;
};

const sendBodies = (queueUrl: string, bodies: string[]) =>
  sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: bodies.map((body, index) => ({
        Id: String(index),
        MessageBody: body,
        MessageAttributes: { origin: { DataType: 'String', StringValue: 'triggers-test' } },
      })),
    }),
  );

const invocationsOf = (functionName: string) =>
  records.filter((record) => record.functionName === functionName);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'triggers-'));
  const bundles = {
    partial: PARTIAL,
    'always-fails': ALWAYS_FAILS,
    'invalid-response': INVALID_RESPONSE,
    echo: ECHO,
  };
  await writeTinyBundles(root, bundles);
  [sqsEmulator, s3Emulator] = await Promise.all([startSqs(), startS3()]);
  const common = { region: REGION, credentials: LOCAL_CREDENTIALS };
  sqs = new SQSClient({ ...common, endpoint: sqsEmulator.endpoint, useQueueUrlAsEndpoint: false });
  s3 = localS3Client(s3Emulator.endpoint);
});

afterEach(async () => {
  await Promise.all(started.splice(0).map((stoppable) => stoppable.stop()));
  await pool?.close();
});

afterAll(async () => {
  sqs?.destroy();
  s3?.destroy();
  await Promise.all([sqsEmulator?.close(), s3Emulator?.close()]);
  await rm(root, { recursive: true, force: true });
});

const startPool = (specs: FunctionSpec[]): void => {
  records.length = 0;
  pool = new LambdaPool(specs, { output: () => {}, onInvocation: (record) => records.push(record) });
};

describe('SQS event source mappings', () => {
  it("delivers a batch as Lambda's SQS event and deletes what succeeded", async () => {
    // Prepare
    startPool([spec('partial')]);
    const queue = await createQueue({ VisibilityTimeout: '30' });
    startPollers([mapping('partial', queue, { maximumBatchingWindowSeconds: 1 })]);

    // Act
    await sendBodies(queue.url, ['one', 'two', 'three', 'four', 'five']);

    // Assess
    const delivered = await waitUntil(
      () => invocationsOf('partial').flatMap((record) => (record.event as SQSEvent).Records),
      (all) => all.length >= 5,
    );
    expect(delivered.map((record) => record.body).sort()).toEqual(['five', 'four', 'one', 'three', 'two']);
    expect(delivered[0]).toMatchObject({
      eventSource: 'aws:sqs',
      eventSourceARN: queue.arn,
      awsRegion: 'us-east-1',
      messageAttributes: { origin: { dataType: 'String', stringValue: 'triggers-test' } },
      attributes: { ApproximateReceiveCount: '1' },
    });
    expect(Object.keys(delivered[0]?.attributes ?? {})).toEqual(
      expect.arrayContaining([
        'ApproximateReceiveCount',
        'SentTimestamp',
        'SenderId',
        'ApproximateFirstReceiveTimestamp',
      ]),
    );
    expect(delivered[0]?.md5OfBody).toMatch(/^[0-9a-f]{32}$/);
    await waitUntil(
      () => depth(queue.url),
      (d) => d.visible === 0 && d.inFlight === 0,
    );
  });

  it('leaves the failed items of a partial batch failure on the queue, in flight', async () => {
    // Prepare
    startPool([spec('partial')]);
    const queue = await createQueue({ VisibilityTimeout: '30' });
    startPollers([mapping('partial', queue, { maximumBatchingWindowSeconds: 1 })]);

    // Act
    await sendBodies(queue.url, ['ok-1', 'please fail', 'ok-2']);

    // Assess
    await waitUntil(
      () => invocationsOf('partial').flatMap((record) => (record.event as SQSEvent).Records),
      (all) => all.length >= 3,
    );
    const settled = await waitUntil(
      () => depth(queue.url),
      (d) => d.inFlight === 1,
    );
    expect(settled).toEqual({ visible: 0, inFlight: 1 });
    const responses = invocationsOf('partial').map((record) =>
      record.outcome.ok ? (record.outcome.result as SQSBatchResponse) : undefined,
    );
    expect(responses.flatMap((response) => response?.batchItemFailures ?? [])).toHaveLength(1);
  });

  it('deletes nothing when the batch response names a message that is not in the batch', async () => {
    // Prepare
    startPool([spec('invalid-response')]);
    const queue = await createQueue({ VisibilityTimeout: '30' });
    const pollers = startPollers([mapping('invalid-response', queue)]);

    // Act
    await sendBodies(queue.url, ['a']);
    await waitUntil(
      () => invocationsOf('invalid-response'),
      (all) => all.length >= 1,
    );
    // Stopping waits for the batch in flight to be settled.
    await pollers.stop();

    // Assess
    expect(await depth(queue.url)).toEqual({ visible: 0, inFlight: 1 });
  });

  it('lets the queue redrive a message to its DLQ after maxReceiveCount failed invocations', async () => {
    // Prepare
    startPool([spec('always-fails')]);
    const dlq = await createQueue();
    const queue = await createQueue({
      VisibilityTimeout: '1',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 2 }),
    });
    startPollers([mapping('always-fails', queue, { batchSize: 1 })]);

    // Act
    await sendBodies(queue.url, ['poison']);

    // Assess
    await waitUntil(
      () => depth(dlq.url),
      (d) => d.visible === 1,
      20_000,
    );
    const attempts = invocationsOf('always-fails');
    expect(
      attempts.map((record) => (record.event as SQSEvent).Records[0]?.attributes.ApproximateReceiveCount),
    ).toEqual(['1', '2']);
    expect(attempts.every((record) => !record.outcome.ok)).toBe(true);
    const [deadLetter] =
      (await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq.url, WaitTimeSeconds: 1 }))).Messages ?? [];
    expect(deadLetter?.Body).toBe('poison');
  });

  it('stops by aborting the long poll it has in flight, without waiting for it to end', async () => {
    // Prepare: the pollers reach SQS through a proxy that reports each ReceiveMessage it holds open
    startPool([spec('echo')]);
    const queue = await createQueue();
    const proxy = await startSqsProxy(sqsEmulator.endpoint);
    started.push(proxy);
    const pollers = startSqsEventSources([mapping('echo', queue)], pool, {
      endpoint: proxy.endpoint,
      waitTimeSeconds: 20,
      log: () => {},
    });
    const longPoll = await proxy.nextReceive();

    // Act
    await pollers.stop();

    // Assess: the poller hung up on its 20 s long poll rather than letting it run out
    expect(await longPoll.outcome).toBe('aborted by the poller');
  });
});

describe('S3 notifications', () => {
  const startAsyncInvokerFor = (
    functions: FunctionSpec[],
    queueUrlsByArn: Record<string, string> = {},
    retryScale = 1,
  ) => {
    const asyncInvoker = startAsyncInvoker(pool, {
      functions,
      queueUrlsByArn,
      sqs: { endpoint: sqsEmulator.endpoint },
      retryScale,
      log: () => {},
    });
    started.push(asyncInvoker);
    return asyncInvoker;
  };
  const put = (bucket: string, key: string) =>
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'bytes', ContentType: 'text/plain' }));

  it('invokes the function for matching keys only, with the key encoded as S3 encodes it', async () => {
    // Prepare
    startPool([spec('echo')]);
    const bucket = `uploads-${process.pid}-${counter++}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const bridge = startS3Notifications(
      s3Emulator.events,
      [
        {
          bucketLogicalId: 'Uploads',
          bucketName: bucket,
          events: ['s3:ObjectCreated:*'],
          prefix: 'uploads/',
          functionLogicalId: 'echo',
        },
      ],
      startAsyncInvokerFor([spec('echo')]),
    );
    started.push(bridge);

    // Act
    await put(bucket, 'elsewhere/ignored.txt');
    await put(bucket, 'uploads/my photo (1).jpg');
    await bridge.idle();

    // Assess
    const invocations = invocationsOf('echo');
    expect(invocations).toHaveLength(1);
    const [record] = (invocations[0]?.event as S3Event | undefined)?.Records ?? [];
    expect(record).toMatchObject({
      eventName: 'ObjectCreated:Put',
      s3: {
        bucket: { name: bucket, arn: `arn:aws:s3:::${bucket}` },
        object: { key: 'uploads/my+photo+%281%29.jpg' },
      },
    });
    expect(invocations[0]?.trigger).toBe('s3 uploads/my photo (1).jpg');
  });

  it("retries a failing function, then sends the event to the function's dead-letter queue", async () => {
    // Prepare
    const dlq = await createQueue();
    const failing = spec('always-fails', { deadLetterTargetArn: dlq.arn });
    startPool([failing]);
    const bucket = `uploads-${process.pid}-${counter++}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const bridge = startS3Notifications(
      s3Emulator.events,
      [
        {
          bucketLogicalId: 'Uploads',
          bucketName: bucket,
          events: ['s3:ObjectCreated:*'],
          functionLogicalId: 'always-fails',
        },
      ],
      // Lambda's 1 and 2 minutes as 100 and 200 ms.
      startAsyncInvokerFor([failing], { [dlq.arn]: dlq.url }, 100 / 60_000),
    );
    started.push(bridge);

    // Act
    await put(bucket, 'uploads/doomed.bin');
    await bridge.idle();

    // Assess
    expect(invocationsOf('always-fails')).toHaveLength(3);
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: dlq.url, WaitTimeSeconds: 1, MessageAttributeNames: ['All'] }),
    );
    expect(Messages).toHaveLength(1);
    const event = JSON.parse(Messages[0]?.Body ?? '{}') as S3Event;
    expect(event.Records[0]?.s3.object.key).toBe('uploads/doomed.bin');
    expect(Messages[0]?.MessageAttributes?.ErrorMessage?.StringValue).toBe('Error: always fails');
  });
});
