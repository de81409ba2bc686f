import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startFaultProxy } from '../../local/fault-proxy.ts';
import { FaultConfigError, parseFaults, withInvocationFaults } from '../../local/faults.ts';
import { LambdaPool } from '../../local/lambda-pool.ts';
import type { FunctionSpec } from '../../local/types.ts';
import { LOCAL_CREDENTIALS, localS3Client, REGION, type S3Emulator, startS3 } from '../support/emulators.ts';

/** MEDIA_PIPELINE_FAULTS: FIS's Lambda actions around real worker invocations, SDK errors at real emulators. */
let root: string;
let pool: LambdaPool;
let s3: S3Emulator;

const spec = (name: string): FunctionSpec => ({
  logicalId: `Processing${name}FunctionAB12CD34`,
  name: `MediaPipeline-${name}`,
  handler: 'index.handler',
  codeDir: join(root, 'counter'),
  layerDirs: [],
  environment: {},
  timeoutSeconds: 5,
  memoryMb: 256,
});

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'faults-'));
  await mkdir(join(root, 'counter'));
  // Counts the invocations that really ran in this environment.
  await writeFile(
    join(root, 'counter', 'index.js'),
    'let runs = 0;\nexports.handler = async () => ({ runs: ++runs, pid: process.pid });\n',
  );
  pool = new LambdaPool([spec('Image'), spec('Video')], { concurrency: 1, output: () => {} });
  s3 = await startS3();
});
afterAll(async () => {
  await pool?.close();
  await s3?.close();
  await rm(root, { recursive: true, force: true });
});

const meta = { trigger: 'test' };

describe('MEDIA_PIPELINE_FAULTS', () => {
  it('reads a JSON array of faults, with FIS-like defaults', () => {
    expect(
      parseFaults(
        '[{"action":"invocation-error","function":"Image"},{"action":"invocation-add-delay","function":"Video","delayMs":10,"count":2}]',
      ),
    ).toEqual([
      { action: 'invocation-error', function: 'Image', percentage: 100, preventExecution: true },
      { action: 'invocation-add-delay', function: 'Video', percentage: 100, delayMs: 10, count: 2 },
    ]);
    expect(parseFaults(undefined)).toEqual([]);
  });

  it('refuses what it cannot run, saying where', () => {
    expect(() => parseFaults('{oops')).toThrow(FaultConfigError);
    expect(() =>
      parseFaults('[{"action":"sdk-error","function":"Api","service":"kinesis","error":"throttling"}]'),
    ).toThrow(/0\.service/);
    expect(() => parseFaults('[{"action":"invocation-error","function":"Api","percentage":150}]')).toThrow(
      /0\.percentage/,
    );
  });
});

describe('invocation faults around the worker pool', () => {
  it('fails the named function’s invocations, count times, without running them', async () => {
    // Prepare
    const faults = parseFaults('[{"action":"invocation-error","function":"Image","count":2}]');
    const invoker = withInvocationFaults(pool, faults, (id) => pool.spec(id));

    // Act
    const outcomes = [];
    for (let i = 0; i < 3; i++) outcomes.push(await invoker.invoke(spec('Image').logicalId, {}, meta));
    const other = await invoker.invoke(spec('Video').logicalId, {}, meta);

    // Assess: two injected failures, then the function runs (its first real run)
    expect(outcomes.map((outcome) => outcome.ok)).toEqual([false, false, true]);
    expect(outcomes[0]).toMatchObject({
      kind: 'handler',
      error: { name: 'InjectedFault', message: 'invocation-error injected by MEDIA_PIPELINE_FAULTS' },
    });
    expect(outcomes[2]).toMatchObject({ ok: true, result: { runs: 1 } });
    expect(other).toMatchObject({ ok: true });
  });

  it('runs the handler first when told not to prevent execution, and still reports the failure', async () => {
    const faults = parseFaults(
      '[{"action":"invocation-error","function":"Video","preventExecution":false,"count":1}]',
    );
    const invoker = withInvocationFaults(pool, faults, (id) => pool.spec(id));
    const before = await pool.invoke(spec('Video').logicalId, {}, meta);

    const failed = await invoker.invoke(spec('Video').logicalId, {}, meta);
    const after = await invoker.invoke(spec('Video').logicalId, {}, meta);

    expect(failed.ok).toBe(false);
    // The failed invocation ran: the next one is two runs after the one before it.
    const runs = (outcome: typeof before) => (outcome.ok ? (outcome.result as { runs: number }).runs : -1);
    expect(runs(after)).toBe(runs(before) + 2);
  });

  it('applies a percentage by its dice', async () => {
    const faults = parseFaults('[{"action":"invocation-error","function":"Image","percentage":50}]');
    const rolls = [0.2, 0.7, 0.49, 0.5];
    const invoker = withInvocationFaults(pool, faults, (id) => pool.spec(id), {
      random: () => rolls.shift() ?? 1,
    });

    const outcomes = [];
    for (let i = 0; i < 4; i++) outcomes.push((await invoker.invoke(spec('Image').logicalId, {}, meta)).ok);

    expect(outcomes).toEqual([false, true, false, true]);
  });
});

describe('SDK errors at the boundary', () => {
  it('throttles the named DynamoDB operation as DynamoDB does; the SDK retries through it', async () => {
    // Prepare
    const endpoint = inject('dynamodbEndpoint');
    const direct = new DynamoDBClient({ endpoint, region: REGION, credentials: LOCAL_CREDENTIALS });
    const TableName = `faults-${process.pid}-${Date.now()}`;
    await direct.send(
      new CreateTableCommand({
        TableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      }),
    );
    const faults = parseFaults(
      '[{"action":"sdk-error","function":"Api","service":"dynamodb","operation":"PutItem","error":"throttling","count":3}]',
    ).filter((fault) => fault.action === 'sdk-error');
    const proxy = await startFaultProxy(endpoint, faults);
    const client = (maxAttempts: number) =>
      new DynamoDBClient({
        endpoint: proxy.endpoint,
        region: REGION,
        credentials: LOCAL_CREDENTIALS,
        maxAttempts,
        retryMode: 'standard',
      });

    // Act
    const once = client(1);
    const refused = await once
      .send(new PutItemCommand({ TableName, Item: { pk: { S: 'a' } } }))
      .catch((e: Error) => e);
    const retrying = client(3);
    await retrying.send(new PutItemCommand({ TableName, Item: { pk: { S: 'b' } } }));
    const read = await once.send(new GetItemCommand({ TableName, Key: { pk: { S: 'b' } } }));

    // Assess: three throttled answers (one to the single try, two to the retrying client), reads untouched
    expect((refused as Error).name).toBe('ThrottlingException');
    expect(proxy.injected()).toBe(3);
    expect(read.Item?.pk?.S).toBe('b');
    for (const c of [direct, once, retrying]) c.destroy();
    await proxy.stop();
  });

  it('answers S3 reads with InternalError while writes pass through with their signatures intact', async () => {
    const faults = parseFaults(
      '[{"action":"sdk-error","function":"Image","service":"s3","operation":"GetObject","error":"server-error"}]',
    ).filter((fault) => fault.action === 'sdk-error');
    const proxy = await startFaultProxy(s3.endpoint, faults);
    const client = localS3Client(proxy.endpoint, { maxAttempts: 1 });
    const Bucket = `faults-${process.pid}`;
    await client.send(new CreateBucketCommand({ Bucket }));

    await client.send(new PutObjectCommand({ Bucket, Key: 'a', Body: 'bytes' }));
    const read = await client.send(new GetObjectCommand({ Bucket, Key: 'a' })).catch((e: Error) => e);

    expect((read as Error).name).toBe('InternalError');
    const stored = await localS3Client(s3.endpoint).send(new GetObjectCommand({ Bucket, Key: 'a' }));
    expect(await stored.Body?.transformToString()).toBe('bytes');
    client.destroy();
    await proxy.stop();
  });

  it('crashes the caller at the SDK boundary: before the side effect, or after it with the answer withheld', async () => {
    // Prepare: an environment of Image, alive, and a proxy whose crashes kill Image's environments
    const faults = parseFaults(
      '[{"action":"sdk-error","function":"Image","service":"s3","operation":"PutObject","error":"crash-before","count":1},' +
        '{"action":"sdk-error","function":"Image","service":"s3","operation":"PutObject","error":"crash-after","count":1}]',
    ).filter((fault) => fault.action === 'sdk-error');
    const imageId = spec('Image').logicalId;
    const before = await pool.invoke(imageId, {}, meta);
    const crashes: string[] = [];
    const proxy = await startFaultProxy(s3.endpoint, faults, {
      onCrash: (fault, operation) => {
        crashes.push(`${fault.error} ${operation}`);
        for (const pid of pool.workerPids(imageId)) process.kill(pid, 'SIGKILL');
      },
    });
    const client = localS3Client(proxy.endpoint, { maxAttempts: 1 });
    const direct = localS3Client(s3.endpoint);
    const Bucket = `crashes-${process.pid}`;
    await direct.send(new CreateBucketCommand({ Bucket }));

    // Act
    const first = await client
      .send(new PutObjectCommand({ Bucket, Key: 'first', Body: 'one' }))
      .catch((e) => e);
    const second = await client
      .send(new PutObjectCommand({ Bucket, Key: 'second', Body: 'two' }))
      .catch((e) => e);
    const third = await client.send(new PutObjectCommand({ Bucket, Key: 'third', Body: 'three' }));
    const after = await pool.invoke(imageId, {}, meta);

    // Assess: no answer either time; the first write never happened, the second did; the pool replaced Image
    expect(crashes).toEqual(['crash-before PutObject', 'crash-after PutObject']);
    expect(first).toBeInstanceOf(Error);
    expect(second).toBeInstanceOf(Error);
    expect(third.$metadata.httpStatusCode).toBe(200);
    const missing = await direct.send(new GetObjectCommand({ Bucket, Key: 'first' })).catch((e: Error) => e);
    expect((missing as Error).name).toBe('NoSuchKey');
    const stored = await direct.send(new GetObjectCommand({ Bucket, Key: 'second' }));
    expect(await stored.Body?.transformToString()).toBe('two');
    expect(before.ok && after.ok).toBe(true);
    const pidOf = (outcome: typeof before) => (outcome.ok ? (outcome.result as { pid: number }).pid : 0);
    expect(pidOf(after)).not.toBe(pidOf(before));
    expect(proxy.injected()).toBe(2);
    client.destroy();
    direct.destroy();
    await proxy.stop();
  });
});
