import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApi } from '#test/api';
import { httpEvent } from '#test/http-events';
import { newJob } from '#test/jobs';
import type { PresetListing } from '../../functions/api/list-presets.ts';
import type { ErrorBody } from '../../functions/api/responses.ts';

let api: ApiHarness;

beforeAll(async () => {
  api = await startApi();
});
afterAll(() => api?.env.close());

describe('GET /api/presets/', () => {
  it.each(['/api/presets/', '/api/presets'])(
    'lists every preset with what it accepts and makes (%s)',
    async (path) => {
      const response = await api.invoke<PresetListing>(
        httpEvent({ method: 'GET', path, routeKey: 'GET /api/presets' }),
      );

      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      const { presets, limits } = response.body;
      expect(presets.map((preset) => preset.name)).toEqual(['default', 'square-webp', 'avatar']);
      expect(presets.find((preset) => preset.name === 'avatar')).toEqual({
        name: 'avatar',
        description: expect.any(String),
        accept: ['image/jpeg', 'image/png', 'image/webp', 'image/avif'],
        image: {
          variants: [
            { name: 'small', width: 64, height: 64, fit: 'cover', format: 'avif', quality: 60 },
            { name: 'large', width: 256, height: 256, fit: 'cover', format: 'avif', quality: 60 },
          ],
        },
        video: null,
      });
      expect(presets.find((preset) => preset.name === 'default')?.video).toEqual({
        poster: { at_second: 1, width: 1280, format: 'jpeg', quality: 85 },
      });
      expect(limits).toEqual({
        image_max_bytes: 52_428_800,
        video_max_bytes: 5_368_709_120,
        image_max_pixels: 100_000_000,
        video_max_duration_seconds: 3600,
        direct_upload_max_bytes: 4 * 1024 * 1024,
        multipart_threshold_bytes: 100 * 1024 * 1024,
        multipart_max_parts: 10_000,
        part_urls_per_request: 100,
        // No quotas in this environment (QUOTA_* unset: 0, off).
        quota_jobs_per_day: null,
        quota_bytes_per_day: null,
        // The function's defaults (UPLOAD_/RESULT_RETENTION_DAYS unset): originals 30 days, results kept.
        upload_retention_days: 30,
        result_retention_days: null,
        // MAX_RETRIES unset: 3 retries, each a new run of automatic attempts.
        max_retries: 3,
      });
    },
  );
});

describe('routing', () => {
  // A known path with another method is a 405 (test/api/api-letter.test.ts).
  it.each([['GET /api/unknown', 'GET', '/api/unknown']])(
    'answers 404 with a JSON error for a route it does not serve (%s)',
    async (routeKey, method, path) => {
      const response = await api.invoke<ErrorBody>(httpEvent({ method, path, routeKey }));

      expect(response.statusCode).toBe(404);
      expect(response.body.error).toEqual({
        code: 'Request::UnknownRoute',
        message: expect.stringContaining('POST /api/media/'),
      });
    },
  );

  it('routes by method and path when API Gateway matched a catch-all route', async () => {
    const job = newJob();
    await api.store.create(job);

    const view = await api.invoke(
      httpEvent({ method: 'GET', path: `/api/media/${job.id}/`, routeKey: '$default' }),
    );
    const presets = await api.invoke(
      httpEvent({ method: 'GET', path: '/api/presets', routeKey: 'ANY /{proxy+}' }),
    );
    const unknown = await api.invoke(
      httpEvent({ method: 'GET', path: '/api/nothing', routeKey: '$default' }),
    );

    expect(view.statusCode).toBe(200);
    expect(view.body.id).toBe(job.id);
    expect(presets.statusCode).toBe(200);
    expect(unknown.statusCode).toBe(404);
  });

  it('accepts route keys declared with a trailing slash', async () => {
    const job = newJob();
    await api.store.create(job);

    const response = await api.invoke(
      httpEvent({
        method: 'GET',
        path: `/api/media/${job.id}/`,
        routeKey: 'GET /api/media/{id}/',
        pathParameters: { id: job.id },
      }),
    );

    expect(response.statusCode).toBe(200);
  });
});
