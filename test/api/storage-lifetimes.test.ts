import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '#shared/config';
import type { Job } from '#shared/job';
import { RETRY_MARGIN_DAYS, retryDeadline } from '#shared/retention';
import { type ApiHarness, startApi } from '#test/api';
import { httpEvent } from '#test/http-events';
import { newJob } from '#test/jobs';
import { listPresets, type PresetListing } from '../../functions/api/list-presets.ts';
import type { ErrorBody } from '../../functions/api/responses.ts';
import { retryRefusal } from '../../functions/api/retry-job.ts';
import { envUrlTtlSeconds, MAX_PRESIGNED_URL_TTL_SECONDS } from '../../functions/api/url-ttl.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

describe('GET /api/presets/ limits: retention', () => {
  const sizes = { directUploadMaxBytes: 4 * 1024 * 1024, multipartThresholdBytes: 100 * 1024 * 1024 };

  it('shows how many days originals and results are kept', () => {
    // Act
    const { limits } = listPresets({ ...sizes, uploadRetentionDays: 30, resultRetentionDays: 365 });
    // Assess
    expect(limits).toMatchObject({ upload_retention_days: 30, result_retention_days: 365 });
  });

  it('shows null for what is kept (0 or not configured)', () => {
    // Act
    const configuredZero = listPresets({ ...sizes, uploadRetentionDays: 0, resultRetentionDays: 0 });
    const unconfigured = listPresets(sizes);
    // Assess
    for (const { limits } of [configuredZero, unconfigured]) {
      expect(limits).toMatchObject({ upload_retention_days: null, result_retention_days: null });
    }
  });
});

describe('presigned URL lifetimes', () => {
  const schema = z.object({
    UPLOAD_URL_TTL_SECONDS: envUrlTtlSeconds(900),
    RESULT_URL_TTL_SECONDS: envUrlTtlSeconds(3600),
    PART_URL_TTL_SECONDS: envUrlTtlSeconds(900),
  });

  it('caps every URL TTL at 12 hours', () => {
    // Assess
    expect(MAX_PRESIGNED_URL_TTL_SECONDS).toBe(43_200);
  });

  it('keeps the defaults when nothing is set', () => {
    // Act
    const config = loadConfig(schema, {});
    // Assess
    expect(config).toEqual({
      UPLOAD_URL_TTL_SECONDS: 900,
      RESULT_URL_TTL_SECONDS: 3600,
      PART_URL_TTL_SECONDS: 900,
    });
  });

  it('accepts exactly 12 hours', () => {
    // Act
    const config = loadConfig(schema, { RESULT_URL_TTL_SECONDS: '43200' });
    // Assess
    expect(config.RESULT_URL_TTL_SECONDS).toBe(43_200);
  });

  it.each(['UPLOAD_URL_TTL_SECONDS', 'RESULT_URL_TTL_SECONDS', 'PART_URL_TTL_SECONDS'])(
    'refuses %s beyond 12 hours (7 days included), saying the role session would end first',
    (name) => {
      // Act
      const load = () => loadConfig(schema, { [name]: '604800' });
      // Assess
      expect(load).toThrow(
        new RegExp(
          `${name}: must be at most 43200 \\(12 hours\\): URLs are signed with the function role's temporary credentials`,
        ),
      );
    },
  );

  it('refuses less than a minute', () => {
    // Act
    const load = () => loadConfig(schema, { RESULT_URL_TTL_SECONDS: '30' });
    // Assess
    expect(load).toThrow(/RESULT_URL_TTL_SECONDS/);
  });
});

describe('the retry window of a failed job', () => {
  const failedJob = (createdAt: Date): Job =>
    newJob({
      status: 'failed',
      media_kind: 'image',
      detected_type: 'image/jpeg',
      attempts: 1,
      error: 'the renderer ran out of memory',
      error_code: 'Image::RenderFailed',
      created_at: createdAt.toISOString(),
    });
  const created = new Date('2027-01-01T12:00:00Z');

  it('closes two days before the original can expire', () => {
    // Act
    const deadline = retryDeadline(created.toISOString(), 30);
    // Assess
    expect(RETRY_MARGIN_DAYS).toBe(2);
    expect(deadline?.toISOString()).toBe('2027-01-29T12:00:00.000Z');
  });

  it('has no deadline when originals are kept', () => {
    // Assess
    expect(retryDeadline(created.toISOString(), 0)).toBeUndefined();
  });

  it('lets a job that failed transiently be retried until the deadline', () => {
    // Prepare
    const job = failedJob(created);
    const justBefore = new Date(created.getTime() + 28 * DAY_MS - 1000);
    // Act
    const refusal = retryRefusal(job, { maxRetries: 3, uploadRetentionDays: 30, now: justBefore });
    // Assess
    expect(refusal).toBeUndefined();
  });

  it('refuses the retry from the deadline on, saying to upload again', () => {
    // Prepare
    const job = failedJob(created);
    const atDeadline = new Date(created.getTime() + 28 * DAY_MS);
    // Act
    const refusal = retryRefusal(job, { maxRetries: 3, uploadRetentionDays: 30, now: atDeadline });
    // Assess
    expect(refusal?.code).toBe('Retry::OriginalExpiring');
    expect(refusal?.message).toMatch(
      /deleted 30 days after upload, so retries must start by 2027-01-29T12:00:00.000Z; upload the file again/,
    );
  });

  it('never refuses for age when originals are kept', () => {
    // Prepare
    const job = failedJob(created);
    const muchLater = new Date(created.getTime() + 3000 * DAY_MS);
    // Act
    const refusal = retryRefusal(job, { maxRetries: 3, uploadRetentionDays: 0, now: muchLater });
    // Assess
    expect(refusal).toBeUndefined();
  });
});

describe('the API function with retention configured', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await startApi({ env: { UPLOAD_RETENTION_DAYS: '14', RESULT_RETENTION_DAYS: '90' } });
  });
  afterAll(() => api?.env.close());

  it('shows its retention in GET /api/presets/', async () => {
    // Act
    const response = await api.invoke<PresetListing>(
      httpEvent({ method: 'GET', path: '/api/presets/', routeKey: 'GET /api/presets' }),
    );
    // Assess
    expect(response.body.limits).toMatchObject({ upload_retention_days: 14, result_retention_days: 90 });
  });

  it('answers 409 Retry::OriginalExpiring to a retry of a failed job past its window', async () => {
    // Prepare: failed 13 days after upload is past the 12-day window of a 14-day retention
    const job = newJob({
      status: 'failed',
      media_kind: 'image',
      detected_type: 'image/jpeg',
      file_hash: 'd'.repeat(64),
      attempts: 1,
      error: 'the renderer ran out of memory',
      error_code: 'Image::RenderFailed',
      created_at: new Date(Date.now() - 13 * DAY_MS).toISOString(),
    });
    await api.store.create(job);
    // Act
    const response = await api.invoke<ErrorBody>(
      httpEvent({
        method: 'POST',
        path: `/api/media/${job.id}/retry/`,
        routeKey: 'POST /api/media/{id}/retry',
        pathParameters: { id: job.id },
      }),
    );
    // Assess
    expect(response.statusCode).toBe(409);
    expect(response.body.error.code).toBe('Retry::OriginalExpiring');
    expect((await api.store.get(job.id))?.status).toBe('failed');
  });
});
