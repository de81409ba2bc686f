import { randomUUID } from 'node:crypto';
import { PurgeQueueCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { webhookMaxReceiveCount } from '#lib/retry-budgets';
import type { WebhookMessage } from '#shared/dispatch';
import type { Job } from '#shared/job';
import type { JobStore } from '#shared/job-store';
import type { TenantStore } from '#shared/tenants';
import { createTestEnvironment, type TestEnvironment } from '#test/emulators';
import { newJob } from '#test/jobs';
import { lambdaContext } from '#test/lambda-context';
import { settleBatch, toSqsEvent } from '#test/sqs-events';
import { type CapturedRequest, startWebhookReceiver, type WebhookReceiver } from '#test/webhook-receiver';
import { sendJobWebhook } from '../../functions/webhook/send-job-webhook.ts';
import { type SecretsManagerEmulator, startSecretsManager } from '../../local/secrets-manager.ts';

type Handler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

const SECRET = `whsec_${Buffer.from(randomUUID()).toString('base64')}`;
const MAX_ATTEMPTS = 3;

let env: TestEnvironment;
let tenants: TenantStore;
let secrets: SecretsManagerEmulator;
let receiver: WebhookReceiver;
let store: JobStore;
let handler: Handler;

const importHandler = async (): Promise<Handler> =>
  (await import('../../functions/webhook/handler.ts')).handler;

beforeAll(async () => {
  env = await createTestEnvironment({ webhookMaxAttempts: MAX_ATTEMPTS });
  [secrets, receiver] = await Promise.all([startSecretsManager(), startWebhookReceiver()]);
  vi.stubEnv('QUEUE_URL', env.queues.webhook.url);
  vi.stubEnv('WEBHOOK_SECRET_ARN', secrets.putSecret('media-pipeline/webhook-signing', SECRET));
  vi.stubEnv('AWS_ENDPOINT_URL_SECRETS_MANAGER', secrets.endpoint);
  vi.stubEnv('ALLOW_LOOPBACK_CALLBACKS', 'true');
  handler = await importHandler();
  store = await env.jobStore();
  tenants = await env.tenantStore();
});
afterAll(async () => {
  await env.close();
  await Promise.all([secrets.close(), receiver.close()]);
});
beforeEach(() => receiver.reset());
// Failed records come back at once (WEBHOOK_MAX_DELAY_SECONDS is 0): leave nothing for the next test to receive.
afterEach(async () => {
  await Promise.all(
    [env.queues.webhook.url, env.queues.webhook.dlqUrl].map((QueueUrl) =>
      env.clients.sqs.send(new PurgeQueueCommand({ QueueUrl })),
    ),
  );
});

const answer =
  (statusCode: number) => (_request: CapturedRequest, response: import('node:http').ServerResponse) => {
    response.writeHead(statusCode);
    response.end();
  };

const finishedJob = async (overrides: Partial<Job> = {}): Promise<Job> => {
  const job = newJob({
    status: 'done',
    attempts: 1,
    media_kind: 'image',
    result: { width: 1280, height: 720 },
    callback_url: receiver.url(),
    ...overrides,
  });
  await store.create(job);
  return job;
};

const messageFor = (job: Job, overrides: Partial<WebhookMessage> = {}): WebhookMessage => ({
  kind: 'webhook',
  job_id: job.id,
  source_job_id: job.id,
  status: job.status as WebhookMessage['status'],
  attempts: job.attempts,
  // As the dispatcher sends it; a job in run 1 gets a message without `run`, as sent before runs existed.
  ...(job.run ? { run: job.run } : {}),
  ...overrides,
});

const enqueue = async (...messages: Array<WebhookMessage | string>): Promise<void> => {
  for (const message of messages) {
    await env.clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: env.queues.webhook.url,
        MessageBody: typeof message === 'string' ? message : JSON.stringify(message),
      }),
    );
  }
};

/**
 * One poll of the event source mapping: receive what is visible, invoke the handler with it, delete what
 * succeeded. Returns the ids of the messages the handler failed.
 */
const poll = async (invoke: Handler = handler) => {
  const messages = await env.receive(env.queues.webhook.url, 10);
  expect(messages.length).toBeGreaterThan(0);
  const event = toSqsEvent(messages, env.queues.webhook.arn);
  const response = await invoke(event, lambdaContext('webhook'));
  await settleBatch(env.clients.sqs, env.queues.webhook.url, event, response);
  return {
    event,
    failed: response.batchItemFailures.map(({ itemIdentifier }) => itemIdentifier),
  };
};

const verify = (request: CapturedRequest | undefined): unknown =>
  new Webhook(SECRET).verify(request?.body ?? '', request?.headers as Record<string, string>);

describe('webhook handler', () => {
  it('delivers a signed done payload to the callback URL and records the delivery', async () => {
    // Prepare
    const job = await finishedJob();
    await enqueue(messageFor(job));

    // Act
    const { failed } = await poll();

    // Assess
    expect(failed).toEqual([]);
    expect(receiver.requests).toHaveLength(1);
    const [request] = receiver.requests;
    expect(request?.headers['webhook-id']).toBe(`msg_${job.id}_done_1`);
    const payload = verify(request) as Record<string, unknown>;
    expect(payload).toEqual({
      type: 'media.job.done',
      timestamp: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
      job_id: job.id,
      status: 'done',
      result: { width: 1280, height: 720 },
      error: null,
      run: 1,
    });
    expect((await store.get(job.id))?.webhook).toEqual({
      message_id: `msg_${job.id}_done_1`,
      status: 'delivered',
      attempts: 1,
      last_status_code: 200,
      delivered_at: expect.any(String),
    });
  });

  it('reports a failed job with its error and no result', async () => {
    // Prepare
    const job = await finishedJob({
      status: 'failed',
      attempts: 2,
      result: undefined,
      error: 'the file is not a supported image',
      error_code: 'Media::Unsupported',
    });
    await enqueue(messageFor(job));

    // Act
    const { failed } = await poll();

    // Assess
    expect(failed).toEqual([]);
    expect(receiver.requests[0]?.headers['webhook-id']).toBe(`msg_${job.id}_failed_2`);
    expect(verify(receiver.requests[0])).toMatchObject({
      type: 'media.job.failed',
      job_id: job.id,
      status: 'failed',
      result: null,
      error: 'the file is not a supported image',
    });
  });

  it("tells a duplicate's callback the canonical job's outcome, naming the canonical job", async () => {
    // Prepare
    const canonical = await finishedJob({ callback_url: undefined, result: { width: 4000, height: 3000 } });
    const duplicate = await finishedJob({
      status: 'duplicate',
      attempts: 0,
      result: undefined,
      duplicate_of: canonical.id,
      callback_url: receiver.url('/duplicate-hooks'),
    });
    await enqueue(messageFor(canonical, { job_id: duplicate.id }));

    // Act
    const { failed } = await poll();

    // Assess
    expect(failed).toEqual([]);
    expect(receiver.requests.map(({ path }) => path)).toEqual(['/duplicate-hooks']);
    expect(receiver.requests[0]?.headers['webhook-id']).toBe(`msg_${duplicate.id}_done_1`);
    expect(verify(receiver.requests[0])).toMatchObject({
      type: 'media.job.done',
      job_id: duplicate.id,
      status: 'done',
      result: { width: 4000, height: 3000 },
      error: null,
      duplicate_of: canonical.id,
    });
    expect((await store.get(duplicate.id))?.webhook).toMatchObject({ status: 'delivered' });
    expect((await store.get(canonical.id))?.webhook).toBeUndefined();
  });

  it('retries a failed delivery with the same webhook id, recording retrying, then delivered', async () => {
    // Prepare
    const job = await finishedJob();
    await enqueue(messageFor(job));
    receiver.reply = answer(500);

    // Act: the first receive meets a 500
    const first = await poll();

    // Assess
    expect(first.failed).toEqual([first.event.Records[0]?.messageId]);
    expect((await store.get(job.id))?.webhook).toEqual({
      message_id: `msg_${job.id}_done_1`,
      status: 'retrying',
      attempts: 1,
      next_attempt_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
      last_error: 'the callback URL answered HTTP 500',
      last_status_code: 500,
    });

    // Act: the message comes back (no backoff in tests) and the receiver has recovered
    receiver.reply = answer(204);
    const second = await poll();

    // Assess
    expect(second.failed).toEqual([]);
    expect(second.event.Records[0]?.attributes.ApproximateReceiveCount).toBe('2');
    const ids = receiver.requests.map(({ headers }) => headers['webhook-id']);
    expect(ids).toEqual([`msg_${job.id}_done_1`, `msg_${job.id}_done_1`]);
    for (const request of receiver.requests) expect(() => verify(request)).not.toThrow();
    const delivered = (await store.get(job.id))?.webhook;
    expect(delivered).toMatchObject({ status: 'delivered', attempts: 2, last_status_code: 204 });
    expect(delivered).not.toHaveProperty('next_attempt_at');
    expect(delivered).not.toHaveProperty('last_error');
  });

  it('gives up after the last attempt, records failed, and leaves the message to the dead-letter queue', async () => {
    // Prepare
    const job = await finishedJob();
    const message = messageFor(job);
    await enqueue(message);
    receiver.reply = answer(503);

    // Act
    const polls = [];
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) polls.push(await poll());

    // Assess: every receive failed its record; the job tells the story
    for (const { event, failed } of polls) expect(failed).toEqual([event.Records[0]?.messageId]);
    expect(receiver.requests).toHaveLength(MAX_ATTEMPTS);
    const webhook = (await store.get(job.id))?.webhook;
    expect(webhook).toMatchObject({ status: 'failed', attempts: MAX_ATTEMPTS, last_status_code: 503 });
    expect(webhook?.last_error).toContain('dead-letter queue');
    expect(webhook?.last_error).toContain('HTTP 503');

    // Act: the receives the queue allows beyond the attempts send nothing and fail the record at once
    for (let spare = 1; spare <= webhookMaxReceiveCount(MAX_ATTEMPTS) - MAX_ATTEMPTS; spare++) {
      const { event, failed } = await poll();
      expect(failed).toEqual([event.Records[0]?.messageId]);
    }
    expect(receiver.requests).toHaveLength(MAX_ATTEMPTS);
    expect((await store.get(job.id))?.webhook).toMatchObject({ status: 'failed', attempts: MAX_ATTEMPTS });

    // Assess: the next receive finds nothing, because SQS moved the message to the DLQ
    expect(await env.receive(env.queues.webhook.url)).toEqual([]);
    const dead = await env.receive(env.queues.webhook.dlqUrl);
    expect(dead.map(({ Body }) => JSON.parse(Body ?? ''))).toEqual([message]);
  });

  it('counts attempts on the job, so a budget partly used before a restart is not granted again', async () => {
    // Prepare: two attempts recorded on the job; the message arrives afresh (receive count 1), as after a
    // restart of a local queue or a redrive
    const job = await finishedJob();
    await store.recordWebhook(job.id, {
      message_id: `msg_${job.id}_done_1`,
      status: 'retrying',
      attempts: MAX_ATTEMPTS - 1,
      next_attempt_at: new Date().toISOString(),
      last_error: 'the callback URL answered HTTP 503',
      last_status_code: 503,
    });
    await enqueue(messageFor(job));
    receiver.reply = answer(503);

    // Act
    const { event, failed } = await poll();

    // Assess: one attempt, the last, then failed
    expect(event.Records[0]?.attributes.ApproximateReceiveCount).toBe('1');
    expect(failed).toEqual([event.Records[0]?.messageId]);
    expect(receiver.requests).toHaveLength(1);
    const webhook = (await store.get(job.id))?.webhook;
    expect(webhook).toMatchObject({ status: 'failed', attempts: MAX_ATTEMPTS, last_status_code: 503 });
    expect(webhook).not.toHaveProperty('next_attempt_at');
    expect(webhook?.last_error).toContain(`gave up after ${MAX_ATTEMPTS} attempts`);
  });

  it('gives up without sending when the budget was lowered below the attempts already made', async () => {
    // Prepare: more attempts recorded than the function now allows, and a message handed out again
    const job = await finishedJob();
    await store.recordWebhook(job.id, {
      message_id: `msg_${job.id}_done_1`,
      status: 'retrying',
      attempts: MAX_ATTEMPTS,
      next_attempt_at: new Date().toISOString(),
      last_error: 'the callback URL answered HTTP 503',
    });
    await enqueue(messageFor(job));
    const event = toSqsEvent(await env.receive(env.queues.webhook.url), env.queues.webhook.arn);
    // Not a fresh message (a redrive would be receive 1): it was handed out before.
    for (const record of event.Records) record.attributes.ApproximateReceiveCount = '2';

    // Act
    const response = await handler(event, lambdaContext('webhook'));

    // Assess
    expect(response.batchItemFailures).toHaveLength(1);
    expect(receiver.requests).toHaveLength(0);
    const webhook = (await store.get(job.id))?.webhook;
    expect(webhook).toMatchObject({ status: 'failed', attempts: MAX_ATTEMPTS });
    expect(webhook).not.toHaveProperty('next_attempt_at');
    expect(webhook?.last_error).toContain(`gave up after ${MAX_ATTEMPTS} attempts`);
  });

  it('grants a message redriven from the dead-letter queue one more attempt', async () => {
    // Prepare: every attempt used; an operator redrives the message (its receive count starts again)
    const job = await finishedJob();
    await store.recordWebhook(job.id, {
      message_id: `msg_${job.id}_done_1`,
      status: 'failed',
      attempts: MAX_ATTEMPTS,
      last_error: 'gave up',
    });
    await enqueue(messageFor(job));

    // Act
    const { failed } = await poll();

    // Assess
    expect(failed).toEqual([]);
    expect(receiver.requests).toHaveLength(1);
    expect((await store.get(job.id))?.webhook).toMatchObject({
      status: 'delivered',
      attempts: MAX_ATTEMPTS + 1,
    });
  });

  it('sends again, with the same webhook id, an attempt whose outcome was lost, and records it', async () => {
    // Prepare: the receiver answers 204, and the worker "dies" right after: recording the outcome fails once
    const job = await finishedJob();
    receiver.reply = answer(204);
    let crashes = 1;
    const crashingStore = Object.create(store) as JobStore;
    crashingStore.recordWebhook = async (...args: Parameters<JobStore['recordWebhook']>) => {
      if (args[1].status === 'delivered' && crashes-- > 0) throw new Error('the worker was killed');
      return store.recordWebhook(...args);
    };
    const deps = {
      store: crashingStore,
      signingSecrets: async () => [SECRET],
      delivery: { allowLoopback: true },
      maxAttempts: MAX_ATTEMPTS,
    };

    // Act: the first receive sends, then loses its outcome
    await expect(sendJobWebhook(messageFor(job), 1, deps)).rejects.toThrow('the worker was killed');

    // Assess: the job shows the attempt under way, not nothing
    expect((await store.get(job.id))?.webhook).toEqual({
      message_id: `msg_${job.id}_done_1`,
      status: 'pending',
      attempts: 1,
    });

    // Act: the message comes back after its visibility timeout
    const outcome = await sendJobWebhook(messageFor(job), 2, deps);

    // Assess: the same attempt sent again with the same id (receivers dedupe), and recorded this time
    expect(outcome).toMatchObject({ kind: 'delivered', attempt: 1, resent: true, statusCode: 204 });
    expect(receiver.requests.map(({ headers }) => headers['webhook-id'])).toEqual([
      `msg_${job.id}_done_1`,
      `msg_${job.id}_done_1`,
    ]);
    expect((await store.get(job.id))?.webhook).toMatchObject({
      message_id: `msg_${job.id}_done_1`,
      status: 'delivered',
      attempts: 1,
      last_status_code: 204,
    });

    // Act & Assess: a later duplicate of the message sends nothing more
    expect(await sendJobWebhook(messageFor(job), 3, deps)).toEqual({
      kind: 'skipped',
      reason: 'already_delivered',
    });
    expect(receiver.requests).toHaveLength(2);
  });

  it('counts an attempt only once when two deliveries of one message race', async () => {
    // Prepare: both read the job before either records anything
    const job = await finishedJob();
    let reads = 0;
    let bothRead!: () => void;
    const barrier = new Promise<void>((resolve) => {
      bothRead = resolve;
    });
    const racingStore = Object.create(store) as JobStore;
    racingStore.get = async (id: string) => {
      const read = await store.get(id);
      if (++reads === 2) bothRead();
      await barrier;
      return read;
    };
    const deps = {
      store: racingStore,
      signingSecrets: async () => [SECRET],
      delivery: { allowLoopback: true },
      maxAttempts: MAX_ATTEMPTS,
    };

    // Act
    const outcomes = await Promise.all([
      sendJobWebhook(messageFor(job), 1, deps),
      sendJobWebhook(messageFor(job), 1, deps),
    ]);

    // Assess: one claimed the attempt and delivered; the other stood back
    expect(outcomes.map(({ kind }) => kind).sort()).toEqual(['contended', 'delivered']);
    expect(receiver.requests).toHaveLength(1);
    expect((await store.get(job.id))?.webhook).toMatchObject({ status: 'delivered', attempts: 1 });
  });

  it('logs each record of a batch with its own job_id, however their deliveries interleave', async () => {
    // Prepare: three deliveries answered in the reverse order they were sent
    const jobs = await Promise.all(
      [0, 1, 2].map((index) => finishedJob({ callback_url: receiver.url(`/hooks/${index}`) })),
    );
    await enqueue(...jobs.map((job) => messageFor(job)));
    receiver.reply = (request, response) => {
      const index = Number(request.path.split('/').pop());
      setTimeout(() => answer(204)(request, response), (3 - index) * 100);
    };
    // A handler whose logger writes INFO lines (Powertools resets the level to its initial one on each invocation)
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'INFO');
    vi.resetModules();
    const loudHandler = await importHandler();
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
    const lines: Array<Record<string, unknown>> = [];
    const info = vi.spyOn(console, 'info').mockImplementation((line: unknown) => {
      lines.push(JSON.parse(String(line)));
    });

    // Act
    try {
      await poll(loudHandler);
    } finally {
      info.mockRestore();
    }

    // Assess: each "delivered" line names the job whose webhook id it reports, and the three finished
    // in the reverse order of the records (so their work did overlap)
    const delivered = lines.filter(({ message }) => message === 'webhook delivered');
    expect(delivered).toHaveLength(3);
    for (const line of delivered) expect(line.webhook_id).toBe(`msg_${line.job_id}_done_1`);
    expect(delivered.map(({ job_id }) => job_id)).toEqual(jobs.map(({ id }) => id).reverse());
  });

  it('fails only the records that failed in a batch', async () => {
    // Prepare
    const healthy = await finishedJob({ callback_url: receiver.url('/healthy') });
    const broken = await finishedJob({ callback_url: receiver.url('/broken') });
    await enqueue(messageFor(healthy), messageFor(broken));
    receiver.reply = (request, response) => answer(request.path === '/broken' ? 500 : 200)(request, response);

    // Act
    const { event, failed } = await poll();

    // Assess
    expect(event.Records).toHaveLength(2);
    const brokenRecord = event.Records.find(({ body }) => JSON.parse(body).job_id === broken.id);
    expect(failed).toEqual([brokenRecord?.messageId]);
    expect((await store.get(healthy.id))?.webhook?.status).toBe('delivered');
    expect((await store.get(broken.id))?.webhook?.status).toBe('retrying');
  });

  it.each([
    [
      'the instance metadata service',
      'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
      'public address',
    ],
    ['a private address', 'http://10.0.0.1/hooks', 'public address'],
    ['the IPv6 instance metadata service', 'http://[fd00:ec2::254]/latest/meta-data/', 'public address'],
    [
      'a public host on the Redis port, stored before the port rule',
      'http://93.184.216.34:6379/',
      'one of the ports 80, 443, 8080, 8443, not 6379',
    ],
  ])('refuses %s, records refused and acknowledges the message', async (_case, callbackUrl, reason) => {
    // Prepare
    const job = await finishedJob({ callback_url: callbackUrl });
    await enqueue(messageFor(job));

    // Act
    const { failed } = await poll();

    // Assess
    expect(failed).toEqual([]);
    expect(receiver.requests).toHaveLength(0);
    expect((await store.get(job.id))?.webhook).toEqual({
      message_id: `msg_${job.id}_done_1`,
      status: 'refused',
      attempts: 1,
      last_error: expect.stringContaining(reason),
    });
    expect(await env.depth(env.queues.webhook.url)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('does not send again a webhook already delivered for the same message', async () => {
    // Prepare
    const job = await finishedJob();
    await store.recordWebhook(job.id, {
      message_id: `msg_${job.id}_done_1`,
      status: 'delivered',
      attempts: 1,
      last_status_code: 200,
      delivered_at: new Date().toISOString(),
    });
    await enqueue(messageFor(job));

    // Act
    const { failed } = await poll();

    // Assess
    expect(failed).toEqual([]);
    expect(receiver.requests).toHaveLength(0);
  });

  it("gives a retried job's new outcome a new webhook id, and drops the earlier outcome's late message", async () => {
    // Prepare: the job failed on its first run and was announced
    const job = await finishedJob({
      status: 'failed',
      result: undefined,
      error: 'timed out',
      error_code: 'X',
    });
    const firstOutcome = messageFor(job);
    await enqueue(firstOutcome);
    await poll();

    // Prepare: it is retried and finishes (the store's own transitions)
    await store.requeue(job, 3);
    await store.startAttempt(job.id, 3);
    const done = await store.complete(job.id, { width: 10 }, []);
    // Attempts count per run: run 2's outcome has as many as run 1's, and its own webhook id.
    expect(done).toMatchObject({ status: 'done', attempts: 1, run: 2 });

    // Act
    await enqueue(messageFor(done as Job));
    await poll();
    await enqueue(firstOutcome);
    const late = await poll();

    // Assess
    expect(late.failed).toEqual([]);
    expect(receiver.requests.map(({ headers }) => headers['webhook-id'])).toEqual([
      `msg_${job.id}_failed_1`,
      `msg_${job.id}_done_1_r2`,
    ]);
    expect(verify(receiver.requests[0])).toMatchObject({ status: 'failed', run: 1 });
    expect(verify(receiver.requests[1])).toMatchObject({
      status: 'done',
      result: { width: 10 },
      error: null,
      run: 2,
    });
    expect((await store.get(job.id))?.webhook).toMatchObject({
      message_id: `msg_${job.id}_done_1_r2`,
      status: 'delivered',
    });
  });

  it('acknowledges messages that have nothing to deliver: malformed, unknown job, no callback URL', async () => {
    // Prepare
    const silent = await finishedJob({ callback_url: undefined });
    await enqueue('not json', JSON.stringify({ kind: 'webhook', job_id: 'nope' }), messageFor(silent));
    await enqueue(messageFor(newJob({ status: 'done' })));

    // Act
    const { event, failed } = await poll();

    // Assess
    expect(event.Records).toHaveLength(4);
    expect(failed).toEqual([]);
    expect(receiver.requests).toHaveLength(0);
    expect((await store.get(silent.id))?.webhook).toBeUndefined();
  });

  it('sends nothing for a job deleted while its webhook waited (a tombstone kept for its duplicates)', async () => {
    // Prepare: the job finished, its webhook is queued, then DELETE tombstoned it (duplicates show its results).
    const job = await finishedJob();
    await enqueue(messageFor(job));
    expect(await store.tombstone(job)).toBeDefined();

    // Act
    const { failed } = await poll();

    // Assess
    expect(failed).toEqual([]);
    expect(receiver.requests).toHaveLength(0);
    expect((await store.get(job.id))?.webhook).toBeUndefined();
  });
});

describe('webhook handler, signing with each tenant’s secrets', () => {
  /** A job of `tenant` (the jobs of this change carry one; older ones do not). */
  const tenantJob = (tenant: string) => finishedJob({ tenant } as Partial<Job>);
  const verifies = (secret: string, request: CapturedRequest | undefined): boolean => {
    try {
      new Webhook(secret).verify(request?.body ?? '', request?.headers as Record<string, string>);
      return true;
    } catch {
      return false;
    }
  };
  const uniqueTenant = (name: string) => `${name}-${randomUUID().slice(0, 8)}`;

  it("signs a tenant's webhooks with its secret: its receiver accepts them and rejects another tenant's", async () => {
    // Prepare: two tenants, each made with its first key (which shows its webhook secret once)
    const a = await tenants.createKey(uniqueTenant('acme'));
    const b = await tenants.createKey(uniqueTenant('globex'));
    const [jobA, jobB] = [await tenantJob(a.tenant), await tenantJob(b.tenant)];
    await enqueue(messageFor(jobA), messageFor(jobB));

    // Act
    const { failed } = await poll();

    // Assess
    expect(failed).toEqual([]);
    const byJob = (job: Job) => receiver.requests.find(({ body }) => JSON.parse(body).job_id === job.id);
    const secretA = a.webhook_secret ?? '';
    const secretB = b.webhook_secret ?? '';
    expect(verifies(secretA, byJob(jobA))).toBe(true);
    expect(verifies(secretA, byJob(jobB))).toBe(false);
    expect(verifies(secretB, byJob(jobB))).toBe(true);
    expect(verifies(secretB, byJob(jobA))).toBe(false);
    expect(verifies(SECRET, byJob(jobA))).toBe(false);
  });

  it('signs with both secrets during a rotation, and the old one alone no longer after it', async () => {
    // Prepare: a rotation started (the new secret first, the old one kept beside it)
    const { tenant, webhook_secret: old = '' } = await tenants.createKey(uniqueTenant('rotating'));
    const [next = ''] = await tenants.rotateWebhookSecret(tenant);
    const job = await tenantJob(tenant);
    await enqueue(messageFor(job));

    // Act
    await poll();

    // Assess: two signatures, either secret verifies
    const [request] = receiver.requests;
    expect(String(request?.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verifies(next, request)).toBe(true);
    expect(verifies(old, request)).toBe(true);
  });

  it('signs the webhooks of a tenant the table does not know with the stack’s secret, as before tenants', async () => {
    // Prepare: a JWT subject never registered, and a job written before tenants (no tenant: `default`)
    const unknown = await tenantJob(uniqueTenant('never-registered'));
    const legacy = await finishedJob();
    await enqueue(messageFor(unknown), messageFor(legacy));

    // Act
    const { failed } = await poll();

    // Assess
    expect(failed).toEqual([]);
    expect(receiver.requests).toHaveLength(2);
    for (const request of receiver.requests) {
      expect(String(request.headers['webhook-signature']).split(' ')).toHaveLength(1);
      expect(verifies(SECRET, request)).toBe(true);
    }
  });
});

describe('webhook handler, with loopback callbacks not allowed (as deployed)', () => {
  let strictHandler: Handler;

  beforeAll(async () => {
    vi.stubEnv('ALLOW_LOOPBACK_CALLBACKS', 'false');
    // A fresh module graph: the handler reads its configuration once, at load.
    vi.resetModules();
    strictHandler = await importHandler();
  });

  it.each([
    ['127.0.0.1', () => receiver.url()],
    ['localhost', () => receiver.url('/hooks', 'localhost')],
    ['[::ffff:127.0.0.1]', () => `http://[::ffff:127.0.0.1]:${receiver.port}/hooks`],
  ])('refuses %s without sending anything', async (_case, callbackUrl) => {
    // Prepare
    const job = await finishedJob({ callback_url: callbackUrl() });
    await enqueue(messageFor(job));

    // Act
    const { failed } = await poll(strictHandler);

    // Assess
    expect(failed).toEqual([]);
    expect(receiver.requests).toHaveLength(0);
    expect((await store.get(job.id))?.webhook).toMatchObject({ status: 'refused', attempts: 1 });
  });
});
