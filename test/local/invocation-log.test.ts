import { describe, expect, it } from 'vitest';
import { renderLogRecord } from '../../local/function-log.ts';
import {
  createInvocationLog,
  fitMiddle,
  formatInvocation,
  INVOCATION_LOG_HEADER,
  type InvocationRecord,
} from '../../local/invocation-log.ts';

const jobId = '0b9f5a52-3c1e-4d8a-9f3e-2a6b7c8d9e0f';
const otherJob = '1c2d3e4f-0000-4000-8000-000000000000';
const startedAt = new Date(2026, 0, 2, 12, 1, 2, 345);

const record = (overrides: Partial<InvocationRecord>): InvocationRecord => ({
  startedAt,
  functionName: 'image',
  logicalId: 'ImageFunction',
  trigger: 'sqs ImageQueue',
  requestId: 'r',
  coldStart: false,
  event: {},
  outcome: { ok: true, result: null, durationMs: 41 },
  ...overrides,
});

const sqsBatch = (...jobIds: string[]) => ({
  Records: jobIds.map((id, i) => ({ messageId: `m${i}`, body: JSON.stringify({ job_id: id }) })),
});

describe('invocation lines', () => {
  it('are stamped with the end time, under a header that says so', () => {
    // Act
    const line = formatInvocation(record({ outcome: { ok: true, result: null, durationMs: 1_700 } }));

    // Assess
    expect(line.startsWith('12:01:04.045 image ')).toBe(true);
    expect(INVOCATION_LOG_HEADER).toMatch(/^ended +function +trigger +took +outcome/);
  });

  it('say failed with the share of an SQS batch the function reported failed', () => {
    // Act
    const line = formatInvocation(
      record({
        event: sqsBatch(jobId, otherJob, otherJob, otherJob),
        outcome: { ok: true, result: { batchItemFailures: [{ itemIdentifier: 'm0' }] }, durationMs: 812 },
      }),
    );

    // Assess
    expect(line).toContain(' failed 1/4 ');
    expect(line).not.toMatch(/ ok\b/);
  });

  it('say failed with the error code when the job failed while the function ran', () => {
    // Act
    const line = formatInvocation(record({ event: sqsBatch(jobId) }), [
      {
        jobId,
        status: 'failed',
        errorCode: 'Image::Corrupt',
        updatedAt: new Date(startedAt.getTime() + 20).toISOString(),
      },
    ]);

    // Assess
    expect(line).toMatch(/ failed Image::Corrupt {2}job 0b9f5a52$/);
  });

  it('say ok for a job that had failed before the invocation (a webhook announcing it)', () => {
    // Act
    const line = formatInvocation(record({ functionName: 'webhook', event: sqsBatch(jobId) }), [
      { jobId, status: 'failed', errorCode: 'Image::Corrupt', updatedAt: '2026-01-01T00:00:00.000Z' },
    ]);

    // Assess
    expect(line).toMatch(/ ok {2}job 0b9f5a52$/);
  });

  it('say error for an HTTP 5xx and ok for other statuses', () => {
    // Act
    const error = formatInvocation(
      record({
        trigger: 'http GET /api/media',
        outcome: { ok: true, result: { statusCode: 500 }, durationMs: 3 },
      }),
    );
    const conflict = formatInvocation(
      record({
        trigger: 'http GET /api/media',
        outcome: { ok: true, result: { statusCode: 409 }, durationMs: 3 },
      }),
    );

    // Assess
    expect(error).toMatch(/ error 500$/);
    expect(conflict).toMatch(/ ok 409$/);
  });

  it('name the job once, short, and keep the end of a long path', () => {
    // Act
    const retry = formatInvocation(
      record({
        functionName: 'api',
        trigger: `http POST /api/media/${jobId}/retry`,
        event: { rawPath: `/api/media/${jobId}/retry` },
        outcome: {
          ok: true,
          result: { statusCode: 202, body: JSON.stringify({ job_id: jobId }) },
          durationMs: 12,
        },
      }),
    );
    const complete = formatInvocation(
      record({
        functionName: 'api',
        trigger: `http POST /api/media/uploads/${jobId}/multipart/parts/complete-with-a-long-tail/complete`,
        outcome: { ok: true, result: { statusCode: 200 }, durationMs: 12 },
      }),
    );

    // Assess
    expect(retry).toContain('http POST /api/media/0b9f5a52…/retry ');
    expect(retry.match(/0b9f5a52/g)).toHaveLength(1);
    expect(retry).not.toContain(jobId);
    expect(complete).toContain('…');
    expect(complete).toMatch(/\/complete +12 ms/);
  });

  it('say stopped for an invocation the runtime cut short when it stopped', () => {
    // Act
    const line = formatInvocation(
      record({
        outcome: {
          ok: false,
          kind: 'crash',
          error: { name: 'Runtime.Shutdown', message: 'the local runtime is shutting down' },
          durationMs: 900,
        },
      }),
    );

    // Assess
    expect(line).toContain(' stopped ');
    expect(line).not.toContain('error');
  });

  it('are written in the order the invocations ended, verdicts and all', async () => {
    // Prepare
    const lines: string[] = [];
    let release: () => void = () => {};
    const slow = new Promise<void>((resolve) => {
      release = resolve;
    });
    const log = createInvocationLog({
      write: (line) => lines.push(line),
      jobVerdict: async (id) => {
        if (id === jobId) await slow;
        return undefined;
      },
    });

    // Act
    log(record({ functionName: 'first', event: sqsBatch(jobId) }));
    log(record({ functionName: 'second', event: sqsBatch(otherJob) }));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const beforeRelease = lines.length;
    release();
    await new Promise((resolve) => setTimeout(resolve, 20));

    // Assess
    expect(beforeRelease).toBe(0);
    expect(lines.map((line) => line.split(/\s+/)[1])).toEqual(['first', 'second']);
  });

  it('cut a long path in the middle', () => {
    expect(fitMiddle('abcdefghijklmnopqrstuvwxyz', 11)).toBe('abcde…vwxyz');
  });
});

describe('function log records', () => {
  it('render a Powertools WARN record as level, message and the fields that matter, in one short line', () => {
    // Prepare
    const json = JSON.stringify({
      level: 'WARN',
      message: 'attempt failed',
      timestamp: '2026-01-02T12:01:02.345Z',
      service: 'media-pipeline',
      cold_start: false,
      function_arn:
        'arn:aws:lambda:us-east-1:000000000000:function:MediaPipeline-ImageFunction1234ABCD-abcdefgh',
      function_memory_size: '1536',
      function_name: 'MediaPipeline-ImageFunction1234ABCD-abcdefgh',
      function_request_id: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
      sampling_rate: 0,
      xray_trace_id: '1-5759e988-bd862e3fe1be46a994272793',
      job_id: jobId,
      attempts: 1,
      error: {
        name: 'TimeoutError',
        location: '/var/task/index.mjs:1:2',
        message: 'socket hang up',
        stack: `TimeoutError: socket hang up\n${'    at somewhere (/var/task/index.mjs:1:2)\n'.repeat(10)}`,
      },
    });

    // Act
    const line = renderLogRecord(json);

    // Assess
    expect(json.length).toBeGreaterThan(600);
    expect(line).toBe('WARN attempt failed job=0b9f5a52 attempts=1 error="TimeoutError: socket hang up"');
  });

  it('leave lines that are not log records alone', () => {
    expect(renderLogRecord('Invoke Error {"errorType":"Error"}')).toBeUndefined();
    expect(renderLogRecord('{"not":"a log record"}')).toBeUndefined();
  });

  it('cut a record with a long value to a line', () => {
    // Act
    const line = renderLogRecord(JSON.stringify({ level: 'ERROR', message: 'x', detail: 'y'.repeat(1_000) }));

    // Assess
    expect(line?.length).toBeLessThanOrEqual(240);
    expect(line?.startsWith('ERROR x detail=')).toBe(true);
  });
});
