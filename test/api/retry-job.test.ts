import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Job } from '#shared/job';
import { type ApiHarness, startApi } from '#test/api';
import { httpEvent } from '#test/http-events';
import { newJob } from '#test/jobs';
import type { JobView } from '../../functions/api/job-view.ts';
import type { ErrorBody } from '../../functions/api/responses.ts';
import type { RetriedJob } from '../../functions/api/retry-job.ts';

let api: ApiHarness;

beforeAll(async () => {
  api = await startApi({
    // Video jobs go to a queue that does not exist, so that sending them fails for real.
    beforeImport: (env) =>
      vi.stubEnv('VIDEO_QUEUE_URL', env.queues.video.url.replace(/[^/]+$/, 'no-such-queue')),
  });
});
afterAll(() => api?.env.close());

const retry = <T = RetriedJob>(id: string, { trailingSlash = true } = {}) =>
  api.invoke<T>(
    httpEvent({
      method: 'POST',
      path: `/api/media/${id}/retry${trailingSlash ? '/' : ''}`,
      routeKey: 'POST /api/media/{id}/retry',
      pathParameters: { id },
    }),
  );

const getJob = (id: string) =>
  api.invoke<JobView>(
    httpEvent({
      method: 'GET',
      path: `/api/media/${id}/`,
      routeKey: 'GET /api/media/{id}',
      pathParameters: { id },
    }),
  );

const failedJob = async (overrides: Partial<Job> = {}): Promise<Job> => {
  const job = newJob({
    status: 'failed',
    file_hash: 'd'.repeat(64),
    detected_type: 'image/jpeg',
    media_kind: 'image',
    attempts: 1,
    error: 'the renderer ran out of memory',
    error_code: 'Image::RenderFailed',
    ...overrides,
  });
  await api.store.create(job);
  return job;
};

describe('POST /api/media/{id}/retry/', () => {
  it('starts the next run, with a fresh attempt budget, of a job whose run used every attempt on a transient failure', async () => {
    // Prepare: an outage outlasted the automatic attempts of run 1
    const job = await failedJob({
      attempts: 3,
      error: 'gave up after 3 attempts: an unexpected InternalError occurred',
      error_code: 'Internal::Unexpected',
      failure_kind: 'transient',
    });

    // Act
    const response = await retry(job.id);

    // Assess
    expect(response.statusCode).toBe(202);
    expect(response.body).toEqual({ job_id: job.id, status: 'queued', attempts: 0, attempt: 1, run: 2 });
    expect(await api.env.drain(api.env.queues.image.url)).toEqual([{ kind: 'process', job_id: job.id }]);
    const stored = await api.store.get(job.id);
    expect(stored).toMatchObject({ status: 'queued', attempts: 0, run: 2, enqueued_at: expect.any(String) });
    expect(stored?.error).toBeUndefined();
    expect(stored?.failure_kind).toBeUndefined();
  });

  it('retries a job again after its retried run failed, up to maxRetries runs after the first', async () => {
    // Prepare: run 3 failed; the default allows 3 retries, so run 4 is the last
    const job = await failedJob({ attempts: 3, run: 3, failure_kind: 'transient' });

    // Act
    const fourth = await retry(job.id);
    const failedAgain = await api.store.fail(job.id, 'deadLettered', {
      code: 'Processing::DeadLettered',
      message: 'crashed',
    });
    const fifth = await retry<ErrorBody>(job.id);

    // Assess
    expect(fourth.statusCode).toBe(202);
    expect(fourth.body.run).toBe(4);
    expect(failedAgain).toMatchObject({ status: 'failed', run: 4 });
    expect(fifth.statusCode).toBe(409);
    expect(fifth.body.error).toEqual({
      code: 'Retry::RetriesExhausted',
      message: `job ${job.id} cannot be retried: it was already retried 3 of 3 times; upload the file again to start a new job`,
    });
    await api.env.drain(api.env.queues.image.url);
  });

  it('answers the same without the trailing slash', async () => {
    const job = await failedJob({ attempts: 2 });

    const response = await retry(job.id, { trailingSlash: false });

    expect(response.statusCode).toBe(202);
    expect(response.body.run).toBe(2);
    await api.env.drain(api.env.queues.image.url);
  });

  it('starts one run for two retries of one failure sent at once, and says the other found it in progress', async () => {
    // Prepare
    const job = await failedJob({ attempts: 3, failure_kind: 'transient' });

    // Act
    const responses = await Promise.all([
      retry<ErrorBody | RetriedJob>(job.id),
      retry<ErrorBody | RetriedJob>(job.id),
    ]);

    // Assess
    expect(responses.map((response) => response.statusCode).sort()).toEqual([202, 409]);
    const refused = responses.find((response) => response.statusCode === 409)?.body as ErrorBody;
    expect(refused.error.code).toBe('Retry::JobInProgress');
    expect(await api.store.get(job.id)).toMatchObject({ status: 'queued', run: 2, attempts: 0 });
    expect(await api.env.drain(api.env.queues.image.url)).toEqual([{ kind: 'process', job_id: job.id }]);
  });

  it.each([
    ['done', { status: 'done' }, 'Retry::JobDone', /the job is done/],
    ['queued', { status: 'queued' }, 'Retry::JobInProgress', /the job is still processing/],
    ['processing', { status: 'processing' }, 'Retry::JobInProgress', /the job is still processing/],
    [
      'awaiting its upload',
      { status: 'awaiting_upload', media_kind: undefined },
      'Retry::AwaitingUpload',
      /waiting for its upload/,
    ],
    [
      'retried as often as allowed',
      { attempts: 3, run: 4 },
      'Retry::RetriesExhausted',
      /already retried 3 of 3 times; upload the file again to start a new job$/,
    ],
    [
      'corrupt',
      {
        error: 'the image is truncated or corrupt and cannot be read',
        error_code: 'Media::Corrupt',
        failure_kind: 'permanent',
      },
      'Retry::PermanentFailure',
      /another run cannot change: the image is truncated or corrupt and cannot be read; upload a valid file in an accepted format as a new job$/,
    ],
    [
      'over a cap',
      {
        error: 'the image has more pixels than the limit allows',
        error_code: 'Media::TooManyPixels',
        failure_kind: 'permanent',
      },
      'Retry::PermanentFailure',
      /more pixels than the limit allows; upload a smaller image as a new job \(GET \/api\/presets\/ lists the limits\)$/,
    ],
    [
      'unsupported (recorded before failures had a kind)',
      { error: 'the file is not an image in a format we accept', error_code: 'Media::Unsupported' },
      'Retry::PermanentFailure',
      /in a format we accept; upload a valid file in an accepted format as a new job$/,
    ],
    [
      'changed after ingest checked it',
      {
        error:
          'the uploaded file was replaced after it was checked, so it is not processed; upload the file again as a new job',
        error_code: 'Upload::Changed',
        failure_kind: 'permanent',
      },
      'Retry::PermanentFailure',
      /it is not processed; upload the file again as a new job$/,
    ],
    [
      'refused at upload',
      { media_kind: undefined, error: 'the uploaded file is empty (0 bytes)', error_code: 'Upload::Empty' },
      'Retry::UploadRefused',
      /the upload was refused: the uploaded file is empty \(0 bytes\); upload a valid file instead$/,
    ],
  ] satisfies [string, Partial<Job>, string, RegExp][])(
    'answers 409 for a job that is %s',
    async (_case, overrides, code, message) => {
      const job = await failedJob(overrides);

      const response = await retry<ErrorBody>(job.id);

      expect(response.statusCode).toBe(409);
      expect(response.body).toEqual({ error: { code, message: expect.stringMatching(message) } });
      expect((await api.store.get(job.id))?.status).toBe(job.status);
    },
  );

  it('answers 409 for a duplicate, naming the job to retry instead', async () => {
    const canonical = await failedJob();
    const duplicate = newJob({ status: 'duplicate', duplicate_of: canonical.id });
    await api.store.create(duplicate);

    const response = await retry<ErrorBody>(duplicate.id);

    expect(response.statusCode).toBe(409);
    expect(response.body.error).toEqual({
      code: 'Retry::Duplicate',
      message: `job ${duplicate.id} is a duplicate of ${canonical.id}; retry ${canonical.id}`,
    });
  });

  it('answers 503 and leaves the job failed as it was, run and attempts included, when its queue cannot take the message', async () => {
    // Prepare
    const job = await failedJob({
      media_kind: 'video',
      detected_type: 'video/mp4',
      content_type: 'video/mp4',
      attempts: 3,
      run: 2,
      failure_kind: 'transient',
    });

    // Act
    const response = await retry<ErrorBody>(job.id);

    // Assess
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe('30');
    expect(response.body.error).toEqual({
      code: 'Retry::QueueUnavailable',
      message: expect.stringMatching(/still failed; retry again in a minute/),
    });
    expect(await api.store.get(job.id)).toMatchObject({
      status: 'failed',
      attempts: 3,
      run: 2,
      error: job.error,
      error_code: job.error_code,
      failure_kind: 'transient',
    });
    // The run it came back to can be retried later, as before.
    expect((await getJob(job.id)).body).toMatchObject({ status: 'failed', run: 2, retryable: true });
  });

  it('answers 404 for a job that does not exist', async () => {
    const response = await retry<ErrorBody>(randomUUID());

    expect(response.statusCode).toBe(404);
    expect(response.body.error.code).toBe('Job::NotFound');
  });

  it('answers 400 for a malformed id', async () => {
    const response = await retry<ErrorBody>('42');

    expect(response.statusCode).toBe(400);
    expect(response.body.error).toMatchObject({ code: 'Request::InvalidJobId', field: 'id' });
  });
});

describe('the job view: retryable and run', () => {
  it.each([
    ['failed transiently', { attempts: 3, failure_kind: 'transient' }, true, 1],
    [
      'failed transiently in its last allowed run',
      { attempts: 3, run: 4, failure_kind: 'transient' },
      false,
      4,
    ],
    ['failed permanently', { error_code: 'Media::Corrupt', failure_kind: 'permanent' }, false, 1],
    ['refused at upload', { media_kind: undefined, error_code: 'Upload::Empty' }, false, 1],
    ['done', { status: 'done', error: undefined, error_code: undefined }, false, 1],
    ['processing its second run', { status: 'processing', run: 2, attempts: 1 }, false, 2],
  ] satisfies [string, Partial<Job>, boolean, number][])(
    'shows a job that is %s as retryable %s, in run %s',
    async (_case, overrides, retryable, run) => {
      const job = await failedJob(overrides);

      const response = await getJob(job.id);

      expect(response.statusCode).toBe(200);
      expect(response.body).toMatchObject({ retryable, run });
    },
  );

  it('shows a duplicate as not retryable, with its canonical job’s run', async () => {
    const canonical = await failedJob({ run: 2, failure_kind: 'transient' });
    const duplicate = newJob({ status: 'duplicate', duplicate_of: canonical.id });
    await api.store.create(duplicate);

    const response = await getJob(duplicate.id);

    expect(response.body).toMatchObject({ status: 'failed', retryable: false, run: 2 });
  });
});
