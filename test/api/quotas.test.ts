import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApi } from '#test/api';
import { httpEvent, jsonEvent } from '#test/http-events';
import type { PresetListing } from '../../functions/api/list-presets.ts';
import { QuotaMeter, utcDayOf } from '../../functions/api/quotas.ts';
import type { ErrorBody } from '../../functions/api/responses.ts';

let api: ApiHarness;

beforeAll(async () => {
  api = await startApi({ env: { QUOTA_JOBS_PER_DAY: '2', QUOTA_BYTES_PER_DAY: '10000' } });
});
afterAll(() => api?.env.close());

const announce = <T = { job_id: string }>(tenant: string, size: number) =>
  api.invoke<T>(
    jsonEvent({
      method: 'POST',
      path: '/api/media/',
      routeKey: 'POST /api/media',
      json: { file_name: 'photo.jpg', content_type: 'image/jpeg', size, preset: 'default' },
      tenant,
    }),
  );

describe('quotas per tenant and UTC day', () => {
  it('refuses the job over the daily job quota with 429, Retry-After and the error shape', async () => {
    // Prepare
    await announce('busy', 100);
    await announce('busy', 100);

    // Act
    const refused = await announce<ErrorBody>('busy', 100);
    const otherTenant = await announce('quiet', 100);

    // Assess
    expect(refused.statusCode).toBe(429);
    expect(refused.body.error).toEqual({
      code: 'Quota::JobsPerDay',
      message: expect.stringMatching(/quota of 2 new jobs per day is used up .*resets at midnight UTC/),
    });
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(86_400);
    expect(otherTenant.statusCode).toBe(201);
  });

  it('refuses a job whose declared size would pass the daily byte quota', async () => {
    await announce('heavy', 6000);

    const refused = await announce<ErrorBody>('heavy', 6000);
    const fits = await announce('heavy', 4000);

    expect(refused.statusCode).toBe(429);
    expect(refused.body.error.code).toBe('Quota::BytesPerDay');
    expect(refused.headers['retry-after']).toEqual(expect.any(String));
    expect(fits.statusCode).toBe(201);
  });

  it('shows the quotas in GET /api/presets/', async () => {
    const response = await api.invoke<PresetListing>(
      httpEvent({ method: 'GET', path: '/api/presets/', routeKey: 'GET /api/presets' }),
    );

    expect(response.body.limits).toMatchObject({ quota_jobs_per_day: 2, quota_bytes_per_day: 10000 });
  });

  it('counts nothing and refuses nothing when both quotas are 0 (off)', async () => {
    const { dynamodb } = await import('#shared/aws-clients');
    const meter = new QuotaMeter(dynamodb, api.env.tableName, { jobsPerDay: 0, bytesPerDay: 0 });

    for (let i = 0; i < 5; i++) await meter.charge('unmetered', 1e12);

    const { GetCommand } = await import('@aws-sdk/lib-dynamodb');
    const { day } = utcDayOf(new Date());
    const item = await dynamodb.send(
      new GetCommand({ TableName: api.env.tableName, Key: { pk: `usage#unmetered#${day}` } }),
    );
    expect(item.Item).toBeUndefined();
  });

  it('counts a day per UTC date and says how long until the next one', () => {
    expect(utcDayOf(new Date('2026-03-01T23:59:30.000Z'))).toEqual({ day: '2026-03-01', secondsLeft: 30 });
    expect(utcDayOf(new Date('2026-03-02T00:00:00.000Z'))).toEqual({
      day: '2026-03-02',
      secondsLeft: 86_400,
    });
  });

  it('lets concurrent requests together pass no quota', async () => {
    const { dynamodb } = await import('#shared/aws-clients');
    const meter = new QuotaMeter(dynamodb, api.env.tableName, { jobsPerDay: 3, bytesPerDay: 0 });

    const results = await Promise.allSettled(Array.from({ length: 8 }, () => meter.charge('racing', 1)));

    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(3);
  });
});
