import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '#shared/job';
import { type ApiHarness, startApi } from '#test/api';
import { httpEvent } from '#test/http-events';
import { newJob } from '#test/jobs';
import type { JobListing } from '../../functions/api/list-jobs.ts';
import type { ErrorBody } from '../../functions/api/responses.ts';

let api: ApiHarness;

beforeAll(async () => {
  api = await startApi();
});
afterAll(() => api?.env.close());

const list = <T = JobListing>(tenant: string, query = '') =>
  api.invoke<T>(
    httpEvent({ method: 'GET', path: '/api/media/', routeKey: 'GET /api/media', queryString: query, tenant }),
  );

/** Jobs of `tenant` created one minute apart, oldest first, each as `overrides` says. */
const jobsCreated = async (tenant: string, overrides: Partial<Job>[]): Promise<Job[]> => {
  const jobs = overrides.map((override, index) => {
    const at = new Date(Date.UTC(2026, 0, 1, 12, index)).toISOString();
    return newJob({ tenant, created_at: at, updated_at: at, ...override });
  });
  for (const job of jobs) await api.store.create(job);
  return jobs;
};

const idsOf = (listing: JobListing) => listing.items.map((item) => item.id);

describe('GET /api/media/', () => {
  it('lists the caller’s jobs newest first, a page at a time, and nothing of other tenants', async () => {
    // Prepare
    const jobs = await jobsCreated(
      'paging',
      Array.from({ length: 5 }, () => ({})),
    );
    await jobsCreated('paging-other', [{}, {}]);
    const newestFirst = jobs.map((job) => job.id).reverse();

    // Act
    const first = await list('paging', 'limit=2');
    const second = await list('paging', `limit=2&cursor=${first.body.next_cursor}`);
    const third = await list('paging', `limit=2&cursor=${second.body.next_cursor}`);

    // Assess
    expect(first.statusCode).toBe(200);
    expect(idsOf(first.body)).toEqual(newestFirst.slice(0, 2));
    expect(idsOf(second.body)).toEqual(newestFirst.slice(2, 4));
    expect(idsOf(third.body)).toEqual(newestFirst.slice(4));
    expect(third.body.next_cursor).toBeNull();
    expect(first.body.items[0]).toMatchObject({
      id: newestFirst[0],
      status: 'awaiting_upload',
      file_name: 'photo.jpg',
    });
  });

  it('returns every job in one page by default (up to 50), with no cursor after the last', async () => {
    const jobs = await jobsCreated('small', [{}, {}, {}]);

    const response = await list('small');

    expect(idsOf(response.body)).toEqual(jobs.map((job) => job.id).reverse());
    expect(response.body.next_cursor).toBeNull();
  });

  it('filters on the status the caller sees: a duplicate shows its canonical job’s', async () => {
    // Prepare
    const [doneId, queuedId] = [randomUUID(), randomUUID()];
    const [failed, done, , duplicate] = await jobsCreated('filter', [
      { status: 'failed', media_kind: 'image', attempts: 1 },
      { id: doneId, status: 'done', media_kind: 'image', attempts: 1 },
      { id: queuedId, status: 'queued' },
      { status: 'duplicate', duplicate_of: doneId },
      { status: 'duplicate', duplicate_of: queuedId },
    ]);

    // Act
    const doneJobs = await list('filter', 'status=done&limit=1');
    const more = await list('filter', `status=done&limit=1&cursor=${doneJobs.body.next_cursor}`);
    const failedJobs = await list('filter', 'status=failed');

    // Assess
    expect(idsOf(doneJobs.body)).toEqual([duplicate?.id]);
    expect(doneJobs.body.items[0]?.status).toBe('done');
    expect(idsOf(more.body)).toEqual([done?.id]);
    expect(idsOf(failedJobs.body)).toEqual([failed?.id]);
  });

  it('leaves deleted jobs out', async () => {
    const [kept, tombstoned] = await jobsCreated('deleted', [
      { status: 'done', media_kind: 'image', attempts: 1 },
      { status: 'done', media_kind: 'image', attempts: 1 },
    ]);
    await api.store.tombstone(tombstoned as Job);

    const response = await list('deleted');

    expect(idsOf(response.body)).toEqual([kept?.id]);
  });

  it('refuses another tenant’s cursor and a forged one', async () => {
    // Prepare
    await jobsCreated('cursor-owner', [{}, {}]);
    const owned = await list('cursor-owner', 'limit=1');
    const cursor = owned.body.next_cursor ?? '';
    const decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as Record<string, string>;
    const retargeted = Buffer.from(JSON.stringify({ ...decoded, tenant: 'cursor-thief' })).toString(
      'base64url',
    );

    // Act
    const answers = await Promise.all([
      list<ErrorBody>('cursor-thief', `cursor=${cursor}`),
      list<ErrorBody>('cursor-thief', `cursor=${retargeted.replace(/.$/, '')}`),
      list<ErrorBody>('cursor-owner', `cursor=${retargeted}`),
      list<ErrorBody>('cursor-owner', 'cursor=not-base64!'),
      list<ErrorBody>('cursor-owner', `cursor=${Buffer.from('{"pk":1}').toString('base64url')}`),
    ]);

    // Assess
    for (const answer of answers) {
      expect(answer.statusCode).toBe(400);
      expect(answer.body.error).toMatchObject({ code: 'Request::InvalidCursor', field: 'cursor' });
    }
  });

  it.each([
    ['limit=0', 'Request::InvalidLimit'],
    ['limit=101', 'Request::InvalidLimit'],
    ['limit=ten', 'Request::InvalidLimit'],
    ['limit=2.5', 'Request::InvalidLimit'],
    ['status=duplicate', 'Request::InvalidStatus'],
    ['status=DONE', 'Request::InvalidStatus'],
  ])('refuses %s with 400 saying what to send', async (query, code) => {
    const response = await list<ErrorBody>('anyone', query);

    expect(response.statusCode).toBe(400);
    expect(response.body.error.code).toBe(code);
  });
});
