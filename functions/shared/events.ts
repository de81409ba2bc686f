import { z } from 'zod';

/**
 * The events the functions receive, parsed once at the edge: S3 notifications (ingest, and the S3
 * events Lambda puts on ingest's dead-letter queue) and JSON message bodies of SQS records. Inside,
 * handlers and domain code get typed values and never parse again.
 *
 * What a malformed event does is decided per consumer and logged there: a processing, webhook or
 * dead-letter message that does not parse can never succeed, so it is acknowledged with an error log
 * line rather than cycled through its retries into a dead-letter queue.
 */

/** Keys in S3 notifications are URL-encoded, with '+' for spaces. */
export const decodeS3Key = (key: string): string => decodeURIComponent(key.replace(/\+/g, ' '));

export const s3EventRecordSchema = z.object({
  eventName: z.string(),
  s3: z.object({
    bucket: z.object({ name: z.string() }),
    /** The object's key, decoded. */
    object: z.object({ key: z.string().transform(decodeS3Key) }),
  }),
});
export type S3EventRecord = z.infer<typeof s3EventRecordSchema>;

export const s3EventSchema = z.object({ Records: z.array(s3EventRecordSchema).min(1) });

/**
 * A string holding JSON, parsed and then checked against `schema` (Powertools' JSONStringified idea):
 * one parse for a record body, and one failure path for "not JSON" and "not this shape".
 */
export const jsonStringified = <T extends z.ZodType>(schema: T) =>
  z
    .string()
    .transform((text, context): unknown => {
      try {
        return JSON.parse(text);
      } catch {
        context.addIssue({ code: 'custom', message: 'the body is not JSON' });
        return z.NEVER;
      }
    })
    .pipe(schema);

/** What a log line says of a body that did not parse: the first issues, never the whole body. */
export const describeIssues = (error: z.ZodError): string =>
  error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`)
    .join('; ');
