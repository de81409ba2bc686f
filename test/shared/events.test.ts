import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { processMessageSchema } from '#shared/dispatch';
import { decodeS3Key, describeIssues, jsonStringified, s3EventSchema } from '#shared/events';

describe('S3 notifications', () => {
  it('decode object keys as S3 encodes them, + for spaces', () => {
    const event = s3EventSchema.parse({
      Records: [
        {
          eventName: 'ObjectCreated:Put',
          s3: { bucket: { name: 'uploads' }, object: { key: 'uploads/holiday+photo%C3%A9%2B1.jpg' } },
        },
      ],
    });

    expect(event.Records[0]?.s3.object.key).toBe('uploads/holiday photoé+1.jpg');
    expect(decodeS3Key('a%2Fb+c')).toBe('a/b c');
  });

  it('refuse an event with no records or without the fields ingest reads', () => {
    expect(s3EventSchema.safeParse({ Records: [] }).success).toBe(false);
    expect(s3EventSchema.safeParse({ Records: [{ s3: { object: { key: 'k' } } }] }).success).toBe(false);
    expect(s3EventSchema.safeParse('uploads/a').success).toBe(false);
  });
});

describe('jsonStringified', () => {
  const body = jsonStringified(processMessageSchema);
  const jobId = '0b7f3c1e-2a4d-4b5e-8f6a-1c2d3e4f5a6b';

  it('parses a JSON body and checks its shape in one step', () => {
    expect(body.parse(JSON.stringify({ kind: 'process', job_id: jobId }))).toEqual({
      kind: 'process',
      job_id: jobId,
    });
  });

  it('fails the same way for text that is not JSON and JSON of another shape, saying which', () => {
    const notJson = body.safeParse('{"kind": "process", job_id');
    const wrongShape = body.safeParse(JSON.stringify({ kind: 'process', job_id: 'not-a-uuid' }));

    expect(notJson.success).toBe(false);
    expect(wrongShape.success).toBe(false);
    expect(describeIssues((notJson as { error: z.ZodError }).error)).toBe('body: the body is not JSON');
    expect(describeIssues((wrongShape as { error: z.ZodError }).error)).toMatch(/^job_id: /);
  });

  it('never echoes the body itself into what it reports', () => {
    const secret = 'x'.repeat(50);
    const result = jsonStringified(z.object({ a: z.number() })).safeParse(JSON.stringify({ a: secret }));

    expect(result.success).toBe(false);
    expect(describeIssues((result as { error: z.ZodError }).error)).not.toContain(secret);
  });
});
