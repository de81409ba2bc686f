import { Duration } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEFAULT_BACKOFF } from '#shared/retry';
import { MediaFunction } from './constructs/media-function.ts';
import type { QueueWithDeadLetter } from './constructs/queue-with-dead-letter.ts';
import type { Storage } from './storage.ts';

/** Ingest runs inside the reconciler for uploads whose event was lost: the same room as ingest's own. */
const RECONCILER_TIMEOUT = Duration.minutes(5);

/** A processor the reconciler watches: its queue (visibility timeout) and its function's timeout. */
export interface WatchedProcessor {
  readonly queue: QueueWithDeadLetter;
  readonly functionTimeout: Duration;
}

export interface ReconcilerProps {
  readonly storage: Storage;
  readonly image: WatchedProcessor;
  readonly video: WatchedProcessor;
  readonly webhookQueue: IQueue;
  /** Processing attempts of a job, as the processors count them. */
  readonly maxAttempts: number;
  /**
   * How often the reconciler runs.
   * @default Schedule.rate(Duration.minutes(5))
   */
  readonly schedule?: Schedule;
  /**
   * An awaiting_upload job idle this long whose object exists lost its S3 event, and is ingested.
   * @default Duration.minutes(10)
   */
  readonly uploadDeadline?: Duration;
  /**
   * A queued job whose message was never recorded as sent, idle this long, is sent.
   * @default Duration.minutes(2)
   */
  readonly enqueueDeadline?: Duration;
  /**
   * A finished job with a callback not told of its outcome this long after it finished (or after the
   * reconciler last announced it) is announced.
   * @default Duration.minutes(10)
   */
  readonly announceDeadline?: Duration;
  /**
   * Added to every legitimate wait (a function's timeout; the backoff ceiling plus a queue's visibility
   * timeout) before a job counts as stalled.
   * @default Duration.minutes(2)
   */
  readonly margin?: Duration;
  /**
   * Jobs read per index shard per run: what bounds a run.
   * @default 25
   */
  readonly pageLimit?: number;
}

/**
 * The reconciler: a function run on a schedule that heals the pipeline from the jobs table, its source
 * of truth, when an event or a message was lost, or a function died between two writes. It reads the
 * sparse open-jobs index (never the whole table) and moves on the jobs that stopped moving
 * (functions/reconciler/reconcile-jobs.ts). Its deadlines derive from the processors it watches; a
 * queued job past its deadline is called lost only when its queue holds fewer messages than the run
 * found such jobs (a backlog behind a mapping's maximum concurrency is not a loss).
 */
export class Reconciler extends Construct {
  readonly reconcilerFunction: MediaFunction;
  readonly rule: Rule;

  constructor(scope: Construct, id: string, props: ReconcilerProps) {
    super(scope, id);
    const { storage, image, video } = props;
    const seconds = (duration: Duration | undefined, fallback: Duration): string =>
      String((duration ?? fallback).toSeconds());

    this.reconcilerFunction = new MediaFunction(this, 'ReconcilerFunction', {
      source: 'reconciler',
      serviceName: 'media-reconciler',
      description: 'Moves on the jobs that stopped moving (lost events and messages, stalled attempts)',
      memorySize: 1024,
      timeout: RECONCILER_TIMEOUT,
      // A failed run is not retried: the next scheduled run starts over from the index.
      retryAttempts: 0,
      environment: {
        JOBS_TABLE: storage.jobsTable.tableName,
        UPLOADS_BUCKET: storage.uploadsBucket.bucketName,
        IMAGE_QUEUE_URL: image.queue.queue.queueUrl,
        VIDEO_QUEUE_URL: video.queue.queue.queueUrl,
        WEBHOOK_QUEUE_URL: props.webhookQueue.queueUrl,
        MAX_ATTEMPTS: String(props.maxAttempts),
        IMAGE_TIMEOUT_SECONDS: String(image.functionTimeout.toSeconds()),
        VIDEO_TIMEOUT_SECONDS: String(video.functionTimeout.toSeconds()),
        IMAGE_VISIBILITY_TIMEOUT_SECONDS: String(image.queue.visibilityTimeout.toSeconds()),
        VIDEO_VISIBILITY_TIMEOUT_SECONDS: String(video.queue.visibilityTimeout.toSeconds()),
        // The processors run with the default backoff (the stack sets no RETRY_* for them).
        RETRY_MAX_SECONDS: String(DEFAULT_BACKOFF.maxSeconds),
        UPLOAD_DEADLINE_SECONDS: seconds(props.uploadDeadline, Duration.minutes(10)),
        ENQUEUE_DEADLINE_SECONDS: seconds(props.enqueueDeadline, Duration.minutes(2)),
        ANNOUNCE_DEADLINE_SECONDS: seconds(props.announceDeadline, Duration.minutes(10)),
        MARGIN_SECONDS: seconds(props.margin, Duration.minutes(2)),
        PAGE_LIMIT: String(props.pageLimit ?? 25),
      },
    });
    storage.grantJobsReadWrite(this.reconcilerFunction);
    storage.grantQueryOpenJobs(this.reconcilerFunction);
    // HeadObject to find lost uploads, GetObject to ingest them.
    storage.grantReadUploads(this.reconcilerFunction);
    for (const queue of [image.queue.queue, video.queue.queue, props.webhookQueue]) {
      queue.grantSendMessages(this.reconcilerFunction);
    }
    // Before calling queued jobs' messages lost, it reads their queue's backlog (GetQueueAttributes).
    // grantSendMessages happens to include the action today; granted by name so that it stays granted.
    for (const queue of [image.queue.queue, video.queue.queue]) {
      queue.grant(this.reconcilerFunction, 'sqs:GetQueueAttributes');
    }

    this.rule = new Rule(this, 'Schedule', {
      description: 'Runs the reconciler',
      schedule: props.schedule ?? Schedule.rate(Duration.minutes(5)),
      targets: [new LambdaFunction(this.reconcilerFunction, { retryAttempts: 0 })],
    });
  }
}
