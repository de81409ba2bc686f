import { randomUUID } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { outcomeWebhookId } from '#shared/dispatch';
import type { Job, StoredStatus } from '#shared/job';
import type { JobStore } from '#shared/job-store';
import { openJobShards } from '#shared/jobs-table';
import type { MediaKind } from '#shared/presets';
import { createTestEnvironment, type TestEnvironment } from '#test/emulators';
import { newJob } from '#test/jobs';
import { makeJpeg } from '#test/media';
import type {
  ReconcileDeps,
  ReconcilePolicy,
  ReconcileReport,
} from '../../functions/reconciler/reconcile-jobs.ts';
import { webhookIdFor } from '../../functions/webhook/webhook-payload.ts';

/**
 * The reconciler against DynamoDB Local, s3rver and fauxqs. Time is explicit: each test runs at its own
 * clock value, a day before the previous test's, with its jobs made idle relative to it; jobs that an
 * earlier test left open are then idle since a later time (or the real clock's, for those it moved) and
 * never show up in this test's runs.
 */
let env: TestEnvironment;
let store: JobStore;
let deps: ReconcileDeps;
let reconcileJobs: (deps: ReconcileDeps, now: Date) => Promise<ReconcileReport>;
let reconcileJob: typeof import('../../functions/reconciler/reconcile-jobs.ts').reconcileJob;
let readQueueBacklog: typeof import('../../functions/reconciler/queue-backlog.ts').readQueueBacklog;
/** The queues the reconciler asked for their backlog, in order (reset by each test that reads it). */
let backlogReads: MediaKind[] = [];

const POLICY: ReconcilePolicy = {
  uploadDeadlineSeconds: 300,
  enqueueDeadlineSeconds: 120,
  processors: {
    image: { timeoutSeconds: 60, visibilityTimeoutSeconds: 360 },
    video: { timeoutSeconds: 300, visibilityTimeoutSeconds: 1800 },
  },
  retryMaxSeconds: 900,
  marginSeconds: 60,
  announceDeadlineSeconds: 300,
  maxAttempts: 3,
  pageLimit: 10,
};
const CALLBACK = 'https://receiver.example.com/hook';

beforeAll(async () => {
  env = await createTestEnvironment();
  const { JobStore } = await import('#shared/job-store');
  const { Dispatcher } = await import('#shared/dispatch');
  const { dynamodb, s3, sqs } = await import('#shared/aws-clients');
  ({ reconcileJobs, reconcileJob } = await import('../../functions/reconciler/reconcile-jobs.ts'));
  ({ readQueueBacklog } = await import('../../functions/reconciler/queue-backlog.ts'));
  store = new JobStore(dynamodb, env.tableName);
  const processingQueues: Record<MediaKind, string> = {
    image: env.queues.image.url,
    video: env.queues.video.url,
  };
  deps = {
    s3,
    store,
    uploadsBucket: env.uploadsBucket,
    dispatcher: new Dispatcher(sqs, {
      image: env.queues.image.url,
      video: env.queues.video.url,
      webhook: env.queues.webhook.url,
    }),
    policy: POLICY,
    queueBacklog: (kind) => {
      backlogReads.push(kind);
      return readQueueBacklog(sqs, processingQueues[kind]);
    },
  };
});
afterAll(() => env.close());
afterEach(() => env.purgeQueues());

let day = 0;
/** This test's clock: a day before the previous test's, all of them long before the real one. */
const testClock = (): Date => new Date(Date.UTC(2020, 0, 1) - ++day * 86_400_000);
const secondsBefore = (now: Date, seconds: number): string =>
  new Date(now.getTime() - seconds * 1000).toISOString();

/** Stores a job last changed `idleSeconds` before `now`, as the pipeline would have left it. */
const stalledJob = async (now: Date, idleSeconds: number, overrides: Partial<Job> = {}): Promise<Job> => {
  const at = secondsBefore(now, idleSeconds);
  const job = newJob({ created_at: at, updated_at: at, media_kind: 'image', ...overrides });
  await store.create(job);
  return job;
};

const uploadBytes = async (job: Job, seed: number): Promise<void> => {
  const bytes = await makeJpeg(32, 24, seed);
  await store.create({ ...job, size: bytes.length });
  await env.clients.s3.send(
    new PutObjectCommand({ Bucket: env.uploadsBucket, Key: job.upload_key, Body: bytes }),
  );
};

const processMessages = async (queueUrl: string) => (await env.drain(queueUrl)) as { job_id: string }[];
const idsOf = (messages: { job_id: string }[]) => messages.map(({ job_id }) => job_id).sort();

/** Every job the open-jobs index holds idle since before `now`. */
const openJobs = async (now: Date) =>
  (
    await Promise.all(openJobShards().map((shard) => store.findIdleJobs(shard, now.toISOString(), 1000)))
  ).flat();

/** A job id in the given index shard (the shard follows the id's last hex digit). */
const idInShard = (shard: number): string => `${randomUUID().slice(0, -1)}${shard.toString(16)}`;

describe('the reconciler', () => {
  it('ingests an upload whose S3 event was lost, and leaves one that never arrived', async () => {
    // Prepare
    const now = testClock();
    const at = secondsBefore(now, 600);
    const uploaded = newJob({ created_at: at, updated_at: at });
    await uploadBytes(uploaded, 1);
    const neverUploaded = await stalledJob(now, 600, { status: 'awaiting_upload', media_kind: undefined });

    // Act
    const report = await reconcileJobs(deps, now);
    const again = await reconcileJobs(deps, now);

    // Assess
    expect(report.moved).toEqual([
      { job_id: uploaded.id, kind: 'upload_not_ingested', from: 'awaiting_upload', action: 'ingested' },
    ]);
    expect(await store.get(uploaded.id)).toMatchObject({ status: 'queued', media_kind: 'image' });
    expect(idsOf(await processMessages(env.queues.image.url))).toEqual([uploaded.id]);
    expect(await store.get(neverUploaded.id)).toMatchObject({ status: 'awaiting_upload' });
    // Looked at, it went to the back of the index: the next run at the same time does not read it again.
    expect(again).toEqual({ examined: 0, moved: [], errors: 0, backlogs: [] });
  });

  it('sends a queued job whose message was never sent, and one whose message outlived every wait', async () => {
    // Prepare
    const now = testClock();
    const neverSent = await stalledJob(now, 180, { status: 'queued' });
    const longWait =
      POLICY.retryMaxSeconds + POLICY.processors.image.visibilityTimeoutSeconds + POLICY.marginSeconds;
    const sentLongAgo = await stalledJob(now, longWait + 1, {
      status: 'queued',
      enqueued_at: secondsBefore(now, longWait + 1),
    });
    const sentRecently = await stalledJob(now, longWait - 60, {
      status: 'queued',
      enqueued_at: secondsBefore(now, longWait - 60),
    });

    // Act
    const report = await reconcileJobs(deps, now);

    // Assess
    expect(report.moved.map(({ job_id, kind }) => ({ job_id, kind }))).toEqual(
      expect.arrayContaining([
        { job_id: neverSent.id, kind: 'message_not_sent' },
        { job_id: sentLongAgo.id, kind: 'message_lost' },
      ]),
    );
    expect(report.moved).toHaveLength(2);
    // The image queue was empty: the candidate's message is gone.
    expect(report.backlogs).toEqual([{ media_kind: 'image', candidates: 1, backlog: 0, deferred: false }]);
    expect(idsOf(await processMessages(env.queues.image.url))).toEqual([neverSent.id, sentLongAgo.id].sort());
    expect((await store.get(neverSent.id))?.enqueued_at).toBeDefined();
    expect(await store.get(sentRecently.id)).toMatchObject({
      status: 'queued',
      updated_at: sentRecently.updated_at,
    });
  });

  it('queues an attempt that outlived its function timeout again, and fails it readably on the last attempt', async () => {
    // Prepare
    const now = testClock();
    const stalled = await stalledJob(now, 180, { status: 'processing', attempts: 1 });
    const lastAttempt = await stalledJob(now, 180, {
      status: 'processing',
      attempts: POLICY.maxAttempts,
      callback_url: CALLBACK,
    });
    // A video attempt may run 300 s: 180 s in, it is still at work.
    const video = await stalledJob(now, 180, { status: 'processing', attempts: 1, media_kind: 'video' });

    // Act
    const report = await reconcileJobs(deps, now);

    // Assess
    expect(report.moved).toHaveLength(2);
    expect(await store.get(stalled.id)).toMatchObject({ status: 'queued', attempts: 1 });
    expect(idsOf(await processMessages(env.queues.image.url))).toEqual([stalled.id]);
    expect(await store.get(lastAttempt.id)).toMatchObject({
      status: 'failed',
      error_code: 'Processing::Stalled',
      error: expect.stringContaining(`gave up after ${POLICY.maxAttempts} attempts`),
    });
    expect(await env.drain(env.queues.webhook.url)).toEqual([
      {
        kind: 'webhook',
        job_id: lastAttempt.id,
        source_job_id: lastAttempt.id,
        status: 'failed',
        attempts: 3,
      },
    ]);
    expect(await store.get(video.id)).toMatchObject({ status: 'processing', updated_at: video.updated_at });
    expect(await processMessages(env.queues.video.url)).toEqual([]);
  });

  it('announces a finished job whose callback was never told, and lets go of one that was', async () => {
    // Prepare
    const now = testClock();
    const untold = await stalledJob(now, 600, { status: 'done', attempts: 1, callback_url: CALLBACK });
    // Told, but still in the index (as a writer that stopped between two writes would leave it).
    const toldId = randomUUID();
    const told = await stalledJob(now, 600, {
      id: toldId,
      status: 'failed',
      attempts: 2,
      callback_url: CALLBACK,
      webhook: { message_id: outcomeWebhookId(toldId, 'failed', 2), status: 'delivered', attempts: 1 },
    });
    const retrying = await stalledJob(now, 600, { status: 'done', attempts: 1, callback_url: CALLBACK });
    await store.recordWebhook(retrying.id, {
      message_id: outcomeWebhookId(retrying.id, 'done', 1),
      status: 'retrying',
      attempts: 2,
    });
    // Act
    const report = await reconcileJobs(deps, now);

    // Assess
    expect(report.moved).toEqual([
      { job_id: untold.id, kind: 'outcome_not_announced', from: 'done', action: 'announced' },
    ]);
    expect(await env.drain(env.queues.webhook.url)).toEqual([
      { kind: 'webhook', job_id: untold.id, source_job_id: untold.id, status: 'done', attempts: 1 },
    ]);
    expect((await store.get(untold.id))?.announced_at).toBe(now.toISOString());
    // The retrying one was looked at (idle since now); the told one left the index.
    const open = (await openJobs(new Date(now.getTime() + 1))).map(({ id }) => id);
    expect(open).not.toContain(told.id);
    expect(open).toContain(retrying.id);
  });

  it('announces again a webhook whose retry is long overdue (its message was lost), and leaves one not yet due', async () => {
    // Prepare: two jobs whose webhooks are retrying, one due an hour ago, one due in an hour
    const now = testClock();
    const lost = await stalledJob(now, 7200, { status: 'done', attempts: 1, callback_url: CALLBACK });
    const waiting = await stalledJob(now, 7200, { status: 'done', attempts: 1, callback_url: CALLBACK });
    for (const [job, due] of [
      [lost, secondsBefore(now, 3600)],
      [waiting, new Date(now.getTime() + 3_600_000).toISOString()],
    ] as const) {
      await store.recordWebhook(job.id, {
        message_id: outcomeWebhookId(job.id, 'done', 1),
        status: 'retrying',
        attempts: 3,
        next_attempt_at: due,
      });
    }

    // Act
    const report = await reconcileJobs(deps, now);

    // Assess
    expect(report.moved).toEqual([
      { job_id: lost.id, kind: 'outcome_not_announced', from: 'done', action: 'announced' },
    ]);
    expect(await env.drain(env.queues.webhook.url)).toEqual([
      { kind: 'webhook', job_id: lost.id, source_job_id: lost.id, status: 'done', attempts: 1 },
    ]);
  });

  it('tells a duplicate’s callback its canonical job’s outcome, once the canonical job finished', async () => {
    // Prepare
    const now = testClock();
    const canonical = await stalledJob(now, 900, { status: 'done', attempts: 1 });
    const waiting = await stalledJob(now, 900, { status: 'queued', enqueued_at: secondsBefore(now, 900) });
    const duplicate = await stalledJob(now, 600, {
      status: 'duplicate',
      duplicate_of: canonical.id,
      callback_url: CALLBACK,
    });
    const duplicateOfWaiting = await stalledJob(now, 600, {
      status: 'duplicate',
      duplicate_of: waiting.id,
      callback_url: CALLBACK,
    });

    // Act
    const report = await reconcileJobs(deps, now);

    // Assess
    expect(report.moved).toEqual([
      { job_id: duplicate.id, kind: 'outcome_not_announced', from: 'duplicate', action: 'announced' },
    ]);
    expect(await env.drain(env.queues.webhook.url)).toEqual([
      { kind: 'webhook', job_id: duplicate.id, source_job_id: canonical.id, status: 'done', attempts: 1 },
    ]);
    expect(await store.get(duplicateOfWaiting.id)).toMatchObject({ status: 'duplicate' });
  });

  it('moves nothing that is still within its deadline', async () => {
    // Prepare: every kind, a little short of its deadline
    const now = testClock();
    const uploaded = newJob({ updated_at: secondsBefore(now, 290), created_at: secondsBefore(now, 290) });
    await uploadBytes(uploaded, 2);
    await stalledJob(now, 110, { status: 'queued' });
    // Attempted, so its message was sent (whatever enqueued_at says): it may be waiting out a backoff
    await stalledJob(now, 600, { status: 'queued', media_kind: 'image', attempts: 1 });
    await stalledJob(now, 110, { status: 'processing', attempts: 1 });
    await stalledJob(now, 290, { status: 'done', attempts: 1, callback_url: CALLBACK });

    // Act
    const report = await reconcileJobs(deps, now);

    // Assess
    expect(report.moved).toEqual([]);
    expect(await env.depth(env.queues.image.url)).toEqual({ visible: 0, inFlight: 0 });
    expect(await env.depth(env.queues.webhook.url)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('moves each job once when run twice, one after the other or at the same time', async () => {
    // Prepare
    const now = testClock();
    const statuses: Partial<Job>[] = [
      { status: 'queued' },
      { status: 'processing', attempts: 1 },
      { status: 'processing', attempts: 3, callback_url: CALLBACK },
      { status: 'failed', attempts: 1, callback_url: CALLBACK },
    ];
    const jobs = await Promise.all(statuses.map((overrides) => stalledJob(now, 600, overrides)));
    const uploaded = newJob({ updated_at: secondsBefore(now, 600), created_at: secondsBefore(now, 600) });
    await uploadBytes(uploaded, 3);

    // Act
    const [first, second] = await Promise.all([reconcileJobs(deps, now), reconcileJobs(deps, now)]);
    const third = await reconcileJobs(deps, new Date(now.getTime() + 1000));

    // Assess
    const moved = [...first.moved, ...second.moved].map(({ job_id }) => job_id).sort();
    expect(moved).toEqual([...jobs.map(({ id }) => id), uploaded.id].sort());
    expect(third.moved).toEqual([]);
    expect(idsOf(await processMessages(env.queues.image.url))).toEqual(
      [jobs[0]?.id, jobs[1]?.id, uploaded.id].sort(),
    );
    expect(idsOf(await processMessages(env.queues.webhook.url))).toEqual([jobs[2]?.id, jobs[3]?.id].sort());
  });

  it('never moves a job that progressed after the index showed it', async () => {
    // Prepare: the index shows each job stalled; then the pipeline moves it on
    const now = testClock();
    const queued = await stalledJob(now, 600, { status: 'queued' });
    const processing = await stalledJob(now, 600, { status: 'processing', attempts: 1 });
    const lastAttempt = await stalledJob(now, 600, { status: 'processing', attempts: 3 });
    const finished = await stalledJob(now, 600, { status: 'failed', attempts: 1, callback_url: CALLBACK });
    const seen = (await openJobs(now)).filter(({ id }) =>
      [queued.id, processing.id, lastAttempt.id, finished.id].includes(id),
    );
    await store.startAttempt(queued.id, POLICY.maxAttempts);
    await store.complete(processing.id, {}, []);
    await store.complete(lastAttempt.id, {}, []);
    await store.requeue(finished, 3);

    // Act
    const results = await Promise.all(seen.map((job) => reconcileJob(deps, job, now)));

    // Assess
    expect(seen).toHaveLength(4);
    expect(results).toEqual([undefined, undefined, undefined, undefined]);
    expect(await env.depth(env.queues.image.url)).toEqual({ visible: 0, inFlight: 0 });
    expect(await env.depth(env.queues.webhook.url)).toEqual({ visible: 0, inFlight: 0 });
    expect((await store.get(processing.id))?.status).toBe('done');
  });

  it('reads at most pageLimit jobs per shard in a run, the longest idle first', async () => {
    // Prepare: three stalled jobs in one shard
    const now = testClock();
    const jobs = await Promise.all(
      [900, 700, 500].map((idle) => stalledJob(now, idle, { id: idInShard(1), status: 'queued' })),
    );
    const bounded = { ...deps, policy: { ...POLICY, pageLimit: 2 } };

    // Act
    const first = await reconcileJobs(bounded, now);
    const second = await reconcileJobs(bounded, now);

    // Assess
    expect(first.examined).toBe(2);
    expect(first.moved.map(({ job_id }) => job_id)).toEqual([jobs[0]?.id, jobs[1]?.id]);
    expect(second.moved.map(({ job_id }) => job_id)).toEqual([jobs[2]?.id]);
  });

  describe('a queue’s backlog', () => {
    const LOST_AFTER = {
      image: POLICY.retryMaxSeconds + POLICY.processors.image.visibilityTimeoutSeconds + POLICY.marginSeconds,
      video: POLICY.retryMaxSeconds + POLICY.processors.video.visibilityTimeoutSeconds + POLICY.marginSeconds,
    };
    /** A queued job whose message was sent longer ago than every legitimate wait: a lost-message candidate. */
    const candidate = (now: Date, media_kind: MediaKind, overrides: Partial<Job> = {}) =>
      stalledJob(now, LOST_AFTER[media_kind] + 60, {
        status: 'queued',
        media_kind,
        enqueued_at: secondsBefore(now, LOST_AFTER[media_kind] + 60),
        ...overrides,
      });
    /** Messages of other jobs in a queue, as a backlog behind the mapping's maximum concurrency leaves them. */
    const fillQueue = async (queueUrl: string, count: number): Promise<string[]> => {
      const ids = Array.from({ length: count }, () => randomUUID());
      for (const job_id of ids) {
        await env.clients.sqs.send(
          new SendMessageCommand({
            QueueUrl: queueUrl,
            MessageBody: JSON.stringify({ kind: 'process', job_id }),
          }),
        );
      }
      return ids;
    };

    it('leaves the lost-message candidates while the queue holds as many messages, and sends them once it drains', async () => {
      // Prepare: two image jobs past the lost-message deadline, behind a backlog of three messages
      const now = testClock();
      const waiting = [await candidate(now, 'image'), await candidate(now, 'image', { attempts: 1 })];
      const backlog = await fillQueue(env.queues.image.url, 3);
      backlogReads = [];

      // Act
      const report = await reconcileJobs(deps, now);
      const again = await reconcileJobs(deps, now);

      // Assess: nothing sent, nothing written but the jobs' place in the index
      expect(report.moved).toEqual([]);
      expect(report.backlogs).toEqual([{ media_kind: 'image', candidates: 2, backlog: 3, deferred: true }]);
      expect(backlogReads).toEqual(['image']);
      for (const job of waiting) {
        expect(await store.get(job.id)).toMatchObject({
          status: 'queued',
          updated_at: job.updated_at,
          enqueued_at: job.enqueued_at,
        });
      }
      // Looked at: to the back of the index, so the next run at the same time does not read them again.
      expect(again).toEqual({ examined: 0, moved: [], errors: 0, backlogs: [] });
      expect((await openJobs(new Date(now.getTime() + 1))).map(({ id }) => id)).toEqual(
        expect.arrayContaining(waiting.map(({ id }) => id)),
      );
      expect(idsOf(await processMessages(env.queues.image.url))).toEqual([...backlog].sort());

      // Act: the backlog drained (the messages above were received and deleted); a later run
      const later = new Date(now.getTime() + 3600_000);
      const drained = await reconcileJobs(deps, later);

      // Assess: the queue holds none of their messages: they were lost, and are sent again
      expect(drained.backlogs).toEqual([{ media_kind: 'image', candidates: 2, backlog: 0, deferred: false }]);
      expect(drained.moved.map(({ job_id, kind }) => ({ job_id, kind }))).toEqual(
        expect.arrayContaining(waiting.map(({ id }) => ({ job_id: id, kind: 'message_lost' }))),
      );
      expect(drained.moved).toHaveLength(2);
      expect(idsOf(await processMessages(env.queues.image.url))).toEqual(waiting.map(({ id }) => id).sort());
    });

    it('sends every candidate of a kind whose queue holds fewer messages, and weighs each kind against its own queue', async () => {
      // Prepare: three image candidates and one message in the image queue; one video candidate behind
      // one video message; a job whose message was never sent (it is no candidate: it has no message)
      const now = testClock();
      const images = await Promise.all([1, 2, 3].map(() => candidate(now, 'image')));
      const video = await candidate(now, 'video');
      const neverSent = await stalledJob(now, 600, { status: 'queued', media_kind: 'video' });
      const [imageBacklog] = await fillQueue(env.queues.image.url, 1);
      const videoBacklog = await fillQueue(env.queues.video.url, 1);
      backlogReads = [];

      // Act
      const report = await reconcileJobs(deps, now);

      // Assess
      expect(report.backlogs).toEqual(
        expect.arrayContaining([
          { media_kind: 'image', candidates: 3, backlog: 1, deferred: false },
          { media_kind: 'video', candidates: 1, backlog: 1, deferred: true },
        ]),
      );
      expect(report.backlogs).toHaveLength(2);
      expect(backlogReads.sort()).toEqual(['image', 'video']);
      expect(report.moved.map(({ job_id, kind }) => ({ job_id, kind }))).toEqual(
        expect.arrayContaining([
          ...images.map(({ id }) => ({ job_id: id, kind: 'message_lost' })),
          { job_id: neverSent.id, kind: 'message_not_sent' },
        ]),
      );
      expect(report.moved).toHaveLength(4);
      expect(idsOf(await processMessages(env.queues.image.url))).toEqual(
        [imageBacklog, ...images.map(({ id }) => id)].sort(),
      );
      expect(idsOf(await processMessages(env.queues.video.url))).toEqual(
        [...videoBacklog, neverSent.id].sort(),
      );
      expect(await store.get(video.id)).toMatchObject({ status: 'queued', updated_at: video.updated_at });
    });

    it('asks no queue when no job is a candidate, and sends the candidates again when the backlog cannot be read', async () => {
      // Prepare
      const now = testClock();
      // Read (idle longer than the shortest deadline) but within its own: an attempt still at work.
      await stalledJob(now, 200, { status: 'processing', attempts: 1, media_kind: 'video' });
      backlogReads = [];
      const quiet = await reconcileJobs(deps, now);
      const lost = await candidate(now, 'image');
      const unreadable: ReconcileDeps = {
        ...deps,
        queueBacklog: () => Promise.reject(new Error('AccessDenied')),
      };
      await fillQueue(env.queues.image.url, 5);

      // Act
      const report = await reconcileJobs(unreadable, now);

      // Assess
      expect(quiet).toMatchObject({ moved: [], backlogs: [] });
      expect(backlogReads).toEqual([]);
      expect(report.backlogs).toEqual([{ media_kind: 'image', candidates: 1, deferred: false }]);
      expect(report.moved).toEqual([
        { job_id: lost.id, kind: 'message_lost', from: 'queued', action: 'enqueued' },
      ]);
    });

    it('counts the messages waiting and delayed, not those in flight (a candidate’s message cannot be)', async () => {
      // Prepare: one waiting, one received (in flight), one delayed
      const { sqs } = await import('#shared/aws-clients');
      const queueUrl = env.queues.video.url;
      await fillQueue(queueUrl, 1);
      expect(await env.receive(queueUrl, 1)).toHaveLength(1);
      await fillQueue(queueUrl, 1);
      await env.clients.sqs.send(
        new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: '{}', DelaySeconds: 600 }),
      );

      // Act & assess
      expect(await readQueueBacklog(sqs, queueUrl)).toBe(2);
      expect(await readQueueBacklog(sqs, env.queues.image.url)).toBe(0);
    });
  });

  it('keeps the index sparse: a finished job without a callback is not in it', async () => {
    const now = testClock();
    const statuses: StoredStatus[] = ['done', 'failed', 'duplicate'];
    const jobs = await Promise.all(statuses.map((status) => stalledJob(now, 600, { status })));

    const open = (await openJobs(now)).map(({ id }) => id);

    expect(open.filter((id) => jobs.some((job) => job.id === id))).toEqual([]);
  });

  it('knows the webhook id the webhook function records for an outcome', () => {
    const message = {
      kind: 'webhook' as const,
      job_id: randomUUID(),
      source_job_id: randomUUID(),
      status: 'done' as const,
      attempts: 2,
    };
    expect(outcomeWebhookId(message.job_id, message.status, message.attempts)).toBe(webhookIdFor(message));
  });
});
