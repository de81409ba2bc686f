import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CfnResource } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostArchitecture } from '#lib/architecture';
import type { MediaPipelineStack } from '#lib/media-pipeline-stack';
import { PROJECT_ROOT } from '#lib/paths';
import { type SynthesizedPipeline, synthesizePipeline } from './synthesize.ts';
import { actionsOf, environmentOf, referencedId, references, TemplateQueries } from './template-queries.ts';

/** Variables every function gets from MediaFunction, on top of its own. */
const COMMON_ENVIRONMENT = ['NODE_OPTIONS', 'POWERTOOLS_SERVICE_NAME', 'POWERTOOLS_METRICS_NAMESPACE'];

const SERVICES = [
  'media-api',
  'media-ingest',
  'media-image',
  'media-video',
  'media-webhook',
  'media-dead-letter',
  'media-web',
  'media-reconciler',
  'media-authorizer',
];

const HOST_ARCHITECTURE = hostArchitecture() ?? 'x86_64';

describe('MediaPipeline stack', () => {
  // Prepare and Act, once for the file: synthesizing bundles every function with esbuild.
  let synthesized: SynthesizedPipeline;
  let stack: MediaPipelineStack;
  let template: Template;
  let queries: TemplateQueries;
  const logicalId = (construct: IConstruct | undefined): string => {
    if (!construct) throw new Error('the construct is not in this stack');
    return stack.resolve((construct.node.defaultChild as CfnResource).logicalId) as string;
  };

  beforeAll(() => {
    // On this machine's architecture, so that the bundles load here with their layers' binaries (the
    // deployed default, arm64, is test/infra/architecture.test.ts's).
    synthesized = synthesizePipeline({ architecture: HOST_ARCHITECTURE });
    ({ stack, template } = synthesized);
    queries = new TemplateQueries(template);
  });
  afterAll(() => synthesized?.cleanUp());

  describe('functions', () => {
    it('defines the project functions on nodejs22.x and the architecture asked for, with source maps and Powertools settings', () => {
      // Assess
      const functions = queries.projectFunctions();
      expect([...functions.keys()].sort()).toEqual([...SERVICES].sort());
      for (const [service, { properties }] of functions) {
        expect(properties.Runtime, service).toBe('nodejs22.x');
        expect(properties.Architectures, service).toEqual([HOST_ARCHITECTURE]);
        expect(properties.Handler, service).toBe('index.handler');
        expect(environmentOf(properties), service).toMatchObject({
          NODE_OPTIONS: '--enable-source-maps',
          POWERTOOLS_SERVICE_NAME: service,
          POWERTOOLS_METRICS_NAMESPACE: 'MediaPipeline',
        });
      }
    });

    it('runs no function of any kind on a runtime other than nodejs22.x, except CDK’s python notification handler', () => {
      // Assess
      const runtimes = queries.ofType('AWS::Lambda::Function').map(([, fn]) => String(fn.Properties.Runtime));
      expect(runtimes.filter((runtime) => runtime.startsWith('nodejs') && runtime !== 'nodejs22.x')).toEqual(
        [],
      );
    });

    it.each([
      { service: 'media-api', memory: 512, timeout: 10 },
      { service: 'media-ingest', memory: 1024, timeout: 300 },
      { service: 'media-image', memory: 2048, timeout: 60 },
      { service: 'media-video', memory: 3008, timeout: 300 },
      { service: 'media-webhook', memory: 256, timeout: 30 },
      { service: 'media-dead-letter', memory: 256, timeout: 30 },
      { service: 'media-web', memory: 256, timeout: 5 },
      { service: 'media-reconciler', memory: 1024, timeout: 300 },
      { service: 'media-authorizer', memory: 256, timeout: 5 },
    ])('sizes $service with $memory MB and $timeout s', ({ service, memory, timeout }) => {
      // Assess
      const { properties } = queries.projectFunction(service);
      expect(properties.MemorySize).toBe(memory);
      expect(properties.Timeout).toBe(timeout);
    });

    it('gives the video function room in /tmp for the largest video presets.json accepts', () => {
      // Prepare
      const presets = JSON.parse(readFileSync(join(PROJECT_ROOT, 'presets.json'), 'utf8')) as {
        limits: { video_max_bytes: number };
      };
      // Assess
      const { properties } = queries.projectFunction('media-video');
      const ephemeralMiB = (properties.EphemeralStorage as { Size: number }).Size;
      expect(ephemeralMiB * 1024 ** 2).toBeGreaterThan(presets.limits.video_max_bytes);
      expect(ephemeralMiB).toBeGreaterThanOrEqual(4096);
    });

    it.each([
      {
        service: 'media-api',
        variables: [
          'JOBS_TABLE',
          'UPLOADS_BUCKET',
          'RESULTS_BUCKET',
          'IMAGE_QUEUE_URL',
          'VIDEO_QUEUE_URL',
          'WEBHOOK_QUEUE_URL',
          'MAX_ATTEMPTS',
          'MAX_RETRIES',
          'ALLOW_LOOPBACK_CALLBACKS',
          'CALLBACK_PORTS',
          'MULTIPART_THRESHOLD_BYTES',
          'QUOTA_JOBS_PER_DAY',
          'QUOTA_BYTES_PER_DAY',
          'UPLOAD_RETENTION_DAYS',
          'RESULT_RETENTION_DAYS',
          'AUTH_MODE',
          'TENANT_CLAIM',
        ],
      },
      {
        service: 'media-ingest',
        variables: [
          'JOBS_TABLE',
          'UPLOADS_BUCKET',
          'IMAGE_QUEUE_URL',
          'VIDEO_QUEUE_URL',
          'WEBHOOK_QUEUE_URL',
        ],
      },
      {
        service: 'media-image',
        variables: [
          'JOBS_TABLE',
          'UPLOADS_BUCKET',
          'RESULTS_BUCKET',
          'QUEUE_URL',
          'WEBHOOK_QUEUE_URL',
          'MAX_ATTEMPTS',
          'ATTEMPT_TIMEOUT_SECONDS',
        ],
      },
      {
        service: 'media-video',
        variables: [
          'JOBS_TABLE',
          'UPLOADS_BUCKET',
          'RESULTS_BUCKET',
          'QUEUE_URL',
          'WEBHOOK_QUEUE_URL',
          'MAX_ATTEMPTS',
          'ATTEMPT_TIMEOUT_SECONDS',
          'FFMPEG_PATH',
          'FFPROBE_PATH',
        ],
      },
      {
        service: 'media-webhook',
        variables: [
          'JOBS_TABLE',
          'QUEUE_URL',
          'WEBHOOK_SECRET_ARN',
          'TENANTS_TABLE',
          'ALLOW_LOOPBACK_CALLBACKS',
          'CALLBACK_PORTS',
          'WEBHOOK_MAX_ATTEMPTS',
        ],
      },
      { service: 'media-authorizer', variables: ['TENANTS_TABLE'] },
      { service: 'media-dead-letter', variables: ['JOBS_TABLE', 'WEBHOOK_QUEUE_URL', 'UPLOADS_BUCKET'] },
      { service: 'media-web', variables: ['UPLOADS_BUCKET', 'RESULTS_BUCKET'] },
      {
        service: 'media-reconciler',
        variables: [
          'JOBS_TABLE',
          'UPLOADS_BUCKET',
          'IMAGE_QUEUE_URL',
          'VIDEO_QUEUE_URL',
          'WEBHOOK_QUEUE_URL',
          'MAX_ATTEMPTS',
          'IMAGE_TIMEOUT_SECONDS',
          'VIDEO_TIMEOUT_SECONDS',
          'IMAGE_VISIBILITY_TIMEOUT_SECONDS',
          'VIDEO_VISIBILITY_TIMEOUT_SECONDS',
          'RETRY_MAX_SECONDS',
          'UPLOAD_DEADLINE_SECONDS',
          'ENQUEUE_DEADLINE_SECONDS',
          'ANNOUNCE_DEADLINE_SECONDS',
          'MARGIN_SECONDS',
          'PAGE_LIMIT',
        ],
      },
    ])('gives $service exactly its environment', ({ service, variables }) => {
      // Assess
      const environment = environmentOf(queries.projectFunction(service).properties);
      const own = Object.keys(environment).filter((name) => !COMMON_ENVIRONMENT.includes(name));
      expect(own.sort()).toEqual([...variables].sort());
    });

    it('points each processor at its own queue, and passes the settings as the strings the functions parse', () => {
      // Assess
      const image = environmentOf(queries.projectFunction('media-image').properties);
      const video = environmentOf(queries.projectFunction('media-video').properties);
      const webhook = environmentOf(queries.projectFunction('media-webhook').properties);
      const api = environmentOf(queries.projectFunction('media-api').properties);
      expect(referencedId(image.QUEUE_URL)).toBe(logicalId(stack.processing.imageQueue.queue));
      expect(referencedId(video.QUEUE_URL)).toBe(logicalId(stack.processing.videoQueue.queue));
      expect(referencedId(webhook.QUEUE_URL)).toBe(logicalId(stack.notifications.webhookQueue.queue));
      expect(image.MAX_ATTEMPTS).toBe('3');
      expect(api.MAX_ATTEMPTS).toBe('3');
      expect(api.MAX_RETRIES).toBe('3');
      expect(api.ALLOW_LOOPBACK_CALLBACKS).toBe('false');
      expect(webhook.ALLOW_LOOPBACK_CALLBACKS).toBe('false');
      expect(api.CALLBACK_PORTS).toBe('80,443,8080,8443');
      expect(webhook.CALLBACK_PORTS).toBe(api.CALLBACK_PORTS);
      expect(webhook.WEBHOOK_MAX_ATTEMPTS).toBe('8');
    });

    it('keeps each function’s logs in its own log group, with a retention', () => {
      // Assess
      for (const service of SERVICES) {
        const { properties } = queries.projectFunction(service);
        const logGroupId = referencedId((properties.LoggingConfig as { LogGroup: unknown }).LogGroup);
        expect(queries.get(logGroupId).Properties.RetentionInDays, service).toBe(30);
      }
    });
  });

  describe('queues', () => {
    it('redrives image and video jobs after the receives their retention allows, webhooks after webhookMaxAttempts + 22', () => {
      // Assess: the arithmetic is in lib/retry-budgets.ts and test/infra/throttling.test.ts
      const cases = [
        { queue: stack.processing.imageQueue, maxReceiveCount: 1000 },
        { queue: stack.processing.videoQueue, maxReceiveCount: 336 },
        { queue: stack.notifications.webhookQueue, maxReceiveCount: 30 },
      ];
      for (const { queue, maxReceiveCount } of cases) {
        expect(queries.get(logicalId(queue.queue)).Properties.RedrivePolicy).toEqual({
          deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(queue.deadLetterQueue), 'Arn'] },
          maxReceiveCount,
        });
      }
    });

    it('keeps webhook messages 4 days, longer than their whole retry schedule (about 33 h at most)', () => {
      // Assess
      const webhookQueue = queries.get(logicalId(stack.notifications.webhookQueue.queue));
      expect(webhookQueue.Properties.MessageRetentionPeriod).toBe(4 * 24 * 3600);
    });

    it('keeps dead letters for 14 days and raises an alarm as soon as one arrives', () => {
      // Prepare: the drained queues count receives (the dead-letter function empties them in seconds),
      // the webhook one, kept for a redrive, its depth (test/infra/monitoring.test.ts has the details)
      const deadLetterQueues = [
        { deadLetter: stack.processing.imageQueue.deadLetter, metric: 'NumberOfMessagesReceived' },
        { deadLetter: stack.processing.videoQueue.deadLetter, metric: 'NumberOfMessagesReceived' },
        {
          deadLetter: stack.notifications.webhookQueue.deadLetter,
          metric: 'ApproximateNumberOfMessagesVisible',
        },
        { deadLetter: stack.ingest.deadLetter, metric: 'NumberOfMessagesReceived' },
      ];
      // Assess
      for (const { deadLetter, metric } of deadLetterQueues) {
        const queueId = logicalId(deadLetter.queue);
        expect(queries.get(queueId).Properties.MessageRetentionPeriod).toBe(14 * 24 * 3600);
        expect(queries.get(logicalId(deadLetter.alarm)).Properties).toMatchObject({
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          EvaluationPeriods: 1,
          MetricName: metric,
          Namespace: 'AWS/SQS',
          Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
        });
      }
    });

    it('encrypts every queue with SQS-managed keys and refuses requests without TLS', () => {
      // Assess
      const queues = queries.ofType('AWS::SQS::Queue');
      // image, video and webhook queues with their dead-letter queues, and the ingest dead-letter queue
      expect(queues).toHaveLength(7);
      for (const [queueId, queue] of queues) {
        expect(queue.Properties.SqsManagedSseEnabled, queueId).toBe(true);
        const tlsOnly = queries
          .ofType('AWS::SQS::QueuePolicy')
          .filter(([, policy]) => references(policy.Properties.Queues, queueId))
          .flatMap(([, policy]) => (policy.Properties.PolicyDocument as { Statement: unknown[] }).Statement)
          .filter(
            (statement) =>
              Match.objectLike({
                Effect: 'Deny',
                Condition: { Bool: { 'aws:SecureTransport': 'false' } },
              }).test(statement).isSuccess,
          );
        expect(tlsOnly, queueId).toHaveLength(1);
      }
    });

    it('gives every queue a visibility timeout of at least six times its consumer’s timeout', () => {
      // Assess
      const mappings = queries.ofType('AWS::Lambda::EventSourceMapping');
      expect(mappings.length).toBeGreaterThan(0);
      for (const [mappingId, mapping] of mappings) {
        const queue = queries.get(referencedId(mapping.Properties.EventSourceArn));
        const consumer = queries.get(referencedId(mapping.Properties.FunctionName));
        const visibilityTimeout = Number(queue.Properties.VisibilityTimeout ?? 30);
        expect(visibilityTimeout, mappingId).toBeGreaterThanOrEqual(
          6 * Number(consumer.Properties.Timeout ?? 3),
        );
      }
    });

    it('reports batch item failures on every SQS event source, with each consumer’s batch size', () => {
      // Prepare
      const batchSizeOf = (service: string, queue: IConstruct) => {
        const fnId = queries.projectFunction(service).logicalId;
        const mapping = queries
          .ofType('AWS::Lambda::EventSourceMapping')
          .find(
            ([, m]) =>
              referencedId(m.Properties.FunctionName) === fnId &&
              referencedId(m.Properties.EventSourceArn) === logicalId(queue),
          );
        return mapping?.[1].Properties.BatchSize;
      };
      // Assess
      for (const [mappingId, mapping] of queries.ofType('AWS::Lambda::EventSourceMapping')) {
        expect(mapping.Properties.FunctionResponseTypes, mappingId).toEqual(['ReportBatchItemFailures']);
      }
      expect(batchSizeOf('media-image', stack.processing.imageQueue.queue)).toBe(4);
      expect(batchSizeOf('media-video', stack.processing.videoQueue.queue)).toBe(1);
      expect(batchSizeOf('media-webhook', stack.notifications.webhookQueue.queue)).toBe(10);
    });

    it('drains the image, video and ingest dead-letter queues into the dead-letter function, not the webhook one', () => {
      // Assess
      const deadLetterFunctionId = queries.projectFunction('media-dead-letter').logicalId;
      const drained = queries
        .ofType('AWS::Lambda::EventSourceMapping')
        .filter(([, mapping]) => referencedId(mapping.Properties.FunctionName) === deadLetterFunctionId)
        .map(([, mapping]) => referencedId(mapping.Properties.EventSourceArn))
        .sort();
      expect(drained).toEqual(
        [
          logicalId(stack.processing.imageQueue.deadLetterQueue),
          logicalId(stack.processing.videoQueue.deadLetterQueue),
          logicalId(stack.ingest.deadLetter.queue),
        ].sort(),
      );
      const webhookDeadLetterId = logicalId(stack.notifications.webhookQueue.deadLetterQueue);
      const webhookDeadLetterConsumers = queries
        .ofType('AWS::Lambda::EventSourceMapping')
        .filter(([, mapping]) => referencedId(mapping.Properties.EventSourceArn) === webhookDeadLetterId);
      expect(webhookDeadLetterConsumers).toEqual([]);
    });
  });

  describe('ingest', () => {
    it('is invoked for every object created under uploads/ in the uploads bucket, and for nothing else', () => {
      // Assess
      const notifications = queries.ofType('Custom::S3BucketNotifications');
      expect(notifications).toHaveLength(1);
      const [, notification] = notifications[0] ?? [];
      expect(notification?.Properties).toMatchObject({
        BucketName: { Ref: logicalId(stack.storage.uploadsBucket) },
        NotificationConfiguration: {
          LambdaFunctionConfigurations: [
            {
              Events: ['s3:ObjectCreated:*'],
              Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'uploads/' }] } },
              LambdaFunctionArn: { 'Fn::GetAtt': [queries.projectFunction('media-ingest').logicalId, 'Arn'] },
            },
          ],
        },
      });
      expect(notification?.Properties.NotificationConfiguration).not.toHaveProperty('QueueConfigurations');
    });

    it('lets S3 of this account invoke it for the uploads bucket only', () => {
      // Assess
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        Principal: 's3.amazonaws.com',
        FunctionName: { 'Fn::GetAtt': [queries.projectFunction('media-ingest').logicalId, 'Arn'] },
        SourceArn: { 'Fn::GetAtt': [logicalId(stack.storage.uploadsBucket), 'Arn'] },
        SourceAccount: { Ref: 'AWS::AccountId' },
      });
    });

    it('retries a failed event twice, then hands it to the ingest dead-letter queue', () => {
      // Prepare
      const { logicalId: ingestId, properties } = queries.projectFunction('media-ingest');
      // Assess
      expect(properties.DeadLetterConfig).toEqual({
        TargetArn: { 'Fn::GetAtt': [logicalId(stack.ingest.deadLetter.queue), 'Arn'] },
      });
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: ingestId },
        MaximumRetryAttempts: 2,
      });
    });
  });

  describe('storage', () => {
    it('lets browsers PUT, POST, GET and HEAD uploads from the allowed origins and read the ETag', () => {
      // Assess
      expect(queries.get(logicalId(stack.storage.uploadsBucket)).Properties.CorsConfiguration).toEqual({
        CorsRules: [
          {
            AllowedOrigins: ['*'],
            AllowedMethods: ['PUT', 'POST', 'GET', 'HEAD'],
            AllowedHeaders: ['*'],
            ExposedHeaders: ['ETag'],
            MaxAge: 3000,
          },
        ],
      });
    });

    it('lets browsers only GET and HEAD results', () => {
      // Assess
      const rules = (
        queries.get(logicalId(stack.storage.resultsBucket)).Properties.CorsConfiguration as {
          CorsRules: { AllowedMethods: string[] }[];
        }
      ).CorsRules;
      expect(rules.map((rule) => rule.AllowedMethods)).toEqual([['GET', 'HEAD']]);
    });

    it('keeps both buckets private, encrypted, TLS-only, access-logged and retained', () => {
      for (const bucket of [stack.storage.uploadsBucket, stack.storage.resultsBucket]) {
        // Prepare
        const bucketId = logicalId(bucket);
        const resource = queries.get(bucketId);
        // Assess
        expect(resource.Properties.PublicAccessBlockConfiguration, bucketId).toEqual({
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        });
        expect(resource.Properties.BucketEncryption, bucketId).toEqual({
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        });
        expect(resource.Properties.LoggingConfiguration, bucketId).toMatchObject({
          DestinationBucketName: { Ref: logicalId(stack.storage.accessLogsBucket) },
        });
        expect(resource.DeletionPolicy, bucketId).toBe('Retain');
        template.hasResourceProperties('AWS::S3::BucketPolicy', {
          Bucket: { Ref: bucketId },
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({
                Effect: 'Deny',
                Principal: { AWS: '*' },
                Action: 's3:*',
                Condition: { Bool: { 'aws:SecureTransport': 'false' } },
              }),
            ]),
          },
        });
      }
    });

    it('aborts incomplete multipart uploads after a day', () => {
      // Assess
      // The expiry rules beside it: test/infra/storage-lifetimes.test.ts.
      const lifecycle = queries.get(logicalId(stack.storage.uploadsBucket)).Properties.LifecycleConfiguration;
      expect((lifecycle as { Rules: unknown[] }).Rules).toContainEqual({
        Id: 'AbortIncompleteMultipartUploads',
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
        Status: 'Enabled',
      });
    });

    it('keys the jobs table by pk alone, on demand, with point-in-time recovery and a ttl attribute', () => {
      // Assess
      const table = queries.get(logicalId(stack.storage.jobsTable));
      expect(table.Properties).toMatchObject({
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: expect.arrayContaining([{ AttributeName: 'pk', AttributeType: 'S' }]),
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      });
      expect(table.DeletionPolicy).toBe('Retain');
    });
  });

  describe('reconciler', () => {
    const tableId = () => logicalId(stack.storage.jobsTable);

    it('indexes the open jobs sparsely: open_shard and idle_since, with what the reconciler decides from', () => {
      // Assess
      const table = queries.get(tableId());
      expect(table.Properties.GlobalSecondaryIndexes).toEqual([
        {
          IndexName: 'open-jobs',
          KeySchema: [
            { AttributeName: 'open_shard', KeyType: 'HASH' },
            { AttributeName: 'idle_since', KeyType: 'RANGE' },
          ],
          Projection: {
            ProjectionType: 'INCLUDE',
            NonKeyAttributes: [
              'status',
              'updated_at',
              'enqueued_at',
              'attempts',
              'media_kind',
              'callback_url',
              'duplicate_of',
              'webhook',
              'upload_key',
              'announced_at',
            ],
          },
        },
        {
          IndexName: 'tenant-jobs',
          KeySchema: [
            { AttributeName: 'tenant', KeyType: 'HASH' },
            { AttributeName: 'created_at', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ]);
      expect(table.Properties.AttributeDefinitions).toEqual(
        expect.arrayContaining([
          { AttributeName: 'open_shard', AttributeType: 'S' },
          { AttributeName: 'idle_since', AttributeType: 'S' },
        ]),
      );
    });

    it('runs the reconciler every five minutes from an EventBridge rule, with no retries', () => {
      // Prepare
      const { logicalId: functionId } = queries.projectFunction('media-reconciler');
      const rules = queries.ofType('AWS::Events::Rule');
      // Assess
      expect(rules).toHaveLength(1);
      const [, rule] = rules[0] ?? [];
      expect(rule?.Properties).toMatchObject({ ScheduleExpression: 'rate(5 minutes)', State: 'ENABLED' });
      const targets = rule?.Properties.Targets as { Arn: unknown; RetryPolicy?: unknown }[];
      expect(targets).toHaveLength(1);
      expect(referencedId(targets[0]?.Arn)).toBe(functionId);
      expect(targets[0]?.RetryPolicy).toEqual({ MaximumRetryAttempts: 0 });
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        Principal: 'events.amazonaws.com',
        FunctionName: { 'Fn::GetAtt': [functionId, 'Arn'] },
      });
    });

    it('gives the reconciler the processors’ timeouts, their queues’ visibility timeouts and the deadlines', () => {
      // Assess
      const environment = environmentOf(queries.projectFunction('media-reconciler').properties);
      expect(environment).toMatchObject({
        MAX_ATTEMPTS: '3',
        IMAGE_TIMEOUT_SECONDS: '60',
        VIDEO_TIMEOUT_SECONDS: '300',
        IMAGE_VISIBILITY_TIMEOUT_SECONDS: '360',
        VIDEO_VISIBILITY_TIMEOUT_SECONDS: '1800',
        RETRY_MAX_SECONDS: '900',
        UPLOAD_DEADLINE_SECONDS: '600',
        ENQUEUE_DEADLINE_SECONDS: '120',
        ANNOUNCE_DEADLINE_SECONDS: '600',
        MARGIN_SECONDS: '120',
        PAGE_LIMIT: '25',
      });
      expect(referencedId(environment.JOBS_TABLE)).toBe(tableId());
      expect(referencedId(environment.UPLOADS_BUCKET)).toBe(logicalId(stack.storage.uploadsBucket));
      expect(referencedId(environment.IMAGE_QUEUE_URL)).toBe(logicalId(stack.processing.imageQueue.queue));
      expect(referencedId(environment.VIDEO_QUEUE_URL)).toBe(logicalId(stack.processing.videoQueue.queue));
      expect(referencedId(environment.WEBHOOK_QUEUE_URL)).toBe(
        logicalId(stack.notifications.webhookQueue.queue),
      );
    });

    it('lets the reconciler query the open-jobs index, read and write jobs, and read uploads only', () => {
      // Prepare
      const statements = queries.statementsOf('media-reconciler');
      const indexQueries = statements.filter((statement) =>
        JSON.stringify(statement.Resource).includes('/index/open-jobs'),
      );
      // Assess
      expect(indexQueries).toHaveLength(1);
      expect(actionsOf(indexQueries[0] as (typeof statements)[number])).toEqual(['dynamodb:Query']);
      expect(queries.grants('media-reconciler', 'dynamodb:UpdateItem', tableId())).toHaveLength(1);
      expect(
        queries.grants('media-reconciler', 's3:GetObject', logicalId(stack.storage.uploadsBucket)),
      ).toHaveLength(1);
      const s3Actions = statements.flatMap(actionsOf).filter((action) => action.startsWith('s3:'));
      expect(s3Actions.sort()).toEqual(['s3:GetObject', 's3:ListBucket']);
    });

    it('lets the reconciler read the image and video queues’ backlog, and neither receive nor delete', () => {
      // Prepare
      const queueIds = {
        image: logicalId(stack.processing.imageQueue.queue),
        video: logicalId(stack.processing.videoQueue.queue),
        webhook: logicalId(stack.notifications.webhookQueue.queue),
      };
      const sqsActions = queries
        .statementsOf('media-reconciler')
        .flatMap(actionsOf)
        .filter((action) => action.startsWith('sqs:'));
      // Assess: GetQueueAttributes before calling queued jobs' messages lost, on the processing queues
      for (const id of [queueIds.image, queueIds.video]) {
        expect(queries.grants('media-reconciler', 'sqs:GetQueueAttributes', id)).not.toHaveLength(0);
      }
      expect([...new Set(sqsActions)].sort()).toEqual([
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:SendMessage',
      ]);
    });

    it('lets the API query the tenant-jobs index only, and no other function read any index', () => {
      const apiIndexGrants = queries
        .statementsOf('media-api')
        .filter((statement) => JSON.stringify(statement.Resource).includes('/index/'));
      expect(apiIndexGrants.map((statement) => actionsOf(statement))).toEqual([['dynamodb:Query']]);
      expect(JSON.stringify(apiIndexGrants[0]?.Resource)).toContain('/index/tenant-jobs');
      for (const service of SERVICES.filter((name) => !['media-reconciler', 'media-api'].includes(name))) {
        // Assess
        const indexGrants = queries
          .statementsOf(service)
          .filter((statement) => JSON.stringify(statement.Resource).includes('/index/'));
        expect(indexGrants, service).toEqual([]);
      }
    });
  });

  describe('layers and bundles', () => {
    const layersOf = (service: string): string[] =>
      ((queries.projectFunction(service).properties.Layers as unknown[] | undefined) ?? []).map(referencedId);

    it('gives the video function the ffmpeg layer and the paths of its binaries', () => {
      // Assess
      expect(layersOf('media-video')).toEqual([logicalId(stack.processing.ffmpegLayer)]);
      expect(environmentOf(queries.projectFunction('media-video').properties)).toMatchObject({
        FFMPEG_PATH: '/opt/bin/ffmpeg',
        FFPROBE_PATH: '/opt/bin/ffprobe',
      });
    });

    it('gives the image function the sharp layer, and no other function any layer', () => {
      // Assess
      expect(layersOf('media-image')).toEqual([logicalId(stack.processing.sharpLayer)]);
      for (const service of SERVICES.filter((s) => s !== 'media-image' && s !== 'media-video')) {
        expect(layersOf(service), service).toEqual([]);
      }
    });

    /** Where an asset (a function's Code, a layer's Content) is staged in the cloud assembly. */
    const assetDirectory = (code: unknown): string =>
      join(synthesized.outdir, `asset.${(code as { S3Key: string }).S3Key.replace(/\.zip$/, '')}`);
    const bundleDirectoryOf = (service: string): string =>
      assetDirectory(queries.projectFunction(service).properties.Code);
    const layerDirectoryOf = (layer: IConstruct | undefined): string =>
      assetDirectory(queries.get(logicalId(layer)).Properties.Content);
    /** The bundle and its source map. */
    const bundleOf = (service: string): { code: string; sources: string[] } => {
      const directory = bundleDirectoryOf(service);
      const map = JSON.parse(readFileSync(join(directory, 'index.js.map'), 'utf8')) as { sources: string[] };
      return { code: readFileSync(join(directory, 'index.js'), 'utf8'), sources: map.sources };
    };
    const NATIVE_MEDIA = /node_modules\/(sharp|@img|@ffmpeg-installer|@ffprobe-installer)\//;

    it('keeps sharp and ffmpeg out of the API bundle', () => {
      // Act
      const api = bundleOf('media-api');
      // Assess
      expect(api.sources.length).toBeGreaterThan(0);
      expect(api.sources.filter((source) => NATIVE_MEDIA.test(source))).toEqual([]);
      expect(api.code).not.toMatch(/require\(["']sharp["']\)/);
      expect(api.code).not.toMatch(/ffmpeg|ffprobe/i);
    });

    it('leaves sharp out of the image bundle, to be required from the layer', () => {
      // Act
      const image = bundleOf('media-image');
      // Assess
      expect(image.code).toMatch(/require\(["']sharp["']\)/);
      expect(image.sources.filter((source) => NATIVE_MEDIA.test(source))).toEqual([]);
    });

    it('bundles the AWS SDK into the functions instead of relying on the runtime’s copy', () => {
      // Act
      const ingest = bundleOf('media-ingest');
      // Assess
      expect(ingest.sources.some((source) => source.includes('node_modules/@aws-sdk/client-s3/'))).toBe(true);
    });

    it('stages the layers’ binaries executable by any user', () => {
      // Assess
      for (const binary of ['ffmpeg', 'ffprobe']) {
        const mode =
          statSync(join(layerDirectoryOf(stack.processing.ffmpegLayer), 'bin', binary)).mode & 0o777;
        expect(mode.toString(8), binary).toBe('755');
      }
      const sharpPackage = join(
        layerDirectoryOf(stack.processing.sharpLayer),
        'nodejs',
        'node_modules',
        'sharp',
      );
      expect(statSync(join(sharpPackage, 'package.json')).isFile()).toBe(true);
    });

    it.each(SERVICES)(
      'loads the %s bundle in a bare Node process with only the environment the stack gives it',
      (service) => {
        // Prepare: Lambda's view of the function: its environment (deploy-time values stand in for
        // references), and NODE_PATH to its layers' node_modules as Lambda sets it.
        const { properties } = queries.projectFunction(service);
        const environment = Object.fromEntries(
          Object.entries(environmentOf(properties)).map(([name, value]) => [
            name,
            typeof value === 'string' ? value : `https://deploy-time.invalid/${name}`,
          ]),
        );
        const layerNodeModules = ((properties.Layers as unknown[] | undefined) ?? []).map((layer) =>
          join(assetDirectory(queries.get(referencedId(layer)).Properties.Content), 'nodejs', 'node_modules'),
        );
        const bundle = join(bundleDirectoryOf(service), 'index.js');
        // Act
        const run = spawnSync(
          process.execPath,
          [
            '-e',
            `const m = require(${JSON.stringify(bundle)}); if (typeof m.handler !== 'function') process.exit(3);`,
          ],
          {
            cwd: tmpdir(),
            encoding: 'utf8',
            timeout: 20_000,
            env: {
              PATH: process.env.PATH,
              AWS_REGION: 'us-east-1',
              AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
              LAMBDA_TASK_ROOT: bundleDirectoryOf(service),
              NODE_PATH: layerNodeModules.join(':'),
              ...environment,
            },
          },
        );
        // Assess
        expect(run.stderr, service).not.toMatch(/Error/);
        expect(run.status, service).toBe(0);
      },
    );
  });

  describe('HTTP API', () => {
    it('routes the API paths to the one API function, with payload format 2.0', () => {
      // Prepare: the page's routes (`GET /`, …) are the web page's, below.
      const apiFunctionId = queries.projectFunction('media-api').logicalId;
      const routes = queries
        .ofType('AWS::ApiGatewayV2::Route')
        .map(([, route]) => route.Properties)
        .filter((route) => String(route.RouteKey).includes(' /api/'))
        // The catch-all routes (test/infra/api-letter.test.ts) share the integration.
        .filter((route) => !String(route.RouteKey).includes('{proxy+}'));
      const integrations = queries
        .ofType('AWS::ApiGatewayV2::Integration')
        .filter(([, integration]) => references(integration.Properties.IntegrationUri, apiFunctionId));
      // Assess
      expect(routes.map((route) => route.RouteKey).sort()).toEqual(
        [
          'GET /api/media',
          'GET /api/media/{id}',
          'DELETE /api/media/{id}',
          'GET /api/presets',
          'POST /api/media',
          'POST /api/media/{id}/retry',
          'POST /api/media/{id}/upload/parts',
          'GET /api/media/{id}/upload/parts',
          'POST /api/media/{id}/upload/complete',
          'POST /api/media/{id}/upload/abort',
        ].sort(),
      );
      expect(integrations).toHaveLength(1);
      const [integrationId, integration] = integrations[0] ?? [];
      expect(integration?.Properties).toMatchObject({
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
        IntegrationUri: { 'Fn::GetAtt': [queries.projectFunction('media-api').logicalId, 'Arn'] },
      });
      for (const route of routes) expect(references(route.Target, String(integrationId))).toBe(true);
    });

    it.each([
      ['POST', '/api/media'],
      ['POST', '/api/media/'],
      ['GET', '/api/media/0b8a3c52-3f0e-4a8e-9d59-3c1f7c0e2b11'],
      ['GET', '/api/media/0b8a3c52-3f0e-4a8e-9d59-3c1f7c0e2b11/'],
      ['POST', '/api/media/0b8a3c52-3f0e-4a8e-9d59-3c1f7c0e2b11/retry'],
      ['POST', '/api/media/0b8a3c52-3f0e-4a8e-9d59-3c1f7c0e2b11/retry/'],
      ['GET', '/api/presets'],
      ['GET', '/api/presets/'],
      ['POST', '/api/media/0b8a3c52-3f0e-4a8e-9d59-3c1f7c0e2b11/upload/parts'],
      ['GET', '/api/media/0b8a3c52-3f0e-4a8e-9d59-3c1f7c0e2b11/upload/parts/'],
      ['POST', '/api/media/0b8a3c52-3f0e-4a8e-9d59-3c1f7c0e2b11/upload/complete/'],
      ['POST', '/api/media/0b8a3c52-3f0e-4a8e-9d59-3c1f7c0e2b11/upload/abort'],
    ])(
      'serves %s %s through a declared route (an HTTP API matches a trailing slash to the route without it)',
      (method, path) => {
        // Prepare
        const routeKeys = queries
          .ofType('AWS::ApiGatewayV2::Route')
          .map(([, route]) => String(route.Properties.RouteKey));
        const matches = (routeKey: string): boolean => {
          const [routeMethod, routePath = ''] = routeKey.split(' ');
          const pattern = new RegExp(`^${routePath.replace(/\{\w+\}/g, '[^/]+')}/?$`);
          return routeMethod === method && pattern.test(path);
        };
        // Assess
        expect(routeKeys.filter(matches)).toHaveLength(1);
        // The root (`GET /`, the web page) is the one path that is only a slash.
        expect(routeKeys.every((key) => key.endsWith(' /') || !key.endsWith('/'))).toBe(true);
      },
    );

    it('answers CORS preflights for the allowed origins', () => {
      // Assess
      template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
        ProtocolType: 'HTTP',
        CorsConfiguration: {
          AllowOrigins: ['*'],
          AllowMethods: Match.arrayWith(['GET', 'POST', 'DELETE']),
          // A browser does not count Authorization as covered by `*`: it must be named.
          AllowHeaders: ['*', 'authorization'],
        },
      });
    });

    it('throttles the default stage and writes access logs', () => {
      // Assess
      template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        StageName: '$default',
        AutoDeploy: true,
        DefaultRouteSettings: { ThrottlingBurstLimit: 200, ThrottlingRateLimit: 100 },
        AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
      });
    });
  });

  describe('web page', () => {
    const pageDirectory = (): string =>
      join(
        synthesized.outdir,
        `asset.${(queries.projectFunction('media-web').properties.Code as { S3Key: string }).S3Key.replace(/\.zip$/, '')}`,
      );

    it('serves GET /, /app.js, /app.css and /favicon.svg from the web function, through its own integration', () => {
      // Prepare
      const webFunctionId = queries.projectFunction('media-web').logicalId;
      const integrations = queries
        .ofType('AWS::ApiGatewayV2::Integration')
        .filter(([, integration]) => references(integration.Properties.IntegrationUri, webFunctionId));
      const [integrationId, integration] = integrations[0] ?? [];
      const routes = queries
        .ofType('AWS::ApiGatewayV2::Route')
        .map(([, route]) => route.Properties)
        .filter((route) => references(route.Target, String(integrationId)));
      // Assess
      expect(integrations).toHaveLength(1);
      expect(integration?.Properties).toMatchObject({
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
      });
      expect(routes.map((route) => route.RouteKey).sort()).toEqual([
        'GET /',
        'GET /app.css',
        'GET /app.js',
        'GET /favicon.svg',
      ]);
    });

    it('ships the page built at synth time in the function’s asset, its references versioned by content', () => {
      // Act
      const html = readFileSync(join(pageDirectory(), 'index.html'), 'utf8');
      const script = readFileSync(join(pageDirectory(), 'app.js'));
      const styles = readFileSync(join(pageDirectory(), 'app.css'));
      const version = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex').slice(0, 12);
      // Assess
      expect(html).toContain(`<script type="module" src="app.js?v=${version(script)}"></script>`);
      expect(html).toContain(`<link rel="stylesheet" href="app.css?v=${version(styles)}">`);
      // One browser module: the page and the client it imports, nothing left to resolve at run time.
      expect(script.toString()).not.toMatch(/\bfrom\s*["']|\bimport\s*\(|require\(/);
      expect(script.toString()).toContain('/api/presets/');
    });

    it('gives the web function no permission beyond writing its own logs', () => {
      // Assess
      const actions = queries.statementsOf('media-web').flatMap(actionsOf);
      expect(actions.length).toBeGreaterThan(0);
      expect(actions.filter((action) => !action.startsWith('logs:'))).toEqual([]);
    });

    it('answers GET / with the page, its Content-Security-Policy naming the buckets the browser talks to', () => {
      // Prepare
      const bundle = join(pageDirectory(), 'index.js');
      const event = {
        routeKey: 'GET /',
        rawPath: '/',
        headers: {},
        requestContext: { http: { method: 'GET' } },
      };
      // Act
      const run = spawnSync(
        process.execPath,
        [
          '-e',
          `require(${JSON.stringify(bundle)}).handler(${JSON.stringify(event)}).then((r) => process.stdout.write(JSON.stringify(r)));`,
        ],
        {
          cwd: tmpdir(),
          encoding: 'utf8',
          timeout: 20_000,
          env: {
            PATH: process.env.PATH,
            AWS_REGION: 'eu-west-3',
            LAMBDA_TASK_ROOT: pageDirectory(),
            UPLOADS_BUCKET: 'uploads-bucket-name',
            RESULTS_BUCKET: 'results-bucket-name',
          },
        },
      );
      // Assess
      expect(run.stderr).toBe('');
      const response = JSON.parse(run.stdout) as {
        statusCode: number;
        headers: Record<string, string>;
        body: string;
      };
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(response.body).toBe(readFileSync(join(pageDirectory(), 'index.html'), 'utf8'));
      expect(response.headers['content-security-policy']).toContain(
        "connect-src 'self' https://uploads-bucket-name.s3.eu-west-3.amazonaws.com;",
      );
      expect(response.headers['content-security-policy']).toContain(
        "img-src 'self' https://results-bucket-name.s3.eu-west-3.amazonaws.com;",
      );
    });
  });

  describe('least privilege', () => {
    const bucketId = (name: 'uploads' | 'results'): string =>
      logicalId(name === 'uploads' ? stack.storage.uploadsBucket : stack.storage.resultsBucket);

    it('lets the API put uploads and read results, never write results', () => {
      // Assess
      expect(queries.grants('media-api', 's3:PutObject', bucketId('uploads'))).toHaveLength(1);
      expect(queries.grants('media-api', 's3:GetObject', bucketId('results'))).toHaveLength(1);
      expect(queries.grants('media-api', 's3:PutObject', bucketId('results'))).toEqual([]);
    });

    it('lets the API delete objects under uploads/ and results/ only, and no other function delete any', () => {
      // Assess
      for (const [bucket, prefix] of [
        ['uploads', '/uploads/*'],
        ['results', '/results/*'],
      ] as const) {
        const grants = queries.grants('media-api', 's3:DeleteObject', bucketId(bucket));
        expect(grants, bucket).toHaveLength(1);
        expect(JSON.stringify(grants[0]?.Resource), bucket).toContain(prefix);
      }
      for (const service of SERVICES.filter((name) => name !== 'media-api')) {
        const deletes = queries
          .statementsOf(service)
          .filter((statement) => actionsOf(statement).includes('s3:DeleteObject'));
        expect(deletes, service).toEqual([]);
      }
    });

    it('lets the API list and abort multipart uploads under uploads/ only, and no other function', () => {
      // Prepare
      const multipartActions = ['s3:AbortMultipartUpload', 's3:ListMultipartUploadParts'];
      // Assess
      for (const action of multipartActions) {
        const grants = queries.grants('media-api', action, bucketId('uploads'));
        expect(grants, action).toHaveLength(1);
        expect(JSON.stringify(grants[0]?.Resource), action).toContain('/uploads/*');
        expect(queries.grants('media-api', action, bucketId('results')), action).toEqual([]);
      }
      for (const service of SERVICES.filter((name) => name !== 'media-api')) {
        const statements = queries
          .statementsOf(service)
          .filter((statement) => actionsOf(statement).some((action) => multipartActions.includes(action)));
        expect(statements, service).toEqual([]);
      }
    });

    it('gives the API function its multipart threshold', () => {
      // Assess
      expect(environmentOf(queries.projectFunction('media-api').properties)).toMatchObject({
        MULTIPART_THRESHOLD_BYTES: String(100 * 1024 * 1024),
      });
    });

    it('lets the processors read uploads and write results, never write uploads', () => {
      for (const service of ['media-image', 'media-video']) {
        // Assess
        expect(queries.grants(service, 's3:GetObject', bucketId('uploads')), service).toHaveLength(1);
        expect(queries.grants(service, 's3:PutObject', bucketId('results')), service).toHaveLength(1);
        expect(queries.grants(service, 's3:PutObject', bucketId('uploads')), service).toEqual([]);
      }
    });

    it('lets ingest read uploads and write no object anywhere', () => {
      // Assess
      expect(queries.grants('media-ingest', 's3:GetObject', bucketId('uploads'))).toHaveLength(1);
      const writes = queries
        .statementsOf('media-ingest')
        .filter((statement) => actionsOf(statement).some((action) => action.startsWith('s3:Put')));
      expect(writes).toEqual([]);
    });

    it('gives the webhook function no S3 access at all', () => {
      // Assess
      const s3 = queries
        .statementsOf('media-webhook')
        .filter((s) => actionsOf(s).some((a) => a.startsWith('s3:')));
      expect(s3).toEqual([]);
    });

    it('lets the dead-letter function look at uploads (is the file still there?) and nothing else in S3', () => {
      // Assess
      expect(queries.grants('media-dead-letter', 's3:GetObject', bucketId('uploads'))).toHaveLength(1);
      expect(queries.grants('media-dead-letter', 's3:GetObject', bucketId('results'))).toEqual([]);
      const writes = queries
        .statementsOf('media-dead-letter')
        .filter((statement) => actionsOf(statement).some((action) => /^s3:(Put|Delete)/.test(action)));
      expect(writes).toEqual([]);
    });

    it('lets only the webhook function read the signing secret', () => {
      // Prepare
      const secretId = logicalId(stack.notifications.webhookSecret);
      // Assess
      for (const service of SERVICES) {
        const reads = queries.grants(service, 'secretsmanager:GetSecretValue', secretId);
        expect(reads, service).toHaveLength(service === 'media-webhook' ? 1 : 0);
      }
      const secretsAnywhere = queries
        .statementsOf('media-image')
        .filter((statement) => actionsOf(statement).some((action) => action.startsWith('secretsmanager:')));
      expect(secretsAnywhere).toEqual([]);
    });

    it('lets each function send only to the queues it feeds', () => {
      // Prepare
      const queueIds = {
        image: logicalId(stack.processing.imageQueue.queue),
        video: logicalId(stack.processing.videoQueue.queue),
        webhook: logicalId(stack.notifications.webhookQueue.queue),
      };
      const sendsTo = (service: string): string[] =>
        Object.entries(queueIds)
          .filter(([, id]) => queries.grants(service, 'sqs:SendMessage', id).length > 0)
          .map(([name]) => name)
          .sort();
      // Assess
      expect(sendsTo('media-api')).toEqual(['image', 'video', 'webhook']);
      expect(sendsTo('media-ingest')).toEqual(['image', 'video', 'webhook']);
      expect(sendsTo('media-image')).toEqual(['webhook']);
      expect(sendsTo('media-video')).toEqual(['webhook']);
      expect(sendsTo('media-webhook')).toEqual([]);
      expect(sendsTo('media-dead-letter')).toEqual(['webhook']);
      expect(sendsTo('media-reconciler')).toEqual(['image', 'video', 'webhook']);
    });

    it('grants no function a wildcard action or an unscoped resource', () => {
      for (const service of SERVICES) {
        for (const statement of queries.statementsOf(service)) {
          // Assess
          expect(
            actionsOf(statement).filter((action) => action === '*' || action.endsWith(':*')),
            service,
          ).toEqual([]);
          expect(JSON.stringify(statement.Resource), service).not.toBe('"*"');
        }
      }
    });
  });

  it('generates a 32-character alphanumeric webhook secret', () => {
    // Assess
    expect(queries.get(logicalId(stack.notifications.webhookSecret)).Properties.GenerateSecretString).toEqual(
      {
        ExcludePunctuation: true,
        IncludeSpace: false,
        PasswordLength: 32,
      },
    );
  });

  it('passes cdk-nag’s AWS Solutions checks with every finding fixed or acknowledged where it arises', () => {
    // Act
    const report = new AwsSolutionsChecks().validateScope(stack);
    // Assess
    const findings = report.violations.map(
      (violation) =>
        `${violation.ruleName}: ${violation.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
  });

  it.each([
    'ApiUrl',
    'UploadsBucketName',
    'ResultsBucketName',
    'JobsTableName',
    'TenantsTableName',
    'AuthMode',
    'WebhookSecretArn',
    'WebhookSecretName',
    'ImageQueueUrl',
    'VideoQueueUrl',
    'WebhookQueueUrl',
    'ImageDeadLetterQueueUrl',
    'VideoDeadLetterQueueUrl',
    'IngestDeadLetterQueueUrl',
    'WebhookDeadLetterQueueUrl',
    'AlarmTopicArn',
    'DashboardName',
  ])('exports the %s output', (name) => {
    // Assess
    template.hasOutput(name, { Value: Match.anyValue() });
  });
});
