import { Tracer } from '@aws-lambda-powertools/tracer';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { envBoolean, loadConfig } from './config.ts';

/**
 * SDK clients, created once per execution environment. Endpoints come from the SDK's own
 * AWS_ENDPOINT_URL_<SERVICE> variables and checksum behaviour from AWS_REQUEST_CHECKSUM_CALCULATION /
 * AWS_RESPONSE_CHECKSUM_VALIDATION, so the same code talks to AWS, LocalStack or the embedded emulators
 * with no branches. What the SDK has no variable for is read here, once.
 */
const clientConfig = loadConfig(
  z.object({
    /** Path-style S3 addressing, for emulators that do not serve bucket subdomains. */
    S3_FORCE_PATH_STYLE: envBoolean(false),
    /**
     * The S3 endpoint that clients outside this function reach, when it differs from the one the function
     * uses (LocalStack inside Docker): presigned URLs are signed for this host.
     */
    S3_PUBLIC_ENDPOINT: z.url().optional(),
    /**
     * X-Ray tracing of the SDK calls (the stack's `tracing` setting, which also turns on Lambda's active
     * tracing). Off, no tracer is created and the clients are left as they are.
     */
    POWERTOOLS_TRACE_ENABLED: envBoolean(false),
  }),
);

/** Powertools Tracer when tracing is on; it turns itself off outside Lambda (the local runtime). */
export const tracer: Tracer | undefined = clientConfig.POWERTOOLS_TRACE_ENABLED ? new Tracer() : undefined;

/** Each SDK call of a traced client becomes an X-Ray subsegment; without tracing the client is unchanged. */
const traced = <T>(client: T): T => (tracer ? tracer.captureAWSv3Client(client) : client);

export const s3 = traced(new S3Client({ forcePathStyle: clientConfig.S3_FORCE_PATH_STYLE }));

/**
 * Signs URLs for the host the caller will use (S3_PUBLIC_ENDPOINT when set). A client of its own, never
 * traced: presigning makes no call, and the tracer's middleware would record one and add a header.
 */
export const s3Presigner = new S3Client({
  forcePathStyle: clientConfig.S3_FORCE_PATH_STYLE,
  ...(clientConfig.S3_PUBLIC_ENDPOINT ? { endpoint: clientConfig.S3_PUBLIC_ENDPOINT } : {}),
});

// Queue URLs carry the emulator's own host name (fauxqs: sqs.us-east-1.localhost): route by endpoint instead.
export const sqs = traced(new SQSClient({ useQueueUrlAsEndpoint: false }));

// The document client sends through the base client's middleware stack: tracing the base client covers it.
export const dynamodb = DynamoDBDocumentClient.from(traced(new DynamoDBClient({})), {
  marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
});
