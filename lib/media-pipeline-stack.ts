import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { Alarm } from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';
import { DEFAULT_CALLBACK_PORTS } from '#shared/callback-url';
import { DEFAULT_MAX_RETRIES } from '#shared/job';
import { OPEN_JOBS_INDEX, TENANT_JOBS_INDEX } from '#shared/jobs-table';
import { type AuthMode, DEFAULT_TENANT_CLAIM } from '#shared/tenants';
import { Alerts } from './alerts.ts';
import { ApiAuth } from './api-auth.ts';
import {
  DEFAULT_ARCHITECTURE,
  hostArchitecture,
  type LambdaArchitecture,
  setStackArchitecture,
} from './architecture.ts';
import { MediaFunction } from './constructs/media-function.ts';
import { PipelineDashboard } from './dashboard.ts';
import { DEFAULT_DEAD_LETTER_MAX_CONCURRENCY, DeadLetters } from './dead-letters.ts';
import { DEFAULT_LOCALSTACK_PUBLIC_ENDPOINT, type DeploymentTarget } from './deployment-target.ts';
import { Ingest } from './ingest.ts';
import { applyLocalStackTarget } from './localstack-target.ts';
import { Monitoring, processorQueueTiming, webhookQueueTiming } from './monitoring.ts';
import { DEFAULT_WEBHOOK_MAX_CONCURRENCY, Notifications } from './notifications.ts';
import {
  DEFAULT_PROCESSING_MAX_CONCURRENCY,
  IMAGE_TIMEOUT,
  Processing,
  VIDEO_TIMEOUT,
} from './processing.ts';
import { Reconciler } from './reconciler.ts';
import {
  DEFAULT_WEBHOOK_MAX_ATTEMPTS,
  INGEST_ASYNC_RETRIES,
  WEBHOOK_FUNCTION_TIMEOUT_SECONDS,
} from './retry-budgets.ts';
import { Storage } from './storage.ts';
import { enableActiveTracing } from './tracing.ts';
import { DEFAULT_API_RESERVED_CONCURRENCY, DEFAULT_QUOTAS, UploadApi } from './upload-api.ts';
import { WebPage } from './web-page.ts';

export interface MediaPipelineStackProps extends StackProps {
  /**
   * Browser origins allowed to call the API and to upload to and download from the buckets.
   * @default ['*']
   */
  readonly allowedOrigins?: readonly string[];
  /**
   * Processing attempts of one run of a job before the run fails (a transient failure is tried again
   * after a backoff; a permanent one fails at once).
   * @default 3
   */
  readonly maxAttempts?: number;
  /**
   * Retries (POST /api/media/{id}/retry/) of a job whose failure was transient: each starts a new run
   * with `maxAttempts` attempts. From 0 (no retries) to MAX_MAX_RETRIES.
   * @default 3
   */
  readonly maxRetries?: number;
  /**
   * Delivery attempts of a webhook before it is given up and left in the webhook dead-letter queue.
   * Attempts follow the schedule in functions/shared/retry.ts (immediately, 5 s, 5 min, 30 min, 2 h, 5 h,
   * 10 h, 10 h, each ±20%); a larger budget repeats the last wait. At most MAX_WEBHOOK_ATTEMPTS, whose
   * schedule fits the webhook queue's retention (at most 7 days: a dead letter keeps its first send time, and the dead-letter queue's 14 days count from it).
   * @default 8 (the schedule's length, about 27.5 hours)
   */
  readonly webhookMaxAttempts?: number;
  /**
   * Let callback URLs resolve to loopback addresses. For local runs only.
   * @default false
   */
  readonly allowLoopbackCallbacks?: boolean;
  /**
   * TCP ports a callback URL may use (named, or implied by http/https). The API refuses other ports
   * with a 400 and the webhook function refuses to deliver to them. With `allowLoopbackCallbacks`, a
   * loopback receiver may use any port.
   * @default [80, 443, 8080, 8443]
   */
  readonly callbackPorts?: readonly number[];
  /**
   * Keep the buckets, the jobs table and the webhook secret when the stack is deleted; when false they
   * are destroyed with it (the buckets emptied first).
   * @default true
   */
  readonly retainData?: boolean;
  /**
   * Where the stack is deployed: `aws`, or `localstack` (LocalStack's free image), whose template works
   * around what LocalStack lacks (lib/deployment-target.ts lists the differences).
   * @default 'aws'
   */
  readonly target?: DeploymentTarget;
  /**
   * The instruction set of every function, and the binaries the layers are staged for (whatever the
   * machine that synthesizes: another platform's packages are fetched at their locked versions).
   * @default 'arm64'; with `target: 'localstack'`, this machine's (LocalStack runs the functions in
   * containers on the Docker host, where another architecture needs emulation)
   */
  readonly architecture?: LambdaArchitecture;
  /**
   * With `target: 'localstack'`: the S3 endpoint clients on the developer's machine use, which presigned
   * URLs are signed for.
   * @default 'https://localhost.localstack.cloud:4566'
   */
  readonly localstackPublicEndpoint?: string;
  /**
   * Files larger than this many bytes are uploaded in parts (S3 multipart) rather than with one PUT;
   * from 5 MiB (S3's smallest part) to 5 GiB (its largest single PUT).
   * @default 104857600 (100 MiB)
   */
  readonly multipartThresholdBytes?: number;
  /**
   * How the API knows its callers: `api-key` (`Authorization: Bearer <key>`, checked by a Lambda
   * authorizer against the tenants table; a revoked key passes for up to 5 minutes, the authorizer's
   * result cache), `jwt` (the HTTP API's JWT authorizer: `jwtIssuer`, `jwtAudience`, `jwtTenantClaim`)
   * or `none` (no authorization, every caller is tenant `default`: local experiments only; synth warns).
   * `jwt` cannot be deployed with `target: 'localstack'`, whose free image has no API Gateway.
   * @default 'api-key'
   */
  readonly auth?: AuthMode;
  /** With `auth: 'jwt'`: the issuer's https URL, whose `/.well-known/openid-configuration` API Gateway reads. */
  readonly jwtIssuer?: string;
  /** With `auth: 'jwt'`: the accepted audiences (`aud`, or `client_id`). */
  readonly jwtAudience?: readonly string[];
  /**
   * With `auth: 'jwt'`: the claim that names the caller's tenant.
   * @default 'sub'
   */
  readonly jwtTenantClaim?: string;
  /**
   * Jobs a tenant may create per UTC day; 0 turns the quota off.
   * @default 1000
   */
  readonly quotaJobsPerDay?: number;
  /**
   * Bytes (declared upload sizes) a tenant may send per UTC day; 0 turns the quota off.
   * @default 53687091200 (50 GiB)
   */
  readonly quotaBytesPerDay?: number;
  /**
   * Days after upload when originals are deleted (uploads bucket lifecycle), whatever became of their
   * job; a failed job can be retried until two days before. From 10 (MIN_UPLOAD_RETENTION_DAYS) to 3650.
   * @default 30
   */
  readonly uploadRetentionDays?: number;
  /**
   * Days after they are made when results are deleted (results bucket lifecycle); their URLs then
   * answer 404. From 1 to 3650.
   * @default - kept
   */
  readonly resultRetentionDays?: number;
  /**
   * The most concurrent invocations of the image queue's mapping (ScalingConfig.MaximumConcurrency,
   * 2–1000). At the limit the mapping stops receiving: jobs wait in the queue rather than being
   * throttled, and a burst cannot take the concurrency the rest of the account needs.
   * @default 20 (batches of 4: some 80 images in flight)
   */
  readonly imageMaxConcurrency?: number;
  /**
   * The most concurrent invocations of the video queue's mapping (2–1000).
   * @default 10 (each may hold 3008 MB for 5 minutes)
   */
  readonly videoMaxConcurrency?: number;
  /**
   * The most concurrent invocations of the webhook queue's mapping (2–1000).
   * @default 10
   */
  readonly webhookMaxConcurrency?: number;
  /**
   * The most concurrent invocations of each drained dead-letter queue's mapping (2–1000).
   * @default 2
   */
  readonly deadLetterMaxConcurrency?: number;
  /**
   * Concurrency reserved for the API function, so that processing can never starve it. Reserved
   * concurrency is taken from the account's unreserved pool for this function alone (and caps it);
   * Lambda refuses a reservation that leaves the pool under its minimum, which new accounts, whose
   * limit may be 10, always do: deploy there with 0, which reserves nothing.
   * @default 20
   */
  readonly apiReservedConcurrency?: number;
  /**
   * Subscribed by email to the alarm topic (AlarmTopicArn), which every alarm of the stack notifies.
   * @default - no subscription: subscribe a mailbox, Slack or PagerDuty to the topic yourself
   */
  readonly alarmEmail?: string;
  /**
   * X-Ray active tracing on every function, with Powertools Tracer recording each AWS SDK call
   * (X-Ray: $5 per million traces recorded, $0.50 per million retrieved, the first 100,000 a month free).
   * The HTTP API itself cannot be traced (API Gateway traces REST APIs only).
   * @default false
   */
  readonly tracing?: boolean;
}

/** The values the stack actually runs with, defaults applied. */
export type MediaPipelineSettings = Required<
  Pick<
    MediaPipelineStackProps,
    | 'allowedOrigins'
    | 'maxAttempts'
    | 'maxRetries'
    | 'webhookMaxAttempts'
    | 'allowLoopbackCallbacks'
    | 'callbackPorts'
    | 'retainData'
    | 'multipartThresholdBytes'
    | 'auth'
    | 'jwtTenantClaim'
    | 'quotaJobsPerDay'
    | 'quotaBytesPerDay'
    | 'imageMaxConcurrency'
    | 'videoMaxConcurrency'
    | 'webhookMaxConcurrency'
    | 'deadLetterMaxConcurrency'
    | 'apiReservedConcurrency'
    | 'tracing'
  >
>;

export const DEFAULT_SETTINGS: MediaPipelineSettings = {
  allowedOrigins: ['*'],
  maxAttempts: 3,
  maxRetries: DEFAULT_MAX_RETRIES,
  webhookMaxAttempts: DEFAULT_WEBHOOK_MAX_ATTEMPTS,
  allowLoopbackCallbacks: false,
  callbackPorts: DEFAULT_CALLBACK_PORTS,
  retainData: true,
  multipartThresholdBytes: 100 * 1024 * 1024,
  auth: 'api-key',
  jwtTenantClaim: DEFAULT_TENANT_CLAIM,
  quotaJobsPerDay: DEFAULT_QUOTAS.jobsPerDay,
  quotaBytesPerDay: DEFAULT_QUOTAS.bytesPerDay,
  imageMaxConcurrency: DEFAULT_PROCESSING_MAX_CONCURRENCY.image,
  videoMaxConcurrency: DEFAULT_PROCESSING_MAX_CONCURRENCY.video,
  webhookMaxConcurrency: DEFAULT_WEBHOOK_MAX_CONCURRENCY,
  deadLetterMaxConcurrency: DEFAULT_DEAD_LETTER_MAX_CONCURRENCY,
  apiReservedConcurrency: DEFAULT_API_RESERVED_CONCURRENCY,
  tracing: false,
};

/**
 * The media pipeline: uploads through the API land in the uploads bucket, ingest queues them for the
 * image or video processor, results land in the results bucket, webhooks tell the caller, and what
 * fails for good reaches a dead-letter queue that settles the job. The stack only wires the concerns.
 */
export class MediaPipelineStack extends Stack {
  readonly settings: MediaPipelineSettings;
  readonly storage: Storage;
  readonly notifications: Notifications;
  readonly deadLetters: DeadLetters;
  readonly processing: Processing;
  readonly ingest: Ingest;
  readonly reconciler: Reconciler;
  readonly uploadApi: UploadApi;
  /** Undefined on LocalStack, which has no HTTP API to serve it. */
  readonly webPage: WebPage | undefined;
  readonly apiAuth: ApiAuth;
  readonly target: DeploymentTarget;
  readonly alerts: Alerts;
  readonly monitoring: Monitoring;
  /** Undefined in the LocalStack variant: LocalStack's community image has no provider for dashboards. */
  readonly dashboard: PipelineDashboard | undefined;
  /** The functions' and layers' architecture. */
  readonly architecture: LambdaArchitecture;

  constructor(scope: Construct, id: string, props: MediaPipelineStackProps = {}) {
    super(scope, id, props);
    const settings: MediaPipelineSettings = {
      allowedOrigins: props.allowedOrigins ?? DEFAULT_SETTINGS.allowedOrigins,
      maxAttempts: props.maxAttempts ?? DEFAULT_SETTINGS.maxAttempts,
      maxRetries: props.maxRetries ?? DEFAULT_SETTINGS.maxRetries,
      webhookMaxAttempts: props.webhookMaxAttempts ?? DEFAULT_SETTINGS.webhookMaxAttempts,
      allowLoopbackCallbacks: props.allowLoopbackCallbacks ?? DEFAULT_SETTINGS.allowLoopbackCallbacks,
      callbackPorts: props.callbackPorts ?? DEFAULT_SETTINGS.callbackPorts,
      retainData: props.retainData ?? DEFAULT_SETTINGS.retainData,
      multipartThresholdBytes: props.multipartThresholdBytes ?? DEFAULT_SETTINGS.multipartThresholdBytes,
      auth: props.auth ?? DEFAULT_SETTINGS.auth,
      jwtTenantClaim: props.jwtTenantClaim ?? DEFAULT_SETTINGS.jwtTenantClaim,
      quotaJobsPerDay: props.quotaJobsPerDay ?? DEFAULT_SETTINGS.quotaJobsPerDay,
      quotaBytesPerDay: props.quotaBytesPerDay ?? DEFAULT_SETTINGS.quotaBytesPerDay,
      imageMaxConcurrency: props.imageMaxConcurrency ?? DEFAULT_SETTINGS.imageMaxConcurrency,
      videoMaxConcurrency: props.videoMaxConcurrency ?? DEFAULT_SETTINGS.videoMaxConcurrency,
      webhookMaxConcurrency: props.webhookMaxConcurrency ?? DEFAULT_SETTINGS.webhookMaxConcurrency,
      deadLetterMaxConcurrency: props.deadLetterMaxConcurrency ?? DEFAULT_SETTINGS.deadLetterMaxConcurrency,
      apiReservedConcurrency: props.apiReservedConcurrency ?? DEFAULT_SETTINGS.apiReservedConcurrency,
      tracing: props.tracing ?? DEFAULT_SETTINGS.tracing,
    };
    this.settings = settings;
    this.target = props.target ?? 'aws';
    const localstack = this.target === 'localstack';
    this.architecture =
      props.architecture ?? (localstack ? hostArchitecture() : undefined) ?? DEFAULT_ARCHITECTURE;
    setStackArchitecture(this, this.architecture);
    if (localstack && settings.auth === 'jwt') {
      throw new Error(
        'auth jwt cannot be deployed with target localstack: the JWT authorizer is part of API Gateway, which LocalStack’s free image does not run (the API is a function URL there). Use auth api-key (the API function then checks the keys itself) or none.',
      );
    }

    this.apiAuth = new ApiAuth(this, 'ApiAuth', {
      mode: settings.auth,
      jwtIssuer: props.jwtIssuer,
      jwtAudience: props.jwtAudience,
      jwtTenantClaim: settings.jwtTenantClaim,
      retainData: settings.retainData,
      // LocalStack's free image has no API Gateway v2: no HTTP API, so no authorizer (the function checks keys).
      routeAuthorizer: !localstack,
    });

    this.storage = new Storage(this, 'Storage', {
      allowedOrigins: settings.allowedOrigins,
      retainData: settings.retainData,
      uploadNotifications: localstack ? 'bucket-configuration' : 'custom-resource',
      uploadRetentionDays: props.uploadRetentionDays,
      resultRetentionDays: props.resultRetentionDays,
    });

    this.notifications = new Notifications(this, 'Notifications', {
      storage: this.storage,
      webhookMaxAttempts: settings.webhookMaxAttempts,
      allowLoopbackCallbacks: settings.allowLoopbackCallbacks,
      callbackPorts: settings.callbackPorts,
      retainData: settings.retainData,
      maxConcurrency: settings.webhookMaxConcurrency,
    });
    this.apiAuth.grantReadWebhookSecrets(this.notifications.webhookFunction);

    this.deadLetters = new DeadLetters(this, 'DeadLetters', {
      storage: this.storage,
      webhookQueue: this.notifications.queue,
      maxConcurrency: settings.deadLetterMaxConcurrency,
    });

    this.processing = new Processing(this, 'Processing', {
      storage: this.storage,
      webhookQueue: this.notifications.queue,
      maxAttempts: settings.maxAttempts,
      deadLetterConsumerTimeout: this.deadLetters.timeout,
      nativeDependencies: localstack ? 'bundled' : 'layers',
      maxConcurrency: { image: settings.imageMaxConcurrency, video: settings.videoMaxConcurrency },
    });

    this.ingest = new Ingest(this, 'Ingest', {
      storage: this.storage,
      imageQueue: this.processing.imageQueue.queue,
      videoQueue: this.processing.videoQueue.queue,
      webhookQueue: this.notifications.queue,
      deadLetterConsumerTimeout: this.deadLetters.timeout,
    });

    this.reconciler = new Reconciler(this, 'Reconciler', {
      storage: this.storage,
      image: {
        queue: this.processing.imageQueue,
        functionTimeout: IMAGE_TIMEOUT,
      },
      video: {
        queue: this.processing.videoQueue,
        functionTimeout: VIDEO_TIMEOUT,
      },
      webhookQueue: this.notifications.queue,
      maxAttempts: settings.maxAttempts,
    });

    this.uploadApi = new UploadApi(this, 'UploadApi', {
      storage: this.storage,
      imageQueue: this.processing.imageQueue.queue,
      videoQueue: this.processing.videoQueue.queue,
      webhookQueue: this.notifications.queue,
      allowedOrigins: settings.allowedOrigins,
      maxAttempts: settings.maxAttempts,
      maxRetries: settings.maxRetries,
      allowLoopbackCallbacks: settings.allowLoopbackCallbacks,
      callbackPorts: settings.callbackPorts,
      multipartThresholdBytes: settings.multipartThresholdBytes,
      authorizer: this.apiAuth.authorizer,
      quotaJobsPerDay: settings.quotaJobsPerDay,
      quotaBytesPerDay: settings.quotaBytesPerDay,
      withHttpApi: !localstack,
      reservedConcurrency: settings.apiReservedConcurrency,
    });
    this.apiAuth.configureApiFunction(this.uploadApi.apiFunction, { checkKeysInFunction: localstack });
    this.apiAuth.acknowledgeOpenRoutes(this.uploadApi.httpApi);

    const apiFunctionUrl = localstack
      ? applyLocalStackTarget(this, {
          apiFunction: this.uploadApi.apiFunction,
          allowedOrigins: settings.allowedOrigins,
          publicS3Endpoint: props.localstackPublicEndpoint ?? DEFAULT_LOCALSTACK_PUBLIC_ENDPOINT,
        })
      : undefined;

    // The page is served by the HTTP API beside the API it calls: on LocalStack there is none.
    this.webPage = this.uploadApi.httpApi
      ? new WebPage(this, 'WebPage', { httpApi: this.uploadApi.httpApi, storage: this.storage })
      : undefined;

    // The webhook dead-letter queue is left alone: its messages wait for a redrive.
    this.deadLetters.drain(
      this.processing.imageQueue.deadLetter,
      this.processing.videoQueue.deadLetter,
      this.ingest.deadLetter,
    );

    const apiUrl = apiFunctionUrl
      ? { value: apiFunctionUrl.url, description: 'Base URL of the API (the API function URL)' }
      : { value: this.uploadApi.url ?? '', description: 'Base URL of the HTTP API' };
    // Operations: every function (found, so that a new one cannot be left out), its alarms and tracing.
    const functions = this.node.findAll().filter((c): c is MediaFunction => c instanceof MediaFunction);
    if (settings.tracing) enableActiveTracing(functions);
    const { imageQueue, videoQueue } = this.processing;
    const { webhookQueue } = this.notifications;
    this.monitoring = new Monitoring(this, 'Monitoring', {
      functions,
      asyncFunctions: [{ fn: this.ingest.ingestFunction, retries: INGEST_ASYNC_RETRIES }],
      workQueues: [
        // The processors run with the default backoff (the stack sets no RETRY_* for them).
        {
          name: 'Image',
          queue: imageQueue,
          timing: processorQueueTiming(imageQueue.visibilityTimeout, IMAGE_TIMEOUT),
        },
        {
          name: 'Video',
          queue: videoQueue,
          timing: processorQueueTiming(videoQueue.visibilityTimeout, VIDEO_TIMEOUT),
        },
        {
          name: 'Webhook',
          queue: webhookQueue,
          timing: webhookQueueTiming(
            webhookQueue.visibilityTimeout,
            Duration.seconds(WEBHOOK_FUNCTION_TIMEOUT_SECONDS),
          ),
        },
      ],
      apiStage: this.uploadApi.stage,
      tables: [
        {
          name: 'Jobs',
          table: this.storage.jobsTable,
          indexNames: [OPEN_JOBS_INDEX.indexName, TENANT_JOBS_INDEX.indexName],
        },
        { name: 'Tenants', table: this.apiAuth.tenantsTable },
      ],
      reconcilerFunction: this.reconciler.reconcilerFunction,
    });
    const deadLetterQueues = [
      { name: 'Image', deadLetter: imageQueue.deadLetter },
      { name: 'Video', deadLetter: videoQueue.deadLetter },
      { name: 'Ingest', deadLetter: this.ingest.deadLetter },
      { name: 'Webhook', deadLetter: webhookQueue.deadLetter },
    ];
    this.alerts = new Alerts(this, 'Alerts', { alarmEmail: props.alarmEmail });
    this.alerts.withoutRecoveryNotice(
      ...this.monitoring.eventAlarms,
      ...deadLetterQueues
        .filter(({ deadLetter }) => deadLetter.drained)
        .map(({ deadLetter }) => deadLetter.alarm),
    );
    this.alerts.notifyEveryAlarm(this);
    this.dashboard = localstack
      ? undefined
      : new PipelineDashboard(this, 'Dashboard', {
          processors: [this.processing.imageFunction, this.processing.videoFunction],
          functions,
          workQueues: [
            { name: 'image', queue: imageQueue },
            { name: 'video', queue: videoQueue },
            { name: 'webhook', queue: webhookQueue },
          ],
          deadLetterQueues,
          webhookFunction: this.notifications.webhookFunction,
          apiStage: this.uploadApi.stage,
          jobsReconciled: this.monitoring.jobsReconciled,
          // Every alarm of the stack (found, as the alarm topic's aspect finds them): none left off.
          alarms: this.node.findAll().filter((c): c is Alarm => c instanceof Alarm),
        });

    const outputs: Record<string, { value: string; description: string }> = {
      ApiUrl: apiUrl,
      UploadsBucketName: { value: this.storage.uploadsBucket.bucketName, description: 'Uploads bucket' },
      ResultsBucketName: { value: this.storage.resultsBucket.bucketName, description: 'Results bucket' },
      JobsTableName: { value: this.storage.jobsTable.tableName, description: 'Jobs table' },
      TenantsTableName: {
        value: this.apiAuth.tenantsTable.tableName,
        description: 'Tenants table: API key hashes and webhook secrets (npx media-pipeline keys …)',
      },
      AuthMode: { value: settings.auth, description: 'How the API knows its callers: api-key, jwt or none' },
      WebhookSecretArn: {
        value: this.notifications.webhookSecret.secretArn,
        description: 'Webhook signing secret (Secrets Manager)',
      },
      WebhookSecretName: {
        value: this.notifications.webhookSecret.secretName,
        description: 'Name of the webhook signing secret',
      },
      ImageQueueUrl: { value: this.processing.imageQueue.queue.queueUrl, description: 'Image jobs queue' },
      VideoQueueUrl: { value: this.processing.videoQueue.queue.queueUrl, description: 'Video jobs queue' },
      WebhookQueueUrl: { value: this.notifications.queue.queueUrl, description: 'Webhook deliveries queue' },
      ImageDeadLetterQueueUrl: {
        value: this.processing.imageQueue.deadLetterQueue.queueUrl,
        description: 'Image dead-letter queue (drained by the dead-letter function)',
      },
      VideoDeadLetterQueueUrl: {
        value: this.processing.videoQueue.deadLetterQueue.queueUrl,
        description: 'Video dead-letter queue (drained by the dead-letter function)',
      },
      IngestDeadLetterQueueUrl: {
        value: this.ingest.deadLetter.queue.queueUrl,
        description: 'Ingest dead-letter queue (drained by the dead-letter function)',
      },
      WebhookDeadLetterQueueUrl: {
        value: this.notifications.webhookQueue.deadLetterQueue.queueUrl,
        description: 'Webhook dead-letter queue (kept 14 days for a redrive)',
      },
      AlarmTopicArn: {
        value: this.alerts.topic.topicArn,
        description:
          'SNS topic every alarm notifies: subscribe email, Slack (AWS Chatbot) or PagerDuty to it',
      },
      ...(this.dashboard
        ? {
            DashboardName: {
              value: this.dashboard.dashboardName,
              description: 'CloudWatch dashboard of the pipeline',
            },
          }
        : {}),
    };
    for (const [name, output] of Object.entries(outputs)) new CfnOutput(this, name, output);
  }
}
