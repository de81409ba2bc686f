import type { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { S3Event } from 'aws-lambda';
import { inject, vi } from 'vitest';
import type { JobStore } from '#shared/job-store';
import { JOBS_TABLE_KEYS, OPEN_JOBS_INDEX, TENANT_JOBS_INDEX } from '#shared/jobs-table';
import type { TenantStore } from '#shared/tenants';
import { retryBudgets } from '../../lib/retry-budgets.ts';
import { localS3Client, startS3 as startLocalS3, startSqs as startLocalSqs } from '../../local/emulators.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../local/types.ts';
import { createTenantsTable } from './tenants-table.ts';

export { LOCAL_CREDENTIALS, localS3Client };
export const REGION = LOCAL_REGION;

export interface S3Emulator {
  endpoint: string;
  /** Every S3 notification s3rver emits, in AWS's event shape. */
  events: EventEmitter<{ event: [S3Event] }>;
  nextEvent(filter?: (event: S3Event) => boolean, timeoutMs?: number): Promise<S3Event>;
  close(): Promise<void>;
}

/** s3rver in this process, on a fresh directory, with a helper to await the next matching notification. */
export const startS3 = async (): Promise<S3Emulator> => {
  const directory = await mkdtemp(join(tmpdir(), 's3rver-'));
  const { endpoint, events, stop } = await startLocalS3({ directory });
  return {
    endpoint,
    events,
    nextEvent: (filter = () => true, timeoutMs = 5_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          events.off('event', listener);
          reject(new Error(`no matching S3 event within ${timeoutMs} ms`));
        }, timeoutMs);
        const listener = (event: S3Event) => {
          if (!filter(event)) return;
          clearTimeout(timer);
          events.off('event', listener);
          resolve(event);
        };
        events.on('event', listener);
      }),
    close: async () => {
      await stop();
      await rm(directory, { recursive: true, force: true });
    },
  };
};

export interface SqsEmulator {
  endpoint: string;
  close(): Promise<void>;
}

export const startSqs = async (): Promise<SqsEmulator> => {
  const { endpoint, stop } = await startLocalSqs();
  return { endpoint, close: stop };
};

export interface QueuePair {
  url: string;
  arn: string;
  dlqUrl: string;
}

export interface TestEnvironment {
  s3: S3Emulator;
  sqsEndpoint: string;
  clients: { s3: S3Client; sqs: SQSClient; dynamodb: DynamoDBClient };
  tableName: string;
  /** The tenants table (functions/shared/tenants.ts), empty. */
  tenantsTable: string;
  uploadsBucket: string;
  resultsBucket: string;
  queues: { image: QueuePair; video: QueuePair; webhook: QueuePair; ingestDlqUrl: string };
  /** Receives whatever is visible on a queue now (up to `max`), leaving it in flight. */
  receive(
    queueUrl: string,
    max?: number,
    waitSeconds?: number,
  ): Promise<import('@aws-sdk/client-sqs').Message[]>;
  /** Receives and deletes every message visible now; returns their bodies, parsed. */
  drain(queueUrl: string): Promise<unknown[]>;
  /** Approximate visible + in-flight messages, as SQS reports them. */
  depth(queueUrl: string): Promise<{ visible: number; inFlight: number }>;
  /**
   * Empties every queue and dead-letter queue, in flight or not: an `afterEach` that keeps one test's
   * leftovers (a failed record returns at once, RETRY_BASE_SECONDS and WEBHOOK_MAX_DELAY_SECONDS are 0) out of the next test's receives.
   */
  purgeQueues(): Promise<void>;
  /**
   * The functions' JobStore on this environment's table, through the functions' own DynamoDB client
   * (imported now, after the environment is stubbed, as a handler would at cold start).
   */
  jobStore(): Promise<JobStore>;
  /** The functions' TenantStore on `tenantsTable`, through their own DynamoDB client (as `jobStore`). */
  tenantStore(): Promise<TenantStore>;
  close(): Promise<void>;
}

export interface TestEnvironmentOptions {
  maxAttempts?: number;
  webhookMaxAttempts?: number;
  /** Extra environment variables for the functions under test. */
  env?: Record<string, string>;
}

let counter = 0;

/**
 * Real S3, SQS and DynamoDB APIs for one test file: s3rver and fauxqs in this process, a table in the
 * run's shared DynamoDB Local, all named uniquely, and the functions' environment pointed at them the
 * way a Lambda's environment would be (the AWS SDK reads AWS_ENDPOINT_URL_<SERVICE>). Import the
 * handler under test only after this resolves: handlers parse their configuration at module load.
 */
export const createTestEnvironment = async (
  options: TestEnvironmentOptions = {},
): Promise<TestEnvironment> => {
  const { maxAttempts = 3, webhookMaxAttempts = 4 } = options;
  // The queues as the stack makes them (lib/retry-budgets.ts), for the settings this file tests with.
  const budgets = retryBudgets({ maxAttempts, webhookMaxAttempts });
  const suffix = `${process.pid}-${Date.now().toString(36)}-${counter++}`;
  const [s3, sqsServer] = await Promise.all([startS3(), startSqs()]);
  const dynamodbEndpoint = inject('dynamodbEndpoint');

  const common = { region: REGION, credentials: LOCAL_CREDENTIALS };
  const clients = {
    s3: localS3Client(s3.endpoint),
    sqs: new SQSClient({ ...common, endpoint: sqsServer.endpoint, useQueueUrlAsEndpoint: false }),
    dynamodb: new DynamoDBClient({ ...common, endpoint: dynamodbEndpoint }),
  };

  const tableName = `jobs-${suffix}`;
  const tenantsTable = `tenants-${suffix}`;
  const uploadsBucket = `uploads-${suffix}`.toLowerCase();
  const resultsBucket = `results-${suffix}`.toLowerCase();

  await clients.dynamodb.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: JOBS_TABLE_KEYS.partitionKey, AttributeType: 'S' },
        { AttributeName: OPEN_JOBS_INDEX.partitionKey, AttributeType: 'S' },
        { AttributeName: OPEN_JOBS_INDEX.sortKey, AttributeType: 'S' },
        { AttributeName: TENANT_JOBS_INDEX.partitionKey, AttributeType: 'S' },
        { AttributeName: TENANT_JOBS_INDEX.sortKey, AttributeType: 'S' },
      ],
      KeySchema: [{ AttributeName: JOBS_TABLE_KEYS.partitionKey, KeyType: 'HASH' }],
      // The sparse index of open jobs, as lib/storage.ts declares it.
      GlobalSecondaryIndexes: [
        {
          IndexName: OPEN_JOBS_INDEX.indexName,
          KeySchema: [
            { AttributeName: OPEN_JOBS_INDEX.partitionKey, KeyType: 'HASH' },
            { AttributeName: OPEN_JOBS_INDEX.sortKey, KeyType: 'RANGE' },
          ],
          Projection: {
            ProjectionType: 'INCLUDE',
            NonKeyAttributes: [...OPEN_JOBS_INDEX.projectedAttributes],
          },
        },
        {
          IndexName: TENANT_JOBS_INDEX.indexName,
          KeySchema: [
            { AttributeName: TENANT_JOBS_INDEX.partitionKey, KeyType: 'HASH' },
            { AttributeName: TENANT_JOBS_INDEX.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    }),
  );
  // The tenants table (keys and webhook secrets), as lib/ declares it: TENANTS_TABLE for the functions.
  const tenants = await createTenantsTable(clients.dynamodb, tenantsTable);
  await clients.dynamodb.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: JOBS_TABLE_KEYS.timeToLiveAttribute, Enabled: true },
    }),
  );
  await Promise.all([
    clients.s3.send(new CreateBucketCommand({ Bucket: uploadsBucket })),
    clients.s3.send(new CreateBucketCommand({ Bucket: resultsBucket })),
  ]);

  const createQueue = async (
    name: string,
    maxReceiveCount: number,
    visibilityTimeout = 30,
  ): Promise<QueuePair> => {
    const dlq = await clients.sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq-${suffix}` }));
    const dlqUrl = dlq.QueueUrl ?? '';
    const dlqAttributes = await clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }),
    );
    const queue = await clients.sqs.send(
      new CreateQueueCommand({
        QueueName: `${name}-${suffix}`,
        Attributes: {
          VisibilityTimeout: String(visibilityTimeout),
          RedrivePolicy: JSON.stringify({
            deadLetterTargetArn: dlqAttributes.Attributes?.QueueArn,
            maxReceiveCount,
          }),
        },
      }),
    );
    const url = queue.QueueUrl ?? '';
    const attributes = await clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
    );
    return { url, arn: attributes.Attributes?.QueueArn ?? '', dlqUrl };
  };

  const [image, video, webhook, ingestDlq] = await Promise.all([
    createQueue('image', budgets.image.maxReceiveCount),
    createQueue('video', budgets.video.maxReceiveCount),
    createQueue('webhook', budgets.webhook.maxReceiveCount),
    clients.sqs.send(new CreateQueueCommand({ QueueName: `ingest-dlq-${suffix}` })),
  ]);

  const env: Record<string, string> = {
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_ENDPOINT_URL_SQS: sqsServer.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamodbEndpoint,
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    S3_FORCE_PATH_STYLE: 'true',
    JOBS_TABLE: tableName,
    TENANTS_TABLE: tenantsTable,
    UPLOADS_BUCKET: uploadsBucket,
    RESULTS_BUCKET: resultsBucket,
    IMAGE_QUEUE_URL: image.url,
    VIDEO_QUEUE_URL: video.url,
    WEBHOOK_QUEUE_URL: webhook.url,
    MAX_ATTEMPTS: String(maxAttempts),
    WEBHOOK_MAX_ATTEMPTS: String(webhookMaxAttempts),
    RETRY_BASE_SECONDS: '0',
    WEBHOOK_MAX_DELAY_SECONDS: '0',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_DEV: 'true',
    ...options.env,
  };
  for (const [key, value] of Object.entries(env)) vi.stubEnv(key, value);

  const receive: TestEnvironment['receive'] = async (queueUrl, max = 10, waitSeconds = 0) => {
    const response = await clients.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: max,
        WaitTimeSeconds: waitSeconds,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    return response.Messages ?? [];
  };

  const drain: TestEnvironment['drain'] = async (queueUrl) => {
    const bodies: unknown[] = [];
    for (;;) {
      const messages = await receive(queueUrl, 10);
      if (messages.length === 0) return bodies;
      bodies.push(...messages.map((message) => JSON.parse(message.Body ?? 'null')));
      await clients.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: messages.map((message, index) => ({
            Id: String(index),
            ReceiptHandle: message.ReceiptHandle ?? '',
          })),
        }),
      );
    }
  };

  const depth: TestEnvironment['depth'] = async (queueUrl) => {
    const response = await clients.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return {
      visible: Number(response.Attributes?.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(response.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
    };
  };

  return {
    s3,
    sqsEndpoint: sqsServer.endpoint,
    clients,
    tableName,
    tenantsTable,
    uploadsBucket,
    resultsBucket,
    queues: { image, video, webhook, ingestDlqUrl: ingestDlq.QueueUrl ?? '' },
    receive,
    drain,
    depth,
    jobStore: async () => {
      const { JobStore } = await import('#shared/job-store');
      const { dynamodb } = await import('#shared/aws-clients');
      return new JobStore(dynamodb, tableName);
    },
    tenantStore: tenants.tenants,
    purgeQueues: async () => {
      const urls = [image, video, webhook].flatMap((queue) => [queue.url, queue.dlqUrl]);
      await Promise.all(
        [...urls, ingestDlq.QueueUrl ?? ''].map((QueueUrl) =>
          clients.sqs.send(new PurgeQueueCommand({ QueueUrl })),
        ),
      );
    },
    close: async () => {
      vi.unstubAllEnvs();
      clients.s3.destroy();
      clients.sqs.destroy();
      clients.dynamodb.destroy();
      await Promise.all([s3.close(), sqsServer.close()]);
    },
  };
};
