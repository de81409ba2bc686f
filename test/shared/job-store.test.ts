import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobStore } from '#shared/job-store';
import { createTestEnvironment, type TestEnvironment } from '#test/emulators';
import { newJob } from '#test/jobs';

let env: TestEnvironment;
let store: JobStore;

beforeAll(async () => {
  env = await createTestEnvironment();
  const { JobStore } = await import('#shared/job-store');
  const { dynamodb } = await import('#shared/aws-clients');
  store = new JobStore(dynamodb, env.tableName);
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

  it('stops counting attempts at the limit', async () => {
    const job = newJob({ status: 'queued', attempts: 2 });
    await store.create(job);

    expect(await store.startAttempt(job.id, 3)).toMatchObject({ attempts: 3 });
    await store.deferRetry(job.id, { code: 'X', message: 'flaky' });
    expect(await store.startAttempt(job.id, 3)).toBeUndefined();
    expect(await store.get(job.id)).toMatchObject({ status: 'queued', attempts: 3, error: 'flaky' });
  });

  it('lets one job claim a file + preset and tells later claimants who holds it', async () => {
    const hash = randomUUID().replaceAll('-', '').padEnd(64, '0');
    const [first, second] = [randomUUID(), randomUUID()];

    expect(await store.claimDedupKey(hash, 'default', first)).toEqual({ claimed: true });
    expect(await store.claimDedupKey(hash, 'default', second)).toEqual({ claimed: false, holder: first });
    expect(await store.claimDedupKey(hash, 'default', first)).toEqual({ claimed: true });
    expect(await store.claimDedupKey(hash, 'square-webp', second)).toEqual({ claimed: true });
    expect(await store.findByContent(hash, 'default')).toBe(first);

    expect(await store.takeOverDedupKey(hash, 'default', second, second)).toBe(false);
    expect(await store.takeOverDedupKey(hash, 'default', first, second)).toBe(true);
    expect(await store.findByContent(hash, 'default')).toBe(second);
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

  it('re-queues a failed job only while attempts are left', async () => {
    const retryable = newJob({ status: 'failed', attempts: 1, error: 'boom', error_code: 'X' });
    const exhausted = newJob({ status: 'failed', attempts: 3 });
    await Promise.all([store.create(retryable), store.create(exhausted)]);

    const requeued = await store.requeue(retryable.id, 3);
    expect(requeued).toMatchObject({ status: 'queued', attempts: 1 });
    expect(requeued?.error).toBeUndefined();
    expect(await store.requeue(exhausted.id, 3)).toBeUndefined();
  });
});
