import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job, StoredStatus } from '#shared/job';
import { allows, JOB_LIFECYCLE, type JobEvent, STORED_STATUSES } from '#shared/job-lifecycle';
import type { JobStore } from '#shared/job-store';
import { createTestEnvironment, type TestEnvironment } from '#test/emulators';
import { newJob } from '#test/jobs';

let env: TestEnvironment;
let store: JobStore;

beforeAll(async () => {
  env = await createTestEnvironment();
  store = await env.jobStore();
});
afterAll(() => env.close());

const facts = { file_hash: 'a'.repeat(64), detected_type: 'image/jpeg', media_kind: 'image' as const };

describe('job store', () => {
  it('moves a job through upload, attempts and completion, refusing moves from the wrong state', async () => {
    const job = newJob();
    await store.create(job);

    const queued = await store.markQueued(job.id, facts);
    expect(queued).toMatchObject({ status: 'queued', file_hash: facts.file_hash, media_kind: 'image' });
    expect(await store.markQueued(job.id, facts)).toBeUndefined();

    const processing = await store.startAttempt(job.id, 3);
    expect(processing).toMatchObject({ status: 'processing', attempts: 1 });

    const done = await store.complete(job.id, { width: 10 }, [
      { name: 'thumb', key: 'k', content_type: 'image/jpeg' },
    ]);
    expect(done).toMatchObject({ status: 'done', result: { width: 10 } });
    expect(await store.startAttempt(job.id, 3)).toBeUndefined();
  });

  it('starts no second attempt beside a live one, only after an attempt that outlived its timeout', async () => {
    // Prepare: two jobs in processing, one whose attempt began a minute ago, one an hour ago
    const minuteAgo = new Date(Date.now() - 60_000).toISOString();
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    const live = newJob({ status: 'processing', attempts: 1, updated_at: minuteAgo });
    const dead = newJob({ status: 'processing', attempts: 1, updated_at: hourAgo });
    await Promise.all([store.create(live), store.create(dead)]);
    const staleBefore = new Date(Date.now() - 900_000).toISOString();

    // Act
    const second = await store.startAttempt(live.id, 3, { staleBefore });
    const again = await store.startAttempt(dead.id, 3, { staleBefore });

    // Assess
    expect(second).toBeUndefined();
    expect(await store.get(live.id)).toMatchObject({ status: 'processing', attempts: 1 });
    expect(again).toMatchObject({ status: 'processing', attempts: 2 });
  });

  it('stops counting attempts at the limit', async () => {
    const job = newJob({ status: 'queued', attempts: 2 });
    await store.create(job);

    expect(await store.startAttempt(job.id, 3)).toMatchObject({ attempts: 3 });
    await store.deferRetry(job.id, { code: 'X', message: 'flaky' });
    expect(await store.startAttempt(job.id, 3)).toBeUndefined();
    expect(await store.get(job.id)).toMatchObject({ status: 'queued', attempts: 3, error: 'flaky' });
  });

  it('lets one job claim a file + preset and tells later claimants who holds it', async () => {
    const fileHash = randomUUID().replaceAll('-', '').padEnd(64, '0');
    const content = { tenant: 'acme', fileHash, preset: 'default' };
    const [first, second] = [randomUUID(), randomUUID()];

    expect(await store.claimDedupKey(content, first)).toEqual({ claimed: true });
    expect(await store.claimDedupKey(content, second)).toEqual({ claimed: false, holder: first });
    expect(await store.claimDedupKey(content, first)).toEqual({ claimed: true });
    expect(await store.claimDedupKey({ ...content, preset: 'square-webp' }, second)).toEqual({
      claimed: true,
    });
    expect(await store.findByContent(content)).toBe(first);

    expect(await store.takeOverDedupKey(content, second, second)).toBe(false);
    expect(await store.takeOverDedupKey(content, first, second)).toBe(true);
    expect(await store.findByContent(content)).toBe(second);
  });

  it('keeps each tenant its own claim on the same bytes and preset', async () => {
    // Prepare
    const fileHash = randomUUID().replaceAll('-', '').padEnd(64, '1');
    const [acme, globex] = [randomUUID(), randomUUID()];

    // Act
    const claims = [
      await store.claimDedupKey({ tenant: 'acme', fileHash, preset: 'default' }, acme),
      await store.claimDedupKey({ tenant: 'globex', fileHash, preset: 'default' }, globex),
    ];

    // Assess
    expect(claims).toEqual([{ claimed: true }, { claimed: true }]);
    expect(await store.findByContent({ tenant: 'acme', fileHash, preset: 'default' })).toBe(acme);
    expect(await store.findByContent({ tenant: 'globex', fileHash, preset: 'default' })).toBe(globex);
  });

  it('frees a claim only for the job that holds it', async () => {
    const content = {
      tenant: 'acme',
      fileHash: randomUUID().replaceAll('-', '').padEnd(64, '2'),
      preset: 'default',
    };
    const [holder, other] = [randomUUID(), randomUUID()];
    await store.claimDedupKey(content, holder);

    expect(await store.releaseDedupKey(content, other)).toBe(false);
    expect(await store.findByContent(content)).toBe(holder);
    expect(await store.releaseDedupKey(content, holder)).toBe(true);
    expect(await store.findByContent(content)).toBeUndefined();
  });

  it('deletes a job only as it was read', async () => {
    // Prepare: a failed job, then retried (status and updated_at move)
    const job = newJob({
      status: 'failed',
      media_kind: 'image',
      attempts: 1,
      updated_at: '2026-01-01T00:00:00.000Z',
    });
    await store.create(job);
    const seen = (await store.get(job.id)) as Job;
    await store.requeue(seen, 3);

    // Act
    const removedStale = await store.remove(seen);

    // Assess
    expect(removedStale).toBe(false);
    const current = (await store.get(job.id)) as Job;
    expect(current.status).toBe('queued');
    await store.fail(job.id, 'attemptsExhausted', { code: 'X', message: 'gone' });
    const failed = (await store.get(job.id)) as Job;
    expect(await store.remove(failed)).toBe(true);
    expect(await store.get(job.id)).toBeUndefined();
  });

  it('never moves a tombstoned job, nor links duplicates to it', async () => {
    // Prepare
    const job = newJob({ status: 'failed', media_kind: 'image', attempts: 1 });
    await store.create(job);
    const tombstone = await store.tombstone(job);

    // Act
    const retried = await store.requeue(job, 3);
    const linked = await store.linkDuplicate(job.id, randomUUID());

    // Assess
    expect(tombstone?.deleted_at).toEqual(expect.any(String));
    expect(retried).toBeUndefined();
    expect(linked).toBeUndefined();
    expect(await store.tombstone(job)).toBeUndefined();
  });

  it('collects duplicates on the canonical job', async () => {
    const canonical = newJob({ status: 'processing' });
    await store.create(canonical);
    const [a, b] = [randomUUID(), randomUUID()];

    await store.linkDuplicate(canonical.id, a);
    const linked = await store.linkDuplicate(canonical.id, b);
    await store.linkDuplicate(canonical.id, b);

    expect(linked?.duplicates).toEqual(new Set([a, b]));
    expect(await store.linkDuplicate(randomUUID(), a)).toBeUndefined();
  });

  it('re-queues a failed job as its next run, with a fresh attempt budget, while retries are left', async () => {
    // Prepare: a job whose first run used every attempt (written before runs: no `run`), one retried
    // three times already, and one for a deployment that allows no retries
    const firstRun = newJob({
      status: 'failed',
      attempts: 3,
      error: 'gave up after 3 attempts: boom',
      error_code: 'Internal::Unexpected',
      failure_kind: 'transient',
    });
    const fourthRun = newJob({ status: 'failed', attempts: 3, run: 4, error: 'boom', error_code: 'X' });
    const noRetries = newJob({ status: 'failed', attempts: 3, error: 'boom', error_code: 'X' });
    await Promise.all([firstRun, fourthRun, noRetries].map((job) => store.create(job)));

    // Act
    const requeued = await store.requeue(firstRun, 3);
    const beyond = await store.requeue(fourthRun, 3);
    const refused = await store.requeue(noRetries, 0);

    // Assess
    expect(requeued).toMatchObject({ status: 'queued', attempts: 0, run: 2 });
    expect(requeued?.error).toBeUndefined();
    expect(requeued?.error_code).toBeUndefined();
    expect(requeued?.failure_kind).toBeUndefined();
    expect(beyond).toBeUndefined();
    expect(refused).toBeUndefined();
    expect(await store.get(fourthRun.id)).toEqual(fourthRun);
    expect(await store.get(noRetries.id)).toEqual(noRetries);
  });

  it('gives each run its own attempts: the next run starts counting from none', async () => {
    // Prepare: run 1 used all three attempts, then a retry
    const job = newJob({
      status: 'failed',
      attempts: 3,
      media_kind: 'image',
      error: 'boom',
      error_code: 'X',
    });
    await store.create(job);
    await store.requeue(job, 3);

    // Act
    const first = await store.startAttempt(job.id, 3);

    // Assess
    expect(first).toMatchObject({ status: 'processing', attempts: 1, run: 2 });
  });

  it('starts one run for two concurrent retries of one failure, and none for a job that moved since it was judged', async () => {
    // Prepare
    const job = newJob({ status: 'failed', attempts: 3, error: 'boom', error_code: 'X' });
    const moved = newJob({ status: 'failed', attempts: 3, error: 'boom', error_code: 'X' });
    await Promise.all([store.create(job), store.create(moved)]);
    await store.linkDuplicate(moved.id, randomUUID());

    // Act
    const [a, b] = await Promise.all([store.requeue(job, 3), store.requeue(job, 3)]);
    const stale = await store.requeue(moved, 3);

    // Assess
    expect([a, b].filter(Boolean)).toHaveLength(1);
    expect(await store.get(job.id)).toMatchObject({ status: 'queued', run: 2, attempts: 0 });
    expect(stale).toBeUndefined();
    expect((await store.get(moved.id))?.status).toBe('failed');
  });

  it('reverts a retry whose message was never sent to the run, attempts and failure it came from', async () => {
    // Prepare: a job in its second run, and one written before runs
    const second = newJob({ status: 'failed', attempts: 3, run: 2, error: 'boom', error_code: 'X' });
    const legacy = newJob({ status: 'failed', attempts: 2, error: 'boom', error_code: 'X' });
    await Promise.all([store.create(second), store.create(legacy)]);
    await Promise.all([store.requeue(second, 3), store.requeue(legacy, 3)]);

    // Act
    const failure = { code: 'X', message: 'boom' };
    const revertedSecond = await store.revertRequeue(second.id, failure, second);
    const revertedLegacy = await store.revertRequeue(legacy.id, failure, legacy);

    // Assess
    expect(revertedSecond).toMatchObject({ status: 'failed', attempts: 3, run: 2, error: 'boom' });
    expect(revertedSecond?.failure_kind).toBe('transient');
    expect(revertedLegacy).toMatchObject({ status: 'failed', attempts: 2, error_code: 'X' });
    expect(revertedLegacy?.run).toBeUndefined();
  });

  it('records whether a failure is permanent, and forgets it when the job completes', async () => {
    // Prepare
    const refused = newJob();
    const permanent = newJob({ status: 'processing', attempts: 1 });
    const transient = newJob({ status: 'processing', attempts: 3 });
    const deferred = newJob({ status: 'processing', attempts: 1 });
    await Promise.all([refused, permanent, transient, deferred].map((job) => store.create(job)));
    const failure = { code: 'X', message: 'boom' };

    // Act
    const uploadRefused = await store.markUploadRefused(refused.id, failure);
    const failedForGood = await store.fail(permanent.id, 'processingFailed', {
      ...failure,
      kind: 'permanent',
    });
    const failedForNow = await store.fail(transient.id, 'processingFailed', failure);
    await store.deferRetry(deferred.id, failure);
    await store.startAttempt(deferred.id, 3);
    const completed = await store.complete(deferred.id, {}, []);

    // Assess
    expect(uploadRefused?.failure_kind).toBe('permanent');
    expect(failedForGood?.failure_kind).toBe('permanent');
    expect(failedForNow?.failure_kind).toBe('transient');
    expect(completed?.failure_kind).toBeUndefined();
    expect(completed?.error).toBeUndefined();
  });
});

/**
 * The lifecycle table walked against DynamoDB Local: every event, from every status a job can hold,
 * through the JobStore method that records it. An event the table allows moves the job to the table's
 * status; any other leaves the job untouched.
 */
const failure = { code: 'Test::Failure', message: 'failed on purpose' };
const MAX_ATTEMPTS = 3;
const MAX_RETRIES = 3;

/** The JobStore call that records each event, as the pipeline makes it. */
const record: Record<JobEvent, (job: Job) => Promise<unknown>> = {
  uploadAccepted: ({ id }) => store.markQueued(id, facts),
  uploadDuplicate: ({ id }) => store.markDuplicate(id, 'canonical-job', facts),
  uploadRefused: ({ id }) => store.markUploadRefused(id, failure),
  messageSent: ({ id }) => store.markEnqueued(id),
  attemptStarted: ({ id }) => store.startAttempt(id, MAX_ATTEMPTS),
  completed: ({ id }) => store.complete(id, { width: 1 }, []),
  processingFailed: ({ id }) => store.fail(id, 'processingFailed', failure),
  retryDeferred: ({ id }) => store.deferRetry(id, failure),
  processingStalled: (job) => store.requeueStalled(job.id, job.updated_at, MAX_ATTEMPTS),
  attemptsExhausted: ({ id }) => store.fail(id, 'attemptsExhausted', failure),
  deadLettered: ({ id }) => store.fail(id, 'deadLettered', failure),
  retryRequested: (job) => store.requeue(job, MAX_RETRIES),
  retryReverted: (job) => store.revertRequeue(job.id, failure, job),
};

const walk = (Object.keys(JOB_LIFECYCLE) as JobEvent[]).flatMap((event) =>
  STORED_STATUSES.map((status) => ({ event, status, allowed: allows(event, status) })),
);

describe('the job lifecycle', () => {
  it.each(walk)('$event from $status: allowed $allowed', async ({ event, status, allowed }) => {
    // Prepare: a job in `status`, with attempts left
    const job = newJob({ status, attempts: 1 });
    await store.create(job);

    // Act
    await record[event](job);

    // Assess
    const after = await store.get(job.id);
    if (allowed) {
      expect(after?.status).toBe(JOB_LIFECYCLE[event].to);
      expect(after?.updated_at).not.toBe(job.updated_at);
    } else {
      expect(after).toEqual(job);
    }
  });

  it('counts an attempt only while attempts are left', async () => {
    const job = newJob({ status: 'queued', attempts: MAX_ATTEMPTS });
    await store.create(job);

    expect(await store.startAttempt(job.id, MAX_ATTEMPTS)).toBeUndefined();
    expect(await store.startAttempt(job.id, MAX_ATTEMPTS + 1)).toMatchObject({
      status: 'processing',
      attempts: MAX_ATTEMPTS + 1,
    });
  });

  it('re-queues a failed job whose run used every attempt while retries are left, and reverts only a retry whose message was never sent', async () => {
    const spent = newJob({ status: 'failed', attempts: MAX_ATTEMPTS });
    const lastRun = newJob({ status: 'failed', attempts: MAX_ATTEMPTS, run: MAX_RETRIES + 1 });
    const sent = newJob({ status: 'queued', enqueued_at: new Date().toISOString() });
    await Promise.all([store.create(spent), store.create(lastRun), store.create(sent)]);

    expect(await store.requeue(spent, MAX_RETRIES)).toMatchObject({ status: 'queued', attempts: 0, run: 2 });
    expect(await store.requeue(lastRun, MAX_RETRIES)).toBeUndefined();
    expect(await store.revertRequeue(sent.id, failure, sent)).toBeUndefined();
  });

  it('fails a job only from the statuses its caller saw, when it narrows them', async () => {
    const job = newJob({ status: 'processing', attempts: 1 });
    await store.create(job);

    expect(await store.fail(job.id, 'deadLettered', failure, ['queued' as StoredStatus])).toBeUndefined();
    expect(await store.fail(job.id, 'deadLettered', failure, ['processing'])).toMatchObject({
      status: 'failed',
      error_code: failure.code,
    });
  });

  it('reaches every status from the upload, and no event leaves done', () => {
    const reachable = new Set<StoredStatus>(['awaiting_upload']);
    for (let changed = true; changed; ) {
      changed = false;
      for (const { from, to } of Object.values(JOB_LIFECYCLE)) {
        if (from.some((status) => reachable.has(status)) && !reachable.has(to)) {
          reachable.add(to);
          changed = true;
        }
      }
    }
    expect([...reachable].sort()).toEqual([...STORED_STATUSES].sort());
    expect(
      Object.values(JOB_LIFECYCLE).filter(({ from }) => (from as readonly string[]).includes('done')),
    ).toEqual([]);
  });
});

describe('the open-jobs index', () => {
  const FAR_FUTURE = '9999-12-31T00:00:00.000Z';
  const isOpen = async (job: Job): Promise<boolean> => {
    const { openJobShardFor } = await import('#shared/jobs-table');
    const idle = await store.findIdleJobs(openJobShardFor(job.id), FAR_FUTURE, 1000);
    return idle.some(({ id }) => id === job.id);
  };
  const delivered = {
    message_id: 'msg_test',
    status: 'delivered' as const,
    attempts: 1,
    delivered_at: new Date().toISOString(),
  };

  it('holds a job while it moves, and lets a finished job without a callback go', async () => {
    // Prepare
    const job = newJob();
    await store.create(job);
    const openAtEachStep = [await isOpen(job)];

    // Act
    await store.markQueued(job.id, facts);
    openAtEachStep.push(await isOpen(job));
    await store.startAttempt(job.id, MAX_ATTEMPTS);
    openAtEachStep.push(await isOpen(job));
    await store.complete(job.id, { width: 1 }, []);
    openAtEachStep.push(await isOpen(job));

    // Assess
    expect(openAtEachStep).toEqual([true, true, true, false]);
    expect(await store.get(job.id)).not.toHaveProperty('open_shard');
  });

  it.each([{ status: 'failed' as const }, { status: 'done' as const }, { status: 'duplicate' as const }])(
    'keeps a $status job with a callback until its webhook is recorded final',
    async ({ status }) => {
      // Prepare: reaches `status` through the lifecycle
      const job = newJob({ callback_url: 'https://example.com/hook' });
      await store.create(job);
      if (status === 'duplicate') await store.markDuplicate(job.id, 'canonical-job', facts);
      else if (status === 'failed') await store.markUploadRefused(job.id, failure);
      else {
        await store.markQueued(job.id, facts);
        await store.startAttempt(job.id, MAX_ATTEMPTS);
        await store.complete(job.id, {}, []);
      }
      const reached = await store.get(job.id);

      // Act
      const whileUnannounced = await isOpen(job);
      await store.recordWebhook(job.id, { ...delivered, status: 'retrying', delivered_at: undefined });
      const whileRetrying = await isOpen(job);
      await store.recordWebhook(job.id, delivered);

      // Assess
      expect(reached?.status).toBe(status);
      expect([whileUnannounced, whileRetrying, await isOpen(job)]).toEqual([true, true, false]);
    },
  );

  it('keeps a job that is not finished open when a late webhook of an earlier outcome is recorded', async () => {
    const job = newJob({ status: 'queued', callback_url: 'https://example.com/hook' });
    await store.create(job);

    await store.recordWebhook(job.id, delivered);

    expect(await isOpen(job)).toBe(true);
    expect((await store.get(job.id))?.webhook).toEqual(delivered);
  });

  it('re-queues a stalled attempt only if the job has not moved since it was seen', async () => {
    const job = newJob({ status: 'processing', attempts: 1, updated_at: '2020-01-01T00:00:00.000Z' });
    await store.create(job);

    expect(await store.requeueStalled(job.id, '2020-01-01T00:00:01.000Z', MAX_ATTEMPTS)).toBeUndefined();
    const requeued = await store.requeueStalled(job.id, job.updated_at, MAX_ATTEMPTS);
    expect(requeued).toMatchObject({ status: 'queued', attempts: 1 });
    expect(requeued?.enqueued_at).toBeDefined();
    expect(await store.requeueStalled(job.id, job.updated_at, MAX_ATTEMPTS)).toBeUndefined();
  });

  it('lets one of two callers that saw the same idle job claim it', async () => {
    const job = newJob({ updated_at: '2020-01-01T00:00:00.000Z' });
    await store.create(job);
    const seen = { updated_at: job.updated_at, idle_since: job.updated_at };

    const claims = await Promise.all([
      store.markLookedAt(job.id, seen, '2020-01-01T01:00:00.000Z'),
      store.markLookedAt(job.id, seen, '2020-01-01T01:00:00.001Z'),
    ]);

    expect(claims.filter(Boolean)).toHaveLength(1);
  });
});
