import { Duration } from 'aws-cdk-lib';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { MediaFunction } from './constructs/media-function.ts';
import type { DeadLetterQueue } from './constructs/queue-with-dead-letter.ts';
import type { Storage } from './storage.ts';

/**
 * Invocations at once per drained dead-letter queue: what reaches them is rare, a mass failure should
 * settle steadily rather than take the account's concurrency, and their messages have no receive budget
 * (only the 14 days' retention), so waiting costs nothing.
 */
export const DEFAULT_DEAD_LETTER_MAX_CONCURRENCY = 2;

export interface DeadLettersProps {
  readonly storage: Storage;
  /** Where the function sends the `failed` webhook of a job it settles. */
  readonly webhookQueue: IQueue;
  /**
   * The most concurrent invocations of each drained dead-letter queue's mapping (2–1000).
   * @default DEFAULT_DEAD_LETTER_MAX_CONCURRENCY (2)
   */
  readonly maxConcurrency?: number;
}

/**
 * Turns what reached a dead-letter queue (a processing message that crashed or timed out every time,
 * or an S3 event ingest could not handle) into a `failed` job, with its webhook. The queues it drains
 * are added with `drain`; they are made with `timeout` as their consumer's timeout.
 */
export class DeadLetters extends Construct {
  readonly deadLetterFunction: MediaFunction;
  /** The function's timeout: the dead-letter queues it drains size their visibility timeout from it. */
  readonly timeout: Duration = Duration.seconds(30);
  readonly maxConcurrency: number;

  constructor(scope: Construct, id: string, props: DeadLettersProps) {
    super(scope, id);
    this.maxConcurrency = props.maxConcurrency ?? DEFAULT_DEAD_LETTER_MAX_CONCURRENCY;
    this.deadLetterFunction = new MediaFunction(this, 'DeadLetterFunction', {
      source: 'dead-letter',
      serviceName: 'media-dead-letter',
      description: 'Fails the jobs whose messages reached a dead-letter queue',
      timeout: this.timeout,
      environment: {
        JOBS_TABLE: props.storage.jobsTable.tableName,
        WEBHOOK_QUEUE_URL: props.webhookQueue.queueUrl,
        // An ingest dead letter whose upload is in S3 is left to the reconciler, not failed.
        UPLOADS_BUCKET: props.storage.uploadsBucketName,
      },
    });
    props.storage.grantJobsReadWrite(this.deadLetterFunction);
    props.webhookQueue.grantSendMessages(this.deadLetterFunction);
    props.storage.grantReadUploads(this.deadLetterFunction);
  }

  /** Drains each queue into the dead-letter function (the permission to consume comes with it). */
  drain(...deadLetterQueues: DeadLetterQueue[]): void {
    for (const queue of deadLetterQueues) {
      queue.addConsumer(this.deadLetterFunction, { batchSize: 10, maxConcurrency: this.maxConcurrency });
    }
  }
}
