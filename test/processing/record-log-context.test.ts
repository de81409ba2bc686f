import { randomUUID } from 'node:crypto';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { JobStore } from '#shared/job-store';
import { createTestEnvironment, type TestEnvironment } from '#test/emulators';
import { newJob } from '#test/jobs';
import { lambdaContext } from '#test/lambda-context';

/**
 * Powertools' batch processor runs a batch's records concurrently, and `logger.appendKeys` is shared by
 * all of them: each record's lines must carry its own keys however the records interleave. The log
 * lines are captured from the console (POWERTOOLS_DEV makes the logger write JSON through it).
 */
type LogLine = Record<string, unknown> & { message: string; job_id?: string; message_id?: string };

let lines: LogLine[];
let env: TestEnvironment;
let store: JobStore;
let runBatch: (records: SQSRecord[], gates: Map<string, Promise<void>>) => Promise<SQSBatchResponse>;

const capture = (...args: unknown[]) => {
  lines.push(JSON.parse(String(args[0])) as LogLine);
};

beforeAll(async () => {
  env = await createTestEnvironment();
  vi.stubEnv('POWERTOOLS_DEV', 'true');
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'INFO');
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
  vi.stubEnv('POWERTOOLS_SERVICE_NAME', 'media-image');
  // A fresh module graph: the logger reads its level and output at load.
  vi.resetModules();
  for (const method of ['info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, method).mockImplementation(capture);
  }
  const { createJobRunner } = await import('#processing/process-job');
  const { processSqsBatch } = await import('#shared/sqs-batch');
  const { withObservability } = await import('#shared/middleware');
  const { logger } = await import('#shared/observability');

  const { Dispatcher } = await import('#shared/dispatch');
  store = await env.jobStore();
  runBatch = (records, gates) => {
    const runner = createJobRunner({
      store,
      dispatcher: new Dispatcher(env.clients.sqs, { webhook: env.queues.webhook.url }),
      sqs: env.clients.sqs,
      queueUrl: env.queues.image.url,
      maxAttempts: 3,
      attemptTimeoutSeconds: 60,
      backoff: { baseSeconds: 0, maxSeconds: 0 },
      // A domain module: it imports `logger` and knows nothing of records.
      process: async (job) => {
        logger.info('rendering started');
        await gates.get(job.id);
        logger.info('rendering finished');
        return { result: {}, outputs: [] };
      },
    });
    const handler = withObservability((event: SQSEvent, context: Context) =>
      processSqsBatch(event, context, runner),
    );
    return handler({ Records: records }, lambdaContext('image'));
  };
});
afterAll(async () => {
  vi.restoreAllMocks();
  await env.close();
});

const recordFor = (jobId: string): SQSRecord => ({
  messageId: randomUUID(),
  receiptHandle: randomUUID(),
  body: JSON.stringify({ kind: 'process', job_id: jobId }),
  attributes: {
    ApproximateReceiveCount: '1',
    SentTimestamp: String(Date.now()),
    SenderId: 'test',
    ApproximateFirstReceiveTimestamp: String(Date.now()),
  },
  messageAttributes: {},
  md5OfBody: '',
  eventSource: 'aws:sqs',
  eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:image',
  awsRegion: 'us-east-1',
});

describe('per-record log context', () => {
  it("puts each record's own job_id and message_id on its lines, with the records interleaved", async () => {
    // Prepare: three records whose work finishes in the reverse order it started
    lines = [];
    const jobIds: string[] = [randomUUID(), randomUUID(), randomUUID()];
    for (const id of jobIds) await store.create(newJob({ id, status: 'queued', media_kind: 'image' }));
    const records = jobIds.map(recordFor);
    const releases: Array<() => void> = [];
    const gates = new Map(
      jobIds.map((id) => [id, new Promise<void>((resolve) => releases.push(resolve))] as const),
    );
    const releaseInReverse = (async () => {
      // Every record has started before any finishes.
      await vi.waitFor(() => expect(lines.filter((l) => l.message === 'rendering started')).toHaveLength(3));
      for (const release of [...releases].reverse()) {
        release();
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();

    // Act
    const [response] = await Promise.all([runBatch(records, gates), releaseInReverse]);

    // Assess: the records did interleave
    expect(response.batchItemFailures).toEqual([]);
    const order = lines.map((line) => `${line.message}:${jobIds.indexOf(line.job_id ?? '')}`);
    expect(order.slice(0, 3).sort()).toEqual([
      'rendering started:0',
      'rendering started:1',
      'rendering started:2',
    ]);
    expect(order.filter((entry) => entry.startsWith('rendering finished'))).toEqual([
      'rendering finished:2',
      'rendering finished:1',
      'rendering finished:0',
    ]);

    // Assess: every line names its own record, the runner's and the domain module's alike
    for (const [index, jobId] of jobIds.entries()) {
      const own = lines.filter((line) => line.job_id === jobId);
      expect(own.map((line) => line.message)).toEqual([
        'rendering started',
        'rendering finished',
        'job done',
      ]);
      for (const line of own) {
        expect(line.message_id).toBe(records[index]?.messageId);
        // The invocation's Lambda context reaches the records' lines too.
        expect(line.function_name).toBe('image');
      }
    }
    expect(lines.every((line) => typeof line.job_id === 'string')).toBe(true);
  });

  it('leaves no record key on the lines written outside any record', async () => {
    // Prepare
    lines = [];
    const { logger } = await import('#shared/observability');

    // Act
    logger.info('between invocations');

    // Assess
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toHaveProperty('job_id');
    expect(lines[0]).not.toHaveProperty('message_id');
  });
});
