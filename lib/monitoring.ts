import { Duration } from 'aws-cdk-lib';
import type { IHttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  type Alarm,
  ComparisonOperator,
  type IMetric,
  MathExpression,
  Metric,
  Stats,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { JobMetric, ReconcileKind } from '#shared/metric-names';
import {
  type BackoffPolicy,
  backoffCeilingSeconds,
  DEFAULT_BACKOFF,
  webhookRetryDelaySeconds,
} from '#shared/retry';
import { METRICS_NAMESPACE, type MediaFunction } from './constructs/media-function.ts';
import type { QueueWithDeadLetter } from './constructs/queue-with-dead-letter.ts';

/** The period of every alarm here but the reconciler's: short enough to page early, long enough to count. */
export const ALARM_PERIOD = Duration.minutes(5);

/**
 * SQS's ApproximateAgeOfOldestMessage leaves out a message received this many times or more (it moves it
 * to the back of the queue): only the first receives of a message can make the metric old.
 */
export const AGE_METRIC_RECEIVES = 3;

/** Lambda's waits between the attempts of an asynchronous invocation that failed: 1 minute, then 2. */
export const LAMBDA_ASYNC_RETRY_WAITS_SECONDS: readonly number[] = [60, 120];

/** How a work queue's messages legitimately wait: what its age alarm must tolerate. */
export interface QueueTiming {
  /** The queue's visibility timeout: how long a message stays hidden after a consumer crashed on it. */
  readonly visibilityTimeoutSeconds: number;
  /** The consumer's timeout: how long an attempt may take before it sets its retry wait. */
  readonly consumerTimeoutSeconds: number;
  /** The longest wait the consumer sets after attempt `attempt` (from 1) failed. */
  readonly retryWaitSeconds: (attempt: number) => number;
}

/**
 * A processor's queue: a crashed attempt's message returns after the visibility timeout, a failed one's
 * after the processor's backoff (functions/shared/retry.ts), at most its ceiling.
 */
export const processorQueueTiming = (
  visibilityTimeout: Duration,
  consumerTimeout: Duration,
  backoff: BackoffPolicy = DEFAULT_BACKOFF,
): QueueTiming => ({
  visibilityTimeoutSeconds: visibilityTimeout.toSeconds(),
  consumerTimeoutSeconds: consumerTimeout.toSeconds(),
  retryWaitSeconds: (attempt) => backoffCeilingSeconds(attempt, backoff),
});

/** The webhook queue: a failed delivery's message returns after the schedule's wait, at the top of its jitter. */
export const webhookQueueTiming = (visibilityTimeout: Duration, consumerTimeout: Duration): QueueTiming => ({
  visibilityTimeoutSeconds: visibilityTimeout.toSeconds(),
  consumerTimeoutSeconds: consumerTimeout.toSeconds(),
  retryWaitSeconds: (attempt) => webhookRetryDelaySeconds(attempt, { random: () => 1 }),
});

/**
 * The oldest a message moving as designed can be while the age metric still counts it: each of its first
 * AGE_METRIC_RECEIVES - 1 attempts either crashed (the message comes back after the visibility timeout)
 * or failed and set its retry wait after running up to the timeout, whichever is longer.
 */
export const legitimateOldestMessageAgeSeconds = (timing: QueueTiming): number => {
  let total = 0;
  for (let attempt = 1; attempt < AGE_METRIC_RECEIVES; attempt++) {
    total += Math.max(
      timing.visibilityTimeoutSeconds,
      timing.consumerTimeoutSeconds + timing.retryWaitSeconds(attempt),
    );
  }
  return total;
};

/**
 * The age alarm's threshold: the legitimate age plus one alarm period, so that a message at the very end
 * of its legitimate path (and SQS's approximate sampling) does not page anyone.
 */
export const oldestMessageAgeThresholdSeconds = (timing: QueueTiming): number =>
  legitimateOldestMessageAgeSeconds(timing) + ALARM_PERIOD.toSeconds();

/**
 * The AsyncEventAge threshold of a function invoked asynchronously: its last retry is invoked after every
 * earlier attempt ran up to the timeout and Lambda waited between them; older than that (plus one alarm
 * period) means events wait for concurrency, not for retries.
 */
export const asyncEventAgeThresholdSeconds = (timeoutSeconds: number, retries: number): number => {
  let total = 0;
  for (let retry = 1; retry <= retries; retry++) {
    total += timeoutSeconds + (LAMBDA_ASYNC_RETRY_WAITS_SECONDS[retry - 1] ?? 120);
  }
  return total + ALARM_PERIOD.toSeconds();
};

/** CloudWatch refuses an alarm whose metric math reads more than this many metrics (PutMetricAlarm). */
export const MAX_METRICS_PER_ALARM = 10;

/**
 * The sum of `metrics`, a period without data counting 0: what an alarm on several metrics watches.
 * Throws at synth for more metrics than one alarm may read (CloudWatch would refuse it at deploy, after
 * everything before it was created): a table with a fifth index, or a sixth reconcile kind, needs its
 * alarm split.
 */
export const sumOfMetrics = (
  metrics: Record<string, IMetric>,
  options: { period: Duration; label: string },
): MathExpression => {
  const ids = Object.keys(metrics);
  if (ids.length > MAX_METRICS_PER_ALARM) {
    throw new Error(
      `the alarm on ${options.label} would read ${ids.length} metrics; CloudWatch allows an alarm at most ${MAX_METRICS_PER_ALARM}: split it`,
    );
  }
  return new MathExpression({
    expression: ids.map((id) => `FILL(${id}, 0)`).join(' + '),
    usingMetrics: metrics,
    period: options.period,
    label: options.label,
  });
};

/** The reconciler alarm: jobs moved on in every one of these periods means something keeps losing them. */
export const RECONCILER_ALARM_PERIOD = Duration.minutes(15);
export const RECONCILER_ALARM_PERIODS = 4;

/** A work queue to watch, with the timing its age threshold comes from. */
export interface WatchedQueue {
  /** Names the queue in alarm ids and descriptions: `Image`, `Video`, `Webhook`. */
  readonly name: string;
  readonly queue: QueueWithDeadLetter;
  readonly timing: QueueTiming;
}

/** A function invoked asynchronously (S3 → ingest), with its retries. */
export interface AsyncFunction {
  readonly fn: MediaFunction;
  readonly retries: number;
}

/** A table to watch for throttling, with its global secondary indexes (throttled separately). */
export interface WatchedTable {
  readonly name: string;
  readonly table: ITable;
  readonly indexNames?: readonly string[];
}

export interface MonitoringProps {
  /** Every function of the stack: each gets an Errors and a Throttles alarm. */
  readonly functions: readonly MediaFunction[];
  readonly asyncFunctions: readonly AsyncFunction[];
  readonly workQueues: readonly WatchedQueue[];
  /** The HTTP API's stage: its 5xx answers. @default - none (the LocalStack variant has no HTTP API) */
  readonly apiStage?: IHttpStage;
  readonly tables: readonly WatchedTable[];
  /** The reconciler: JobsReconciled, by kind. */
  readonly reconcilerFunction: MediaFunction;
}

/** Alarms and what they watch, for the dashboard and the tests. */
export interface FunctionAlarms {
  readonly fn: MediaFunction;
  readonly errors: Alarm;
  readonly throttles: Alarm;
}

/**
 * The stack's alarms besides the dead-letter ones (lib/constructs/queue-with-dead-letter.ts): what an
 * operator must hear about. Each says in its description what it means and what to do; lib/alerts.ts
 * sends them all to the alarm topic.
 */
export class Monitoring extends Construct {
  readonly functionAlarms: FunctionAlarms[];
  readonly asyncAlarms: { fn: MediaFunction; deadLetterErrors: Alarm; eventAge: Alarm }[];
  readonly queueAgeAlarms: {
    name: string;
    queue: QueueWithDeadLetter;
    alarm: Alarm;
    thresholdSeconds: number;
  }[];
  readonly apiServerErrors: Alarm | undefined;
  readonly tableThrottles: { name: string; table: ITable; alarm: Alarm }[];
  readonly reconcilerActivity: Alarm;
  /** JobsReconciled of every kind, summed (the reconciler alarm's and the dashboard's). */
  readonly jobsReconciled: MathExpression;
  /** Alarms that count single events: their return to OK says nothing. */
  readonly eventAlarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const atLeastOnce = {
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    };

    this.functionAlarms = props.functions.map((fn) => {
      const id = fn.node.id;
      const errors = fn
        .metricErrors({ period: ALARM_PERIOD, statistic: Stats.SUM })
        .createAlarm(this, `${id}Errors`, {
          ...atLeastOnce,
          alarmDescription: `${fn.serviceName} failed (an exception, a timeout or running out of memory). Look at its log group for the errors; SQS consumers retry, ingest retries twice, the API answered 5xx.`,
        });
      const throttles = fn
        .metricThrottles({ period: ALARM_PERIOD, statistic: Stats.SUM })
        .createAlarm(this, `${id}Throttles`, {
          ...atLeastOnce,
          alarmDescription: `${fn.serviceName} was throttled: the account's (or its reserved) concurrency was used up. Throttled queue deliveries still count as receives. Check concurrency use (ConcurrentExecutions) and the quotas.`,
        });
      return { fn, errors, throttles };
    });

    this.asyncAlarms = props.asyncFunctions.map(({ fn, retries }) => {
      const id = fn.node.id;
      const deadLetterErrors = fn
        .metric('DeadLetterErrors', { period: ALARM_PERIOD, statistic: Stats.SUM })
        .createAlarm(this, `${id}DeadLetterErrors`, {
          ...atLeastOnce,
          alarmDescription: `Lambda could not put a failed ${fn.serviceName} event into its dead-letter queue: the event is lost (the reconciler still finds its upload). Check the queue exists and the function's role may send to it.`,
        });
      this.eventAlarms.push(deadLetterErrors);
      const thresholdSeconds = asyncEventAgeThresholdSeconds(fn.timeout?.toSeconds() ?? 3, retries);
      const eventAge = fn
        .metric('AsyncEventAge', { period: ALARM_PERIOD, statistic: Stats.MAXIMUM })
        .createAlarm(this, `${id}AsyncEventAge`, {
          ...atLeastOnce,
          threshold: thresholdSeconds * 1000,
          alarmDescription: `An event waited more than ${thresholdSeconds} s for ${fn.serviceName} (longer than its ${retries} retries take): invocations are throttled or failing. Uploads are ingested late.`,
        });
      return { fn, deadLetterErrors, eventAge };
    });

    this.queueAgeAlarms = props.workQueues.map(({ name, queue, timing }) => {
      const thresholdSeconds = oldestMessageAgeThresholdSeconds(timing);
      const alarm = queue.queue
        .metricApproximateAgeOfOldestMessage({ period: ALARM_PERIOD, statistic: Stats.MAXIMUM })
        .createAlarm(this, `${name}QueueAge`, {
          ...atLeastOnce,
          threshold: thresholdSeconds,
          alarmDescription: `A message has waited in the ${name.toLowerCase()} queue more than ${thresholdSeconds} s, longer than its first retries can explain: its consumer is falling behind (a backlog, throttling, a low maximum concurrency) or not running. Look at the queue depth and the function's errors and throttles.`,
        });
      return { name, queue, alarm, thresholdSeconds };
    });

    this.apiServerErrors = props.apiStage
      ?.metricServerError({ period: ALARM_PERIOD, statistic: Stats.SUM })
      .createAlarm(this, 'ApiServerErrors', {
        ...atLeastOnce,
        alarmDescription:
          'The HTTP API answered 5xx: the API function failed or timed out (a 500 says nothing else to the caller), the authorizer failed, or Lambda throttled them. Look at the API access logs and the API function’s log group.',
      });

    this.tableThrottles = props.tables.map(({ name, table, indexNames = [] }) => {
      // On-demand tables throttle too (past twice their previous peak, or a hot partition). Reads and writes
      // of the table and of each index are separate metrics; FILL makes a period without throttles a 0.
      const metrics: Record<string, IMetric> = {};
      const dimensions = [
        { TableName: table.tableName },
        ...indexNames.map((index) => ({ TableName: table.tableName, GlobalSecondaryIndexName: index })),
      ];
      dimensions.forEach((dimensionsMap, i) => {
        for (const [kind, metricName] of [
          ['r', 'ReadThrottleEvents'],
          ['w', 'WriteThrottleEvents'],
        ] as const) {
          metrics[`${kind}${i}`] = new Metric({
            namespace: 'AWS/DynamoDB',
            metricName,
            dimensionsMap,
            period: ALARM_PERIOD,
            statistic: Stats.SUM,
          });
        }
      });
      const alarm = sumOfMetrics(metrics, {
        period: ALARM_PERIOD,
        label: `${name} throttled requests`,
      }).createAlarm(this, `${name}TableThrottles`, {
        ...atLeastOnce,
        alarmDescription: `DynamoDB throttled requests to the ${name.toLowerCase()} table or its indexes (the SDK retried them, and callers may have failed). Look for a hot partition (CloudWatch Contributor Insights) or a burst above twice the table's previous peak.`,
      });
      return { name, table, alarm };
    });

    const reconciled: Record<string, IMetric> = {};
    Object.values(ReconcileKind).forEach((kind, i) => {
      reconciled[`k${i}`] = new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: JobMetric.Reconciled,
        dimensionsMap: { service: props.reconcilerFunction.serviceName, kind },
        period: RECONCILER_ALARM_PERIOD,
        statistic: Stats.SUM,
      });
    });
    this.jobsReconciled = sumOfMetrics(reconciled, {
      period: RECONCILER_ALARM_PERIOD,
      label: 'jobs reconciled',
    });
    this.reconcilerActivity = this.jobsReconciled.createAlarm(this, 'ReconcilerKeepsReconciling', {
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: RECONCILER_ALARM_PERIODS,
      datapointsToAlarm: RECONCILER_ALARM_PERIODS,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: `The reconciler moved jobs on in every ${RECONCILER_ALARM_PERIOD.toMinutes()} minutes for ${(RECONCILER_ALARM_PERIOD.toMinutes() * RECONCILER_ALARM_PERIODS) / 60} hour(s): something keeps losing events or messages, or a function keeps dying between two writes (a bug, not bad luck). A backlog held back by the mappings' maximum concurrency does not count: the reconciler calls queued jobs' messages lost only when their queue holds fewer messages than it found such jobs. The reconciler's log lines "job reconciled" say which kind and which jobs.`,
    });
  }
}
