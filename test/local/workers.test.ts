import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findJobIds, formatInvocation, type InvocationRecord } from '../../local/invocation-log.ts';
import { LambdaPool } from '../../local/lambda-pool.ts';
import type { FunctionSpec, InvokeOutcome } from '../../local/types.ts';

/**
 * The Lambda pool against real worker processes running tiny CommonJS bundles written to a temp dir.
 */

const ECHO = `
let invocations = 0;
exports.handler = async (event, context) => {
  invocations += 1;
  if (event.log) console.log(JSON.stringify({ level: 'INFO', message: event.log }));
  return {
    event,
    pid: process.pid,
    invocations,
    cwd: process.cwd(),
    env: {
      AWS_REGION: process.env.AWS_REGION,
      AWS_DEFAULT_REGION: process.env.AWS_DEFAULT_REGION,
      AWS_LAMBDA_FUNCTION_NAME: process.env.AWS_LAMBDA_FUNCTION_NAME,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      AWS_LAMBDA_FUNCTION_VERSION: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      LAMBDA_TASK_ROOT: process.env.LAMBDA_TASK_ROOT,
      OWN: process.env.OWN,
      EXTRA: process.env.EXTRA,
      LEAK: process.env.WORKERS_TEST_LEAK,
    },
    context: {
      functionName: context.functionName,
      awsRequestId: context.awsRequestId,
      invokedFunctionArn: context.invokedFunctionArn,
      memoryLimitInMB: context.memoryLimitInMB,
      logGroupName: context.logGroupName,
      remaining: context.getRemainingTimeInMillis(),
    },
  };
};
`;

const THROWS = `
exports.handler = async (event) => {
  if (event.ok) return { pid: process.pid };
  throw new TypeError('bad input: ' + event.value);
};
`;

const SLEEPS = `
exports.handler = async (event) => {
  const startedAt = Date.now();
  if (event.sleepMs) await new Promise((resolve) => setTimeout(resolve, event.sleepMs));
  return { pid: process.pid, startedAt, endedAt: Date.now() };
};
`;

const EXITS = `
exports.handler = async (event) => {
  if (event.exit) process.exit(3);
  return { pid: process.pid };
};
`;

/** Fails at module load, like a handler whose configuration does not parse at cold start. */
const BROKEN_INIT = `
throw new Error('JOBS_TABLE is missing');
`;

/** Needs a layer: a module from its nodejs/node_modules and a binary under its bin/. */
const USES_LAYER = `
const fakeLib = require('fake-lib');
exports.handler = async () => ({
  lib: fakeLib.name,
  ffmpeg: process.env.FFMPEG_PATH,
  missing: process.env.MISSING_PATH,
  nodePath: process.env.NODE_PATH,
  path: process.env.PATH,
});
`;

let root: string;
let pool: LambdaPool;
const records: InvocationRecord[] = [];
const lines: { line: string; fn: string }[] = [];

const spec = (name: string, overrides: Partial<FunctionSpec> = {}): FunctionSpec => ({
  logicalId: `${name}Function`,
  name,
  handler: 'index.handler',
  codeDir: join(root, name),
  layerDirs: [],
  environment: {},
  timeoutSeconds: 10,
  memoryMb: 256,
  ...overrides,
});

const writeBundle = async (name: string, source: string): Promise<void> => {
  await mkdir(join(root, name), { recursive: true });
  await writeFile(join(root, name, 'index.js'), source);
};

/** The most intervals that overlap at any instant (an end at the same instant as a start does not overlap). */
const mostAtOnce = (intervals: Array<[number, number]>): number => {
  const edges = intervals.flatMap(([start, end]) => [
    [start, 1],
    [end, -1],
  ]);
  edges.sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0) || (a[1] ?? 0) - (b[1] ?? 0));
  let open = 0;
  let most = 0;
  for (const [, step] of edges) {
    open += step ?? 0;
    most = Math.max(most, open);
  }
  return most;
};

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const waitUntil = async (condition: () => boolean, timeoutMs = 5_000): Promise<void> => {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

const resultOf = (outcome: InvokeOutcome): Record<string, unknown> => {
  if (!outcome.ok) throw new Error(`invocation failed: ${outcome.kind} ${outcome.error.message}`);
  return outcome.result as Record<string, unknown>;
};

const meta = { trigger: 'test' };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'lambda-pool-'));
  // As in the project, whose cdk.out sits under a package.json of "type": "module": the bundles must
  // still load as CommonJS, as they do in Lambda's /var/task.
  await writeFile(join(root, 'package.json'), JSON.stringify({ type: 'module' }));
  await Promise.all([
    writeBundle('echo', ECHO),
    writeBundle('throws', THROWS),
    writeBundle('sleeps', SLEEPS),
    writeBundle('exits', EXITS),
    writeBundle('uses-layer', USES_LAYER),
    writeBundle('broken', BROKEN_INIT),
    writeBundle(
      'slow-init',
      'const until = Date.now() + 1500;\nwhile (Date.now() < until) {}\nexports.handler = async () => ({ pid: process.pid });\n',
    ),
    writeBundle('leaks', "exports.handler = async () => require('only-above-the-bundle').name;\n"),
  ]);
  // A module the bundle did not include, present only in a node_modules above it (as the project's is).
  await mkdir(join(root, 'node_modules', 'only-above-the-bundle'), { recursive: true });
  await writeFile(
    join(root, 'node_modules', 'only-above-the-bundle', 'index.js'),
    "exports.name = 'leaked';\n",
  );
  const layer = join(root, 'ffmpeg-layer');
  await mkdir(join(layer, 'bin'), { recursive: true });
  await writeFile(join(layer, 'bin', 'ffmpeg'), '#!/bin/sh\n', { mode: 0o755 });
  await mkdir(join(layer, 'nodejs', 'node_modules', 'fake-lib'), { recursive: true });
  await writeFile(
    join(layer, 'nodejs', 'node_modules', 'fake-lib', 'index.js'),
    "exports.name = 'fake-lib';\n",
  );

  process.env.WORKERS_TEST_LEAK = 'the parent environment';
  pool = new LambdaPool(
    [
      spec('echo', { environment: { OWN: 'own value' }, memoryMb: 512 }),
      spec('throws'),
      spec('sleeps', { timeoutSeconds: 1 }),
      spec('exits'),
      spec('broken'),
      spec('leaks'),
      spec('slow-init', { timeoutSeconds: 1 }),
      spec('uses-layer', {
        layerDirs: [layer],
        environment: { FFMPEG_PATH: '/opt/bin/ffmpeg', MISSING_PATH: '/opt/bin/not-there' },
      }),
    ],
    {
      extraEnv: { EXTRA: 'from the runtime' },
      output: (line, _stream, fn) => lines.push({ line, fn: fn.name }),
      onInvocation: (record) => records.push(record),
    },
  );
});

afterAll(async () => {
  await pool?.close();
  delete process.env.WORKERS_TEST_LEAK;
  await rm(root, { recursive: true, force: true });
});

describe('LambdaPool', () => {
  it('keeps an environment warm: same process and module state across invocations', async () => {
    // Act
    const first = resultOf(await pool.invoke('echoFunction', { n: 1 }, meta));
    const second = resultOf(await pool.invoke('echoFunction', { n: 2 }, meta));

    // Assess
    expect(second.pid).toBe(first.pid);
    expect(first.invocations).toBe(1);
    expect(second.invocations).toBe(2);
    expect(second.event).toEqual({ n: 2 });
  });

  it("gives the handler the function's environment, Lambda's variables and a Lambda-like context", async () => {
    // Act
    const result = resultOf(await pool.invoke('echoFunction', {}, meta));

    // Assess
    expect(result.env).toEqual({
      AWS_REGION: 'us-east-1',
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_LAMBDA_FUNCTION_NAME: 'echo',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      LAMBDA_TASK_ROOT: join(root, 'echo'),
      OWN: 'own value',
      EXTRA: 'from the runtime',
    });
    expect(result.cwd).toBe(join(root, 'echo'));
    const context = result.context as Record<string, unknown>;
    expect(context).toMatchObject({
      functionName: 'echo',
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:echo',
      memoryLimitInMB: '512',
      logGroupName: '/aws/lambda/echo',
    });
    expect(context.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(context.remaining).toBeGreaterThan(5_000);
    expect(context.remaining).toBeLessThanOrEqual(10_000);
  });

  it('forwards the function output line by line, with the function it came from', async () => {
    // Act
    await pool.invoke('echoFunction', { log: 'hello from the handler' }, meta);

    // Assess
    await waitUntil(() => lines.some(({ line }) => line.includes('hello from the handler')));
    expect(lines.find(({ line }) => line.includes('hello from the handler'))?.fn).toBe('echo');
  });

  it('reports a rejecting handler as a handler error and keeps the environment', async () => {
    // Act
    const failed = await pool.invoke('throwsFunction', { value: 42 }, meta);
    const next = await pool.invoke('throwsFunction', { ok: true }, meta);

    // Assess
    expect(failed).toMatchObject({
      ok: false,
      kind: 'handler',
      error: { name: 'TypeError', message: 'bad input: 42' },
    });
    expect(next.ok).toBe(true);
    expect(pool.workerPids('throwsFunction')).toContain(resultOf(next).pid);
  });

  it('kills an environment that runs past its timeout and cold-starts a new one', async () => {
    // Prepare
    const warm = resultOf(await pool.invoke('sleepsFunction', {}, meta));

    // Act
    const timedOut = await pool.invoke('sleepsFunction', { sleepMs: 5_000 }, meta);
    const after = resultOf(await pool.invoke('sleepsFunction', {}, meta));

    // Assess
    expect(timedOut).toMatchObject({
      ok: false,
      kind: 'timeout',
      error: { message: 'Task timed out after 1.00 seconds' },
    });
    expect(after.pid).not.toBe(warm.pid);
    await waitUntil(() => !isAlive(warm.pid as number));
  });

  it('fails only the invocation whose process dies; the next one succeeds', async () => {
    // Act
    const crashed = await pool.invoke('exitsFunction', { exit: true }, meta);
    const next = await pool.invoke('exitsFunction', {}, meta);

    // Assess
    expect(crashed).toMatchObject({ ok: false, kind: 'crash' });
    expect(crashed.ok === false && crashed.error.message).toContain('exit status 3');
    expect(next.ok).toBe(true);
  });

  it('fails every invocation of a function whose initialisation fails, retrying the cold start each time', async () => {
    // Act
    const first = await pool.invoke('brokenFunction', {}, meta);
    const second = await pool.invoke('brokenFunction', {}, meta);

    // Assess
    for (const outcome of [first, second]) {
      expect(outcome).toMatchObject({
        ok: false,
        kind: 'handler',
        error: { message: 'JOBS_TABLE is missing' },
      });
    }
    expect(
      records.filter((record) => record.functionName === 'broken').map((record) => record.coldStart),
    ).toEqual([true, true]);
  });

  it('keeps serving other functions while one hangs', async () => {
    // Prepare
    let hangSettled = false;
    const hanging = pool.invoke('sleepsFunction', { sleepMs: 5_000 }, meta).then((outcome) => {
      hangSettled = true;
      return outcome;
    });

    // Act
    const other = await pool.invoke('echoFunction', { while: 'hanging' }, meta);

    // Assess
    expect(other.ok).toBe(true);
    expect(hangSettled).toBe(false);
    expect((await hanging).ok).toBe(false);
  });

  it('runs at most `concurrency` environments per function and queues the rest', async () => {
    // Act
    const outcomes = await Promise.all(
      [1, 2, 3, 4].map(() => pool.invoke('sleepsFunction', { sleepMs: 200 }, meta)),
    );

    // Assess: two environments, each used twice, and never more than two invocations at once
    expect(outcomes.every((outcome) => outcome.ok)).toBe(true);
    const results = outcomes.map((outcome) => resultOf(outcome));
    const runsPerPid = new Map<unknown, number>();
    for (const result of results) runsPerPid.set(result.pid, (runsPerPid.get(result.pid) ?? 0) + 1);
    expect([...runsPerPid.values()]).toEqual([2, 2]);
    expect(mostAtOnce(results.map((r) => [Number(r.startedAt), Number(r.endedAt)]))).toBe(2);
  });

  it("stands in for /opt: layer modules on NODE_PATH, binaries on PATH, /opt paths rewritten to the layer's files", async () => {
    // Act
    const result = resultOf(await pool.invoke('uses-layerFunction', {}, meta));

    // Assess
    const layer = join(root, 'ffmpeg-layer');
    expect(result.lib).toBe('fake-lib');
    expect(result.ffmpeg).toBe(join(layer, 'bin', 'ffmpeg'));
    // Nothing in the layer there: left as it is, so the function fails as it would on Lambda.
    expect(result.missing).toBe('/opt/bin/not-there');
    expect(String(result.nodePath).split(':')).toContain(join(layer, 'nodejs', 'node_modules'));
    expect(String(result.path).split(':')[0]).toBe(join(layer, 'bin'));
  });

  it("does not count the init phase (loading the handler) against the invocation's timeout", async () => {
    const outcome = await pool.invoke('slow-initFunction', {}, meta);

    expect(outcome.ok).toBe(true);
  });

  it('does not let a bundle require what is only above it, as Lambda cannot', async () => {
    const outcome = await pool.invoke('leaksFunction', {}, meta);

    expect(outcome).toMatchObject({
      ok: false,
      error: { message: expect.stringContaining('only-above-the-bundle') },
    });
  });

  it('reports each invocation once, with trigger, outcome and cold start', async () => {
    // Prepare
    const before = records.length;

    // Act
    await pool.invoke('throwsFunction', { value: 'x' }, { trigger: 'sqs jobs-queue' });

    // Assess
    await waitUntil(() => records.length > before);
    const record = records.at(-1) as InvocationRecord;
    expect(record).toMatchObject({ functionName: 'throws', trigger: 'sqs jobs-queue', coldStart: false });
    expect(formatInvocation(record)).toMatch(
      /throws +sqs jobs-queue +\d+ ms +error handler TypeError: bad input: x/,
    );
  });

  it('kills every worker on close', async () => {
    // Prepare
    const own = new LambdaPool([spec('echo'), spec('sleeps', { timeoutSeconds: 5 })], { output: () => {} });
    await own.invoke('echoFunction', {}, meta);
    const busy = own.invoke('sleepsFunction', { sleepMs: 4_000 }, meta);
    await waitUntil(() => own.workerPids('sleepsFunction').length === 1);
    const pids = [...own.workerPids('echoFunction'), ...own.workerPids('sleepsFunction')];

    // Act
    await own.close();

    // Assess
    expect(pids).toHaveLength(2);
    expect(pids.filter(isAlive)).toEqual([]);
    expect((await busy).ok).toBe(false);
  });
});

describe('invocation log', () => {
  const jobId = '0b9f5a52-3c1e-4d8a-9f3e-2a6b7c8d9e0f';

  it('finds the job in an HTTP response body', () => {
    const result = { statusCode: 201, body: JSON.stringify({ job_id: jobId, status: 'awaiting_upload' }) };
    expect(findJobIds(result, { rawPath: '/api/media' })).toEqual([jobId]);
  });

  it('finds jobs in SQS message bodies and S3 keys, including an S3 event dead-lettered to SQS', () => {
    const s3Event = { Records: [{ s3: { object: { key: `uploads/${jobId}` } } }] };
    const sqsEvent = {
      Records: [
        {
          messageId: 'a7c1e4f2-0000-4000-8000-000000000000',
          body: JSON.stringify({ kind: 'process', job_id: jobId }),
        },
        { messageId: 'b7c1e4f2-0000-4000-8000-000000000000', body: JSON.stringify(s3Event) },
      ],
    };
    expect(findJobIds(undefined, sqsEvent)).toEqual([jobId]);
    expect(findJobIds(undefined, s3Event)).toEqual([jobId]);
  });

  it('formats one compact line', () => {
    const line = formatInvocation({
      startedAt: new Date(2026, 0, 2, 12, 1, 2, 345),
      functionName: 'api',
      logicalId: 'ApiFunction',
      trigger: 'http POST /api/media',
      requestId: 'r',
      coldStart: true,
      event: {},
      outcome: {
        ok: true,
        result: { statusCode: 201, body: JSON.stringify({ job_id: jobId }) },
        durationMs: 41,
      },
    });
    expect(line).toBe(
      `12:01:02.386 api          http POST /api/media                         41 ms  ok 201  job ${jobId.slice(0, 8)}  (cold)`,
    );
  });
});
