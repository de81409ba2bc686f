import { Duration } from 'aws-cdk-lib';
import { type Alarm, ComparisonOperator, Stats, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ALARM_PERIOD } from '../monitoring.ts';
import {
  DEAD_LETTER_RETENTION_SECONDS,
  MAX_WORK_QUEUE_RETENTION_SECONDS,
  SQS_MAX_RECEIVE_COUNT,
  VISIBILITY_TIMEOUT_FACTOR,
  visibilityTimeoutSeconds,
} from '../retry-budgets.ts';

export { VISIBILITY_TIMEOUT_FACTOR };

/**
 * A dead-letter queue keeps what reached it for SQS's maximum, 14 days, counted from the message's first
 * send (SQS keeps a standard queue message's enqueue time when it dead-letters it): time to look and redrive.
 */
export const DEAD_LETTER_RETENTION = Duration.seconds(DEAD_LETTER_RETENTION_SECONDS);

/** SQS's smallest and largest maximum concurrency of an SQS event source mapping. */
export const MAX_CONCURRENCY_RANGE = { min: 2, max: 1000 } as const;

/**
 * The period of the dead-letter alarms, the other alarms' (lib/monitoring.ts): one notification per 5
 * minutes of dead letters is plenty.
 */
export const DEAD_LETTER_ALARM_PERIOD = ALARM_PERIOD;

export const visibilityTimeoutFor = (consumerTimeout: Duration): Duration =>
  Duration.seconds(visibilityTimeoutSeconds(consumerTimeout.toSeconds()));

export interface QueueConsumerOptions {
  /** Messages per invocation. */
  readonly batchSize: number;
  /**
   * How long to gather messages before invoking.
   * @default - no batching window
   */
  readonly maxBatchingWindow?: Duration;
  /**
   * The most concurrent invocations this mapping makes (ScalingConfig.MaximumConcurrency, 2–1000): at
   * that many the poller stops receiving, so the rest wait in the queue instead of being throttled.
   * @default - no limit: the mapping scales to the account's unreserved concurrency
   */
  readonly maxConcurrency?: number;
}

/**
 * Subscribes `consumer` to `queue` with partial batch responses (the handlers return
 * `batchItemFailures`), after checking that the queue's visibility timeout covers the consumer.
 */
const subscribe = (
  queue: Queue,
  visibilityTimeout: Duration,
  consumer: LambdaFunction,
  options: QueueConsumerOptions,
): void => {
  const needed = visibilityTimeoutFor(consumer.timeout ?? Duration.seconds(3));
  if (visibilityTimeout.toSeconds() < needed.toSeconds()) {
    throw new Error(
      `${queue.node.path} has a visibility timeout of ${visibilityTimeout.toSeconds()} s, but its consumer ` +
        `${consumer.node.path} needs at least ${needed.toSeconds()} s (${VISIBILITY_TIMEOUT_FACTOR}× its timeout)`,
    );
  }
  const { maxConcurrency } = options;
  if (
    maxConcurrency !== undefined &&
    (!Number.isInteger(maxConcurrency) ||
      maxConcurrency < MAX_CONCURRENCY_RANGE.min ||
      maxConcurrency > MAX_CONCURRENCY_RANGE.max)
  ) {
    throw new Error(
      `${consumer.node.path}: the maximum concurrency of its ${queue.node.path} mapping must be an integer from ${MAX_CONCURRENCY_RANGE.min} to ${MAX_CONCURRENCY_RANGE.max}, not ${maxConcurrency}`,
    );
  }
  consumer.addEventSource(
    new SqsEventSource(queue, {
      batchSize: options.batchSize,
      maxBatchingWindow: options.maxBatchingWindow,
      reportBatchItemFailures: true,
      maxConcurrency,
    }),
  );
};

export interface DeadLetterQueueProps {
  /**
   * Timeout of the function that will drain this queue, which sets its visibility timeout.
   * @default - not drained by a function: SQS's default visibility timeout (30 s)
   */
  readonly consumerTimeout?: Duration;
  /** What the alarm says when it fires. */
  readonly alarmDescription: string;
}

/**
 * A dead-letter queue: 14 days' retention, TLS-only, SQS-managed encryption, and an alarm as soon as
 * anything reaches it. Which metric the alarm watches depends on whether a function drains the queue:
 *
 * - drained (`consumerTimeout` given): the dead-letter function empties the queue within seconds, so the
 *   queue's depth (`ApproximateNumberOfMessagesVisible`, sampled once a minute) is almost always 0 and an
 *   alarm on it never fires. `NumberOfMessagesSent` does not help either: SQS does not count the messages
 *   its redrive policy moves in. What every arrival does cause is a receive by the draining function, so
 *   the alarm counts `NumberOfMessagesReceived` (Sum over 5 minutes ≥ 1). A message the function fails
 *   on is received again, and keeps the alarm up.
 * - kept (no consumer: the webhook dead letters wait for a redrive): nobody receives, and the message
 *   stays, so the depth is the right signal: in alarm while at least one message waits.
 */
export class DeadLetterQueue extends Construct {
  readonly queue: Queue;
  /** In alarm when a message reached the queue (drained) or while one waits in it (kept). */
  readonly alarm: Alarm;
  readonly visibilityTimeout: Duration;
  /** Whether a function drains this queue (it was made with a `consumerTimeout`). */
  readonly drained: boolean;

  constructor(scope: Construct, id: string, props: DeadLetterQueueProps) {
    super(scope, id);
    this.drained = props.consumerTimeout !== undefined;
    this.visibilityTimeout = props.consumerTimeout
      ? visibilityTimeoutFor(props.consumerTimeout)
      : Duration.seconds(30);
    this.queue = new Queue(this, 'Queue', {
      retentionPeriod: DEAD_LETTER_RETENTION,
      visibilityTimeout: this.visibilityTimeout,
      enforceSSL: true,
      encryption: QueueEncryption.SQS_MANAGED,
    });
    const metric = this.drained
      ? this.queue.metricNumberOfMessagesReceived({ period: DEAD_LETTER_ALARM_PERIOD, statistic: Stats.SUM })
      : this.queue.metricApproximateNumberOfMessagesVisible({
          period: DEAD_LETTER_ALARM_PERIOD,
          statistic: Stats.MAXIMUM,
        });
    this.alarm = metric.createAlarm(this, this.drained ? 'Arrived' : 'NotEmpty', {
      alarmDescription: props.alarmDescription,
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }

  /** Drains this queue into `consumer` (its timeout must fit the `consumerTimeout` this queue was made for). */
  addConsumer(consumer: LambdaFunction, options: QueueConsumerOptions): void {
    subscribe(this.queue, this.visibilityTimeout, consumer, options);
  }
}

export interface QueueWithDeadLetterProps {
  /**
   * Timeout of the function that consumes the queue. The queue's visibility timeout is derived from it
   * (×6): pass the same value to the function, so that one number sets both.
   */
  readonly consumerTimeout: Duration;
  /** Receives after which SQS moves a message to the dead-letter queue. */
  readonly maxReceiveCount: number;
  /**
   * How long the queue keeps a message that was not consumed: at most 7 days, so that a message its
   * dead-letter queue receives still waits there 7 of its 14 days (lib/retry-budgets.ts).
   */
  readonly retentionPeriod: Duration;
  /**
   * Timeout of the function that drains the dead-letter queue.
   * @default - the dead-letter queue is not drained: its messages wait there for a redrive
   */
  readonly deadLetterConsumerTimeout?: Duration;
  /** Says what it means when messages reach the dead-letter queue (the alarm's description). */
  readonly deadLetterAlarmDescription: string;
}

/**
 * A work queue with its dead-letter queue and redrive policy. Both are TLS-only and encrypted with
 * SQS-managed keys; the work queue keeps messages at most 7 days, the dead-letter queue 14, and it
 * raises an alarm when one arrives.
 */
export class QueueWithDeadLetter extends Construct {
  readonly queue: Queue;
  readonly deadLetter: DeadLetterQueue;
  readonly visibilityTimeout: Duration;
  readonly maxReceiveCount: number;
  readonly retentionPeriod: Duration;

  constructor(scope: Construct, id: string, props: QueueWithDeadLetterProps) {
    super(scope, id);
    if (
      !Number.isInteger(props.maxReceiveCount) ||
      props.maxReceiveCount < 1 ||
      props.maxReceiveCount > SQS_MAX_RECEIVE_COUNT
    ) {
      throw new Error(
        `${this.node.path}: maxReceiveCount must be an integer from 1 to ${SQS_MAX_RECEIVE_COUNT}, not ${props.maxReceiveCount}`,
      );
    }
    if (props.retentionPeriod.toSeconds() > MAX_WORK_QUEUE_RETENTION_SECONDS) {
      throw new Error(
        `${this.node.path}: a work queue keeps messages at most ${MAX_WORK_QUEUE_RETENTION_SECONDS / 86_400} days (its dead-letter queue counts its 14 days from the first send), not ${props.retentionPeriod.toHumanString()}`,
      );
    }
    this.maxReceiveCount = props.maxReceiveCount;
    this.retentionPeriod = props.retentionPeriod;
    this.visibilityTimeout = visibilityTimeoutFor(props.consumerTimeout);
    this.deadLetter = new DeadLetterQueue(this, 'DeadLetter', {
      consumerTimeout: props.deadLetterConsumerTimeout,
      alarmDescription: props.deadLetterAlarmDescription,
    });
    this.queue = new Queue(this, 'Queue', {
      visibilityTimeout: this.visibilityTimeout,
      retentionPeriod: props.retentionPeriod,
      enforceSSL: true,
      encryption: QueueEncryption.SQS_MANAGED,
      deadLetterQueue: { queue: this.deadLetter.queue, maxReceiveCount: props.maxReceiveCount },
    });
  }

  /** The dead-letter queue itself. */
  get deadLetterQueue(): Queue {
    return this.deadLetter.queue;
  }

  /** Subscribes the queue's consumer, with partial batch responses. */
  addConsumer(consumer: LambdaFunction, options: QueueConsumerOptions): void {
    subscribe(this.queue, this.visibilityTimeout, consumer, options);
  }
}
