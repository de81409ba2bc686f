import { Duration } from 'aws-cdk-lib';
import type { IHttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  AlarmStatusWidget,
  Dashboard,
  GraphWidget,
  type IAlarm,
  type IMetric,
  MathExpression,
  Metric,
  Stats,
  TextWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { JobMetric } from '#shared/metric-names';
import { METRICS_NAMESPACE, type MediaFunction } from './constructs/media-function.ts';
import type { DeadLetterQueue, QueueWithDeadLetter } from './constructs/queue-with-dead-letter.ts';

const PERIOD = Duration.minutes(5);
const WIDTH = 12;
const HEIGHT = 6;

/**
 * A job metric of every function that emits it, summed. The same metric comes from several functions
 * (JobsFailed from the processors, the dead-letter function, ingest, the API and the reconciler; ingest's
 * code also runs in the API and the reconciler), each with its own `service` dimension: a search finds
 * them all, including a function added later. Dashboards may search; alarms may not (lib/monitoring.ts
 * names its metrics).
 */
const jobsEverywhere = (metricName: string, label: string): IMetric =>
  new MathExpression({
    expression: `SUM(SEARCH('{${METRICS_NAMESPACE},service} MetricName="${metricName}"', 'Sum', ${PERIOD.toSeconds()}))`,
    label,
    period: PERIOD,
  });

const serviceMetric = (fn: MediaFunction, metricName: string, statistic: string, label: string): Metric =>
  new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service: fn.serviceName },
    statistic,
    period: PERIOD,
    label,
  });

export interface PipelineDashboardProps {
  /** The image and video processors (ProcessingTime, and their Lambda Duration). */
  readonly processors: readonly MediaFunction[];
  /** Every function of the stack: errors and throttles. */
  readonly functions: readonly MediaFunction[];
  readonly workQueues: readonly { name: string; queue: QueueWithDeadLetter }[];
  readonly deadLetterQueues: readonly { name: string; deadLetter: DeadLetterQueue }[];
  readonly webhookFunction: MediaFunction;
  /** @default - no API graph (the LocalStack variant has no HTTP API) */
  readonly apiStage?: IHttpStage;
  /** JobsReconciled of every kind (lib/monitoring.ts). */
  readonly jobsReconciled: IMetric;
  /** Shown in an alarm status widget at the top. */
  readonly alarms: readonly IAlarm[];
}

/**
 * The pipeline on one CloudWatch dashboard: jobs in and out, processing time, queues, errors and
 * throttles per function, webhooks and the API, with every alarm's state at the top.
 */
export class PipelineDashboard extends Construct {
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: PipelineDashboardProps) {
    super(scope, id);
    const perFunction = (metric: (fn: MediaFunction) => IMetric) => props.functions.map(metric);

    this.dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(6) });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown:
          '# Media pipeline\nJobs, queues and functions of this stack. What each alarm means and what to do: README, Operations.',
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new AlarmStatusWidget({ title: 'Alarms', alarms: [...props.alarms], width: 24, height: 6 }),
    );
    this.dashboard.addWidgets(
      graph('Jobs', [
        jobsEverywhere(JobMetric.Created, 'created'),
        jobsEverywhere(JobMetric.Done, 'done'),
        jobsEverywhere(JobMetric.Failed, 'failed'),
        jobsEverywhere(JobMetric.Duplicate, 'duplicate'),
        jobsEverywhere(JobMetric.Retried, 'retried'),
      ]),
      graph(
        'Processing time (ms): p50 and p99 per job',
        props.processors.flatMap((fn) => [
          serviceMetric(fn, JobMetric.ProcessingTime, 'p50', `${fn.serviceName} p50`),
          serviceMetric(fn, JobMetric.ProcessingTime, 'p99', `${fn.serviceName} p99`),
        ]),
      ),
    );
    this.dashboard.addWidgets(
      graph(
        'Processors: Lambda duration (ms) p50 and p99 per invocation',
        props.processors.flatMap((fn) => [
          fn.metricDuration({ statistic: 'p50', period: PERIOD, label: `${fn.serviceName} p50` }),
          fn.metricDuration({ statistic: 'p99', period: PERIOD, label: `${fn.serviceName} p99` }),
        ]),
      ),
      graph(
        'Webhooks',
        [
          serviceMetric(props.webhookFunction, JobMetric.WebhookDelivered, Stats.SUM, 'delivered'),
          serviceMetric(props.webhookFunction, JobMetric.WebhookFailed, Stats.SUM, 'failed attempts'),
        ],
        [props.jobsReconciled],
      ),
    );
    this.dashboard.addWidgets(
      graph(
        'Queue depth (visible messages)',
        props.workQueues.map(({ name, queue }) =>
          queue.queue.metricApproximateNumberOfMessagesVisible({
            statistic: Stats.MAXIMUM,
            period: PERIOD,
            label: name,
          }),
        ),
        props.workQueues.map(({ name, queue }) =>
          queue.queue.metricApproximateNumberOfMessagesNotVisible({
            statistic: Stats.MAXIMUM,
            period: PERIOD,
            label: `${name} in flight`,
          }),
        ),
      ),
      graph(
        'Age of the oldest message (s)',
        props.workQueues.map(({ name, queue }) =>
          queue.queue.metricApproximateAgeOfOldestMessage({
            statistic: Stats.MAXIMUM,
            period: PERIOD,
            label: name,
          }),
        ),
      ),
    );
    this.dashboard.addWidgets(
      graph(
        'Dead letters: received (drained queues) and waiting (kept)',
        props.deadLetterQueues.map(({ name, deadLetter }) =>
          deadLetter.drained
            ? deadLetter.queue.metricNumberOfMessagesReceived({
                statistic: Stats.SUM,
                period: PERIOD,
                label: `${name} received`,
              })
            : deadLetter.queue.metricApproximateNumberOfMessagesVisible({
                statistic: Stats.MAXIMUM,
                period: PERIOD,
                label: `${name} waiting`,
              }),
        ),
      ),
      ...(props.apiStage ? [apiGraph(props.apiStage)] : []),
    );
    this.dashboard.addWidgets(
      graph(
        'Errors per function',
        perFunction((fn) => fn.metricErrors({ statistic: Stats.SUM, period: PERIOD, label: fn.serviceName })),
      ),
      graph(
        'Throttles per function',
        perFunction((fn) =>
          fn.metricThrottles({ statistic: Stats.SUM, period: PERIOD, label: fn.serviceName }),
        ),
      ),
    );
  }

  get dashboardName(): string {
    return this.dashboard.dashboardName;
  }
}

const graph = (title: string, left: IMetric[], right: IMetric[] = []) =>
  new GraphWidget({ title, left, right, width: WIDTH, height: HEIGHT, period: PERIOD });

const apiGraph = (stage: IHttpStage) =>
  graph(
    'HTTP API',
    [
      stage.metricCount({ statistic: Stats.SAMPLE_COUNT, period: PERIOD, label: 'requests' }),
      stage.metricClientError({ period: PERIOD, label: '4xx' }),
      stage.metricServerError({ period: PERIOD, label: '5xx' }),
    ],
    [stage.metricLatency({ statistic: 'p99', period: PERIOD, label: 'latency p99 (ms)' })],
  );
