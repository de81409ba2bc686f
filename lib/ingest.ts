import { Duration } from 'aws-cdk-lib';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { MediaFunction } from './constructs/media-function.ts';
import { acknowledge } from './constructs/nag.ts';
import { DeadLetterQueue } from './constructs/queue-with-dead-letter.ts';
import { INGEST_ASYNC_RETRIES } from './retry-budgets.ts';
import type { Storage } from './storage.ts';

const INGEST_TIMEOUT = Duration.minutes(5);

export interface IngestProps {
  readonly storage: Storage;
  readonly imageQueue: IQueue;
  readonly videoQueue: IQueue;
  readonly webhookQueue: IQueue;
  /** Timeout of the function that drains the ingest dead-letter queue. */
  readonly deadLetterConsumerTimeout: Duration;
}

/**
 * Ingest: S3 invokes the function (asynchronously) for every object created under uploads/ in the
 * uploads bucket. It hashes the upload, deduplicates, and queues the job for the image or video
 * processor. After Lambda's two retries a failing event goes to the ingest dead-letter queue.
 */
export class Ingest extends Construct {
  readonly ingestFunction: MediaFunction;
  /** Where Lambda puts the S3 events ingest failed on (the dead-letter function drains it). */
  readonly deadLetter: DeadLetterQueue;

  constructor(scope: Construct, id: string, props: IngestProps) {
    super(scope, id);
    const { storage } = props;

    this.deadLetter = new DeadLetterQueue(this, 'DeadLetter', {
      consumerTimeout: props.deadLetterConsumerTimeout,
      alarmDescription:
        'Ingest failed on an upload after every retry (the dead-letter function fails its job).',
    });
    acknowledge(
      this.deadLetter.queue,
      'AwsSolutions-SQS3',
      "This queue is the ingest function's dead-letter queue (Lambda DeadLetterConfig), which cdk-nag does not recognise as one.",
    );

    this.ingestFunction = new MediaFunction(this, 'IngestFunction', {
      source: 'ingest',
      serviceName: 'media-ingest',
      description: 'Hashes, deduplicates and queues each upload',
      memorySize: 1024,
      timeout: INGEST_TIMEOUT,
      retryAttempts: INGEST_ASYNC_RETRIES,
      deadLetterQueue: this.deadLetter.queue,
      environment: {
        JOBS_TABLE: storage.jobsTable.tableName,
        UPLOADS_BUCKET: storage.uploadsBucketName,
        IMAGE_QUEUE_URL: props.imageQueue.queueUrl,
        VIDEO_QUEUE_URL: props.videoQueue.queueUrl,
        WEBHOOK_QUEUE_URL: props.webhookQueue.queueUrl,
      },
    });
    storage.grantReadUploads(this.ingestFunction);
    storage.grantJobsReadWrite(this.ingestFunction);
    for (const queue of [props.imageQueue, props.videoQueue, props.webhookQueue]) {
      queue.grantSendMessages(this.ingestFunction);
    }

    storage.notifyUploadCreated(this.ingestFunction);
  }
}
