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
  }),
);

export const s3 = new S3Client({ forcePathStyle: clientConfig.S3_FORCE_PATH_STYLE });

/** Signs URLs for the host the caller will use; the same client as `s3` unless S3_PUBLIC_ENDPOINT is set. */
export const s3Presigner = clientConfig.S3_PUBLIC_ENDPOINT
  ? new S3Client({
      forcePathStyle: clientConfig.S3_FORCE_PATH_STYLE,
      endpoint: clientConfig.S3_PUBLIC_ENDPOINT,
    })
  : s3;

// Queue URLs carry the emulator's own host name (fauxqs: sqs.us-east-1.localhost): route by endpoint instead.
export const sqs = new SQSClient({ useQueueUrlAsEndpoint: false });

export const dynamodb = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
  marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
});
