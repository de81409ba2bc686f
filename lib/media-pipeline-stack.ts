import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { DeadLetters } from './dead-letters.ts';
import { Ingest } from './ingest.ts';
import { Notifications } from './notifications.ts';
import { Processing } from './processing.ts';
import { Storage } from './storage.ts';
import { UploadApi } from './upload-api.ts';

export interface MediaPipelineStackProps extends StackProps {
  /**
   * Browser origins allowed to call the API and to upload to and download from the buckets.
   * @default ['*']
   */
  readonly allowedOrigins?: readonly string[];
  /**
   * Processing attempts of a job before it fails.
   * @default 3
   */
  readonly maxAttempts?: number;
  /**
   * Delivery attempts of a webhook before it is given up and left in the webhook dead-letter queue.
   * @default 8
   */
  readonly webhookMaxAttempts?: number;
  /**
   * Let callback URLs resolve to loopback addresses. For local runs only.
   * @default false
   */
  readonly allowLoopbackCallbacks?: boolean;
  /**
   * Keep the buckets, the jobs table and the webhook secret when the stack is deleted; when false they
   * are destroyed with it (the buckets emptied first).
   * @default true
   */
  readonly retainData?: boolean;
}

/** The values the stack actually runs with, defaults applied. */
export type MediaPipelineSettings = Required<
  Pick<
    MediaPipelineStackProps,
    'allowedOrigins' | 'maxAttempts' | 'webhookMaxAttempts' | 'allowLoopbackCallbacks' | 'retainData'
  >
>;

export const DEFAULT_SETTINGS: MediaPipelineSettings = {
  allowedOrigins: ['*'],
  maxAttempts: 3,
  webhookMaxAttempts: 8,
  allowLoopbackCallbacks: false,
  retainData: true,
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
  readonly uploadApi: UploadApi;

  constructor(scope: Construct, id: string, props: MediaPipelineStackProps = {}) {
    super(scope, id, props);
    const settings: MediaPipelineSettings = {
      allowedOrigins: props.allowedOrigins ?? DEFAULT_SETTINGS.allowedOrigins,
      maxAttempts: props.maxAttempts ?? DEFAULT_SETTINGS.maxAttempts,
      webhookMaxAttempts: props.webhookMaxAttempts ?? DEFAULT_SETTINGS.webhookMaxAttempts,
      allowLoopbackCallbacks: props.allowLoopbackCallbacks ?? DEFAULT_SETTINGS.allowLoopbackCallbacks,
      retainData: props.retainData ?? DEFAULT_SETTINGS.retainData,
    };
    this.settings = settings;

    this.storage = new Storage(this, 'Storage', {
      allowedOrigins: settings.allowedOrigins,
      retainData: settings.retainData,
    });

    this.notifications = new Notifications(this, 'Notifications', {
      storage: this.storage,
      webhookMaxAttempts: settings.webhookMaxAttempts,
      allowLoopbackCallbacks: settings.allowLoopbackCallbacks,
      retainData: settings.retainData,
    });

    this.deadLetters = new DeadLetters(this, 'DeadLetters', {
      storage: this.storage,
      webhookQueue: this.notifications.queue,
    });

    this.processing = new Processing(this, 'Processing', {
      storage: this.storage,
      webhookQueue: this.notifications.queue,
      maxAttempts: settings.maxAttempts,
      deadLetterConsumerTimeout: this.deadLetters.timeout,
    });

    this.ingest = new Ingest(this, 'Ingest', {
      storage: this.storage,
      imageQueue: this.processing.imageQueue.queue,
      videoQueue: this.processing.videoQueue.queue,
      webhookQueue: this.notifications.queue,
      deadLetterConsumerTimeout: this.deadLetters.timeout,
    });

    this.uploadApi = new UploadApi(this, 'UploadApi', {
      storage: this.storage,
      imageQueue: this.processing.imageQueue.queue,
      videoQueue: this.processing.videoQueue.queue,
      webhookQueue: this.notifications.queue,
      allowedOrigins: settings.allowedOrigins,
      maxAttempts: settings.maxAttempts,
      allowLoopbackCallbacks: settings.allowLoopbackCallbacks,
    });

    // The webhook dead-letter queue is left alone: its messages wait for a redrive.
    this.deadLetters.drain(
      this.processing.imageQueue.deadLetter,
      this.processing.videoQueue.deadLetter,
      this.ingest.deadLetter,
    );

    const outputs: Record<string, { value: string; description: string }> = {
      ApiUrl: { value: this.uploadApi.url, description: 'Base URL of the HTTP API' },
      UploadsBucketName: { value: this.storage.uploadsBucket.bucketName, description: 'Uploads bucket' },
      ResultsBucketName: { value: this.storage.resultsBucket.bucketName, description: 'Results bucket' },
      JobsTableName: { value: this.storage.jobsTable.tableName, description: 'Jobs table' },
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
    };
    for (const [name, output] of Object.entries(outputs)) new CfnOutput(this, name, output);
  }
}
