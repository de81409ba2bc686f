import { App, type CfnResource, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, type Template } from 'aws-cdk-lib/assertions';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { CfnAlarm, Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Alerts } from '#lib/alerts';
import { settingsFromContext } from '#lib/app';
import type { MediaPipelineStack } from '#lib/media-pipeline-stack';
import {
  asyncEventAgeThresholdSeconds,
  legitimateOldestMessageAgeSeconds,
  MAX_METRICS_PER_ALARM,
  oldestMessageAgeThresholdSeconds,
  processorQueueTiming,
  sumOfMetrics,
} from '#lib/monitoring';
import { DEFAULT_BACKOFF, fullJitterDelaySeconds } from '#shared/retry';
import { type SynthesizedPipeline, synthesizePipeline } from './synthesize.ts';
import { environmentOf, TemplateQueries } from './template-queries.ts';

interface AlarmProperties {
  AlarmActions?: unknown[];
  OKActions?: unknown[];
  MetricName?: string;
  Namespace?: string;
  Statistic?: string;
  Threshold?: number;
  Period?: number;
  Dimensions?: { Name: string; Value: unknown }[];
  Metrics?: {
    Id: string;
    Expression?: string;
    MetricStat?: { Metric: { MetricName: string; Dimensions: { Name: string; Value: unknown }[] } };
  }[];
}

describe('alerts and visibility', () => {
  // Prepare and Act, once for the file: synthesizing bundles every function with esbuild.
  let synthesized: SynthesizedPipeline;
  let stack: MediaPipelineStack;
  let template: Template;
  let queries: TemplateQueries;
  const logicalId = (construct: IConstruct): string =>
    stack.resolve((construct.node.defaultChild as CfnResource).logicalId) as string;
  const alarm = (construct: IConstruct): AlarmProperties =>
    queries.get(logicalId(construct)).Properties as AlarmProperties;
  const topicRef = () => ({ Ref: logicalId(stack.alerts.topic) });

  beforeAll(() => {
    synthesized = synthesizePipeline();
    ({ stack, template } = synthesized);
    queries = new TemplateQueries(template);
  });
  afterAll(() => synthesized?.cleanUp());

  describe('the alarm topic', () => {
    it('is encrypted with a key CloudWatch may use, refuses requests without TLS and is an output', () => {
      // Assess
      const key = logicalId(stack.alerts.key);
      template.hasResourceProperties('AWS::SNS::Topic', {
        KmsMasterKeyId: { 'Fn::GetAtt': [key, 'Arn'] },
      });
      template.hasResourceProperties('AWS::KMS::Key', {
        EnableKeyRotation: true,
        KeyPolicy: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Principal: { Service: 'cloudwatch.amazonaws.com' },
              Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            }),
          ]),
        },
      });
      template.hasResourceProperties('AWS::SNS::TopicPolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
            Match.objectLike({
              Effect: 'Allow',
              Principal: { Service: 'cloudwatch.amazonaws.com' },
              Action: 'sns:Publish',
            }),
          ]),
        },
      });
      template.hasOutput('AlarmTopicArn', { Value: topicRef() });
      template.resourceCountIs('AWS::SNS::Subscription', 0);
    });

    it('is the alarm action of every alarm, and the OK action of all but the one-off event alarms', () => {
      // Prepare
      const silent = new Set(
        [
          stack.processing.imageQueue.deadLetter.alarm,
          stack.processing.videoQueue.deadLetter.alarm,
          stack.ingest.deadLetter.alarm,
          ...stack.monitoring.asyncAlarms.map(({ deadLetterErrors }) => deadLetterErrors),
        ].map(logicalId),
      );
      const alarms = queries.ofType('AWS::CloudWatch::Alarm');
      // Assess
      expect(alarms.length).toBeGreaterThan(20);
      for (const [id, { Properties }] of alarms) {
        const properties = Properties as AlarmProperties;
        expect(properties.AlarmActions, id).toEqual([topicRef()]);
        expect(properties.OKActions, id).toEqual(silent.has(id) ? undefined : [topicRef()]);
      }
    });

    it('refuses a bare CfnAlarm, which would notify nobody', () => {
      // Prepare
      const app = new App();
      const scope = new Stack(app, 'Bare');
      const alerts = new Alerts(scope, 'Alerts');
      alerts.notifyEveryAlarm(scope);
      new CfnAlarm(scope, 'Bare', {
        comparisonOperator: 'GreaterThanThreshold',
        evaluationPeriods: 1,
        metricName: 'Errors',
        namespace: 'AWS/Lambda',
        period: 60,
        statistic: 'Sum',
        threshold: 0,
      });
      // Act
      const annotations = Annotations.fromStack(scope);
      // Assess
      annotations.hasError('/Bare/Bare', Match.stringLikeRegexp('made as a CfnAlarm'));
    });
  });

  describe('dead-letter alarms', () => {
    it.each([
      ['image', (s: MediaPipelineStack) => s.processing.imageQueue.deadLetter],
      ['video', (s: MediaPipelineStack) => s.processing.videoQueue.deadLetter],
      ['ingest', (s: MediaPipelineStack) => s.ingest.deadLetter],
    ])('count what the dead-letter function receives from the %s queue it drains', (_, deadLetterOf) => {
      // Prepare
      const deadLetter = deadLetterOf(stack);
      // Assess
      expect(alarm(deadLetter.alarm)).toMatchObject({
        Namespace: 'AWS/SQS',
        MetricName: 'NumberOfMessagesReceived',
        Statistic: 'Sum',
        Period: 300,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        Dimensions: [
          { Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(deadLetter.queue), 'QueueName'] } },
        ],
      });
    });

    it('watch the depth of the webhook dead-letter queue, which keeps its messages for a redrive', () => {
      // Prepare
      const deadLetter = stack.notifications.webhookQueue.deadLetter;
      // Assess
      expect(deadLetter.drained).toBe(false);
      expect(alarm(deadLetter.alarm)).toMatchObject({
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Statistic: 'Maximum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Dimensions: [
          { Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(deadLetter.queue), 'QueueName'] } },
        ],
      });
    });
  });

  describe('missing alarms', () => {
    it('has an Errors and a Throttles alarm for every project function', () => {
      // Prepare
      const functions = queries.projectFunctions();
      const byMetric = (metricName: string) =>
        queries
          .ofType('AWS::CloudWatch::Alarm')
          .map(([, { Properties }]) => Properties as AlarmProperties)
          .filter((p) => p.Namespace === 'AWS/Lambda' && p.MetricName === metricName)
          .map((p) => (p.Dimensions?.[0]?.Value as { Ref?: string } | undefined)?.Ref)
          .sort();
      const functionIds = [...functions.values()].map(({ logicalId: id }) => id).sort();
      // Assess
      expect(functionIds.length).toBeGreaterThanOrEqual(9);
      expect(byMetric('Errors')).toEqual(functionIds);
      expect(byMetric('Throttles')).toEqual(functionIds);
    });

    it('watches ingest’s asynchronous invocations: dead-letter errors and event age', () => {
      // Prepare
      const ingest = stack.monitoring.asyncAlarms[0];
      if (!ingest) throw new Error('no alarms on an asynchronous function');
      const ingestRef = { Ref: logicalId(stack.ingest.ingestFunction) };
      // Assess
      expect(ingest.fn).toBe(stack.ingest.ingestFunction);
      expect(alarm(ingest.deadLetterErrors)).toMatchObject({
        MetricName: 'DeadLetterErrors',
        Statistic: 'Sum',
        Threshold: 1,
        Dimensions: [{ Name: 'FunctionName', Value: ingestRef }],
      });
      // 2 retries of a 300 s function, with Lambda's 60 s and 120 s waits, and one 300 s period of margin.
      expect(alarm(ingest.eventAge)).toMatchObject({
        MetricName: 'AsyncEventAge',
        Statistic: 'Maximum',
        Threshold: (2 * 300 + 60 + 120 + 300) * 1000,
        Dimensions: [{ Name: 'FunctionName', Value: ingestRef }],
      });
    });

    it('alarms on the age of the oldest message of each work queue, past what its first retries explain', () => {
      // Prepare: image 2 × 360 s visibility, video 2 × 1800 s, webhook 180 s then 30 s + 360 s (5 min +20%)
      const expected: Record<string, number> = { Image: 720 + 300, Video: 3600 + 300, Webhook: 570 + 300 };
      // Assess
      expect(stack.monitoring.queueAgeAlarms.map(({ name }) => name)).toEqual(['Image', 'Video', 'Webhook']);
      for (const { name, queue, alarm: age } of stack.monitoring.queueAgeAlarms) {
        expect(alarm(age), name).toMatchObject({
          MetricName: 'ApproximateAgeOfOldestMessage',
          Statistic: 'Maximum',
          Threshold: expected[name],
          Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(queue.queue), 'QueueName'] } }],
        });
      }
    });

    it('alarms on the HTTP API’s 5xx answers of its stage', () => {
      // Assess
      expect(alarm(stack.monitoring.apiServerErrors as IConstruct)).toMatchObject({
        Namespace: 'AWS/ApiGateway',
        MetricName: '5xx',
        Statistic: 'Sum',
        Threshold: 1,
        Dimensions: [
          { Name: 'ApiId', Value: { Ref: logicalId(stack.uploadApi.httpApi as HttpApi) } },
          { Name: 'Stage', Value: '$default' },
        ],
      });
    });

    it('alarms on throttled reads and writes of the jobs table, its indexes, and the tenants table', () => {
      // Prepare
      const throttled = (table: IConstruct) => {
        const found = stack.monitoring.tableThrottles.find((t) => t.table === table);
        if (!found) throw new Error('no throttle alarm for the table');
        return alarm(found.alarm).Metrics ?? [];
      };
      const metricsOf = (metrics: AlarmProperties['Metrics'] = []) =>
        metrics.flatMap(({ MetricStat }) =>
          MetricStat
            ? [
                `${MetricStat.Metric.MetricName}:${MetricStat.Metric.Dimensions.map((d) => (typeof d.Value === 'string' ? d.Value : d.Name)).join('/')}`,
              ]
            : [],
        );
      // Assess
      expect(metricsOf(throttled(stack.storage.jobsTable)).sort()).toEqual(
        [
          'ReadThrottleEvents:TableName',
          'WriteThrottleEvents:TableName',
          'ReadThrottleEvents:open-jobs/TableName',
          'WriteThrottleEvents:open-jobs/TableName',
          'ReadThrottleEvents:tenant-jobs/TableName',
          'WriteThrottleEvents:tenant-jobs/TableName',
        ].sort(),
      );
      expect(metricsOf(throttled(stack.apiAuth.tenantsTable)).sort()).toEqual(
        ['ReadThrottleEvents:TableName', 'WriteThrottleEvents:TableName'].sort(),
      );
      expect(throttled(stack.storage.jobsTable).find((m) => m.Expression)?.Expression).toMatch(
        /^FILL\(r0, 0\) \+ /,
      );
    });

    it('alarms when the reconciler moves jobs on in every quarter hour for an hour', () => {
      // Prepare
      const properties = queries.get(logicalId(stack.monitoring.reconcilerActivity)).Properties;
      const metrics = (properties as AlarmProperties).Metrics ?? [];
      const kinds = metrics.flatMap(({ MetricStat }) =>
        MetricStat ? MetricStat.Metric.Dimensions.filter((d) => d.Name === 'kind').map((d) => d.Value) : [],
      );
      // Assess
      expect(properties).toMatchObject({ EvaluationPeriods: 4, DatapointsToAlarm: 4, Threshold: 1 });
      expect(kinds.sort()).toEqual(
        [
          'attempt_stalled',
          'message_lost',
          'message_not_sent',
          'outcome_not_announced',
          'upload_not_ingested',
        ].sort(),
      );
      for (const { MetricStat } of metrics.filter((m) => m.MetricStat)) {
        expect(MetricStat).toMatchObject({
          Metric: {
            Namespace: 'MediaPipeline',
            MetricName: 'JobsReconciled',
            Dimensions: expect.arrayContaining([{ Name: 'service', Value: 'media-reconciler' }]),
          },
          Period: 900,
          Stat: 'Sum',
        });
      }
    });
  });

  describe('the dashboard', () => {
    it('shows the jobs, processing time, queues, functions and webhooks, and is an output', () => {
      // Prepare
      const dashboards = queries.ofType('AWS::CloudWatch::Dashboard');
      const [id, dashboard] = dashboards[0] ?? ['', { Properties: {} as Record<string, unknown> }];
      const body = JSON.stringify(dashboard.Properties.DashboardBody);
      // Assess
      expect(dashboards).toHaveLength(1);
      for (const name of [
        'JobsCreated',
        'JobsDone',
        'JobsFailed',
        'JobsDuplicate',
        'ProcessingTime',
        'p50',
        'p99',
        'ApproximateNumberOfMessagesVisible',
        'ApproximateAgeOfOldestMessage',
        'Errors',
        'Throttles',
        'WebhooksDelivered',
        'WebhooksFailed',
        'JobsReconciled',
        '5xx',
        'alarms',
      ]) {
        expect(body, name).toContain(name);
      }
      template.hasOutput('DashboardName', { Value: { Ref: id } });
    });

    it('shows every alarm of the stack in its alarm status widget', () => {
      // Prepare
      const id = logicalId(stack.dashboard?.dashboard ?? stack);
      const body = JSON.stringify(queries.get(id).Properties);
      const alarmIds = queries.ofType('AWS::CloudWatch::Alarm').map(([alarmId]) => alarmId);
      // Assess
      expect(alarmIds.length).toBeGreaterThan(20);
      for (const alarmId of alarmIds) {
        expect(body, alarmId).toContain(JSON.stringify({ 'Fn::GetAtt': [alarmId, 'Arn'] }));
      }
    });
  });

  describe('tracing', () => {
    it('is off by default: no active tracing, no tracer', () => {
      // Assess
      for (const [service, { properties }] of queries.projectFunctions()) {
        expect(properties.TracingConfig, service).toBeUndefined();
        expect(environmentOf(properties).POWERTOOLS_TRACE_ENABLED, service).toBeUndefined();
      }
    });
  });

  it('has no alarm reading more metrics than CloudWatch allows one alarm (10)', () => {
    // Prepare
    const metricCounts = queries
      .ofType('AWS::CloudWatch::Alarm')
      .map(
        ([, { Properties }]) =>
          (Properties as AlarmProperties).Metrics?.filter((m) => m.MetricStat).length ?? 1,
      );
    // Assess
    expect(Math.max(...metricCounts)).toBeLessThanOrEqual(MAX_METRICS_PER_ALARM);
  });

  it('passes cdk-nag’s AWS Solutions checks', () => {
    // Act
    const report = new AwsSolutionsChecks().validateScope(stack);
    // Assess
    expect(
      report.violations.map(
        (v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
      ),
    ).toEqual([]);
  });
});

describe('alarmEmail and tracing on', () => {
  let synthesized: SynthesizedPipeline;
  let queries: TemplateQueries;

  beforeAll(() => {
    synthesized = synthesizePipeline({}, { alarmEmail: 'ops@example.com', tracing: 'true' });
    queries = new TemplateQueries(synthesized.template);
  });
  afterAll(() => synthesized?.cleanUp());

  it('subscribes the email to the alarm topic', () => {
    // Assess
    synthesized.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
  });

  it('traces every project function actively, with the tracer on and leave to write to X-Ray', () => {
    // Prepare
    const functions = queries.projectFunctions();
    // Assess
    expect(functions.size).toBeGreaterThanOrEqual(9);
    for (const [service, { properties }] of functions) {
      expect(properties.TracingConfig, service).toEqual({ Mode: 'Active' });
      expect(environmentOf(properties).POWERTOOLS_TRACE_ENABLED, service).toBe('true');
    }
    synthesized.template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], Resource: '*' }),
        ]),
      },
    });
  });

  it('passes cdk-nag’s AWS Solutions checks with tracing on', () => {
    // Act
    const report = new AwsSolutionsChecks().validateScope(synthesized.stack);
    // Assess
    expect(
      report.violations.map(
        (v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
      ),
    ).toEqual([]);
  });
});

describe('settings', () => {
  const contextOf = (context: Record<string, unknown>) => new App({ context }).node;

  it.each(['ops', 'ops@', 'Ops <ops@example.com>', 'a@b', 'ops@example.com,dev@example.com', 42])(
    'refuses alarmEmail %j',
    (alarmEmail) => {
      // Act
      const read = () => settingsFromContext(contextOf({ alarmEmail }));
      // Assess
      expect(read).toThrow(/alarmEmail must be one email address/);
    },
  );

  it('takes an email address and tracing from context, tracing off unless said', () => {
    // Act
    const given = settingsFromContext(contextOf({ alarmEmail: 'ops@example.com', tracing: 'true' }));
    const absent = settingsFromContext(contextOf({}));
    // Assess
    expect(given).toMatchObject({ alarmEmail: 'ops@example.com', tracing: true });
    expect(absent.alarmEmail).toBeUndefined();
    expect(absent.tracing).toBeUndefined();
    expect(() => settingsFromContext(contextOf({ tracing: 'yes' }))).toThrow(/tracing must be true or false/);
  });

  it('refuses a malformed alarmEmail given as a prop too', () => {
    // Act
    const make = () => new Alerts(new Stack(new App(), 'S'), 'Alerts', { alarmEmail: 'nobody' });
    // Assess
    expect(make).toThrow(/alarmEmail must be one email address/);
  });
});

describe('alarm thresholds', () => {
  it('lets a work queue’s messages be as old as two attempts that crashed or failed and waited', () => {
    // Prepare
    const timing = {
      visibilityTimeoutSeconds: 60,
      consumerTimeoutSeconds: 10,
      retryWaitSeconds: (a: number) => 100 * a,
    };
    // Act
    const legitimate = legitimateOldestMessageAgeSeconds(timing);
    // Assess: attempt 1 waits max(60, 10 + 100), attempt 2 max(60, 10 + 200)
    expect(legitimate).toBe(110 + 210);
    expect(oldestMessageAgeThresholdSeconds(timing)).toBe(320 + 300);
  });

  it('lets an asynchronous event be as old as its retries take', () => {
    // Act and Assess
    expect(asyncEventAgeThresholdSeconds(300, 2)).toBe(300 + 60 + 300 + 120 + 300);
    expect(asyncEventAgeThresholdSeconds(30, 0)).toBe(300);
  });
});

describe('metric math alarms', () => {
  const metrics = (count: number) =>
    Object.fromEntries(
      Array.from({ length: count }, (_, i) => [
        `m${i}`,
        new Metric({
          namespace: 'AWS/DynamoDB',
          metricName: 'ReadThrottleEvents',
          dimensionsMap: { i: `${i}` },
        }),
      ]),
    );

  it('sums up to ten metrics, a missing period counting 0', () => {
    // Act
    const sum = sumOfMetrics(metrics(MAX_METRICS_PER_ALARM), { period: Duration.minutes(5), label: 'x' });
    // Assess
    expect(sum.expression).toBe(
      Array.from({ length: MAX_METRICS_PER_ALARM }, (_, i) => `FILL(m${i}, 0)`).join(' + '),
    );
  });

  it('refuses at synth an eleventh metric, which CloudWatch would refuse at deploy', () => {
    // Act and Assess
    expect(() =>
      sumOfMetrics(metrics(MAX_METRICS_PER_ALARM + 1), {
        period: Duration.minutes(5),
        label: 'Jobs throttled requests',
      }),
    ).toThrow(/Jobs throttled requests would read 11 metrics; CloudWatch allows an alarm at most 10/);
  });
});

describe('processor queue timing', () => {
  it('allows for the longest wait the processors’ backoff can draw after each attempt', () => {
    // Prepare
    const timing = processorQueueTiming(Duration.seconds(360), Duration.seconds(60));
    const longestDraw = (attempt: number) =>
      fullJitterDelaySeconds(attempt, DEFAULT_BACKOFF, () => 0.999_999_9);
    // Assess
    for (const attempt of [1, 2, 3, 7, 20]) {
      expect(timing.retryWaitSeconds(attempt)).toBe(longestDraw(attempt));
    }
    expect(timing).toMatchObject({ visibilityTimeoutSeconds: 360, consumerTimeoutSeconds: 60 });
  });
});
