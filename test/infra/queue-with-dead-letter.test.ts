import { Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import {
  DeadLetterQueue,
  QueueWithDeadLetter,
  visibilityTimeoutFor,
} from '#lib/constructs/queue-with-dead-letter';
import { testApp } from './synthesize.ts';

/** A consumer with the given timeout; inline code, so nothing is bundled. */
const consumer = (stack: Stack, id: string, timeout: Duration): LambdaFunction =>
  new LambdaFunction(stack, id, {
    runtime: Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: Code.fromInline('exports.handler = async () => ({ batchItemFailures: [] });'),
    timeout,
  });

const newStack = (): Stack => new Stack(testApp(), 'Test');

describe('QueueWithDeadLetter', () => {
  it('derives the visibility timeout from the consumer’s timeout, six times over', () => {
    // Prepare
    const stack = newStack();
    // Act
    const work = new QueueWithDeadLetter(stack, 'Work', {
      consumerTimeout: Duration.seconds(45),
      maxReceiveCount: 4,
      retentionPeriod: Duration.days(4),
      deadLetterAlarmDescription: 'test',
    });
    // Assess
    expect(work.visibilityTimeout.toSeconds()).toBe(270);
    expect(visibilityTimeoutFor(Duration.minutes(5)).toSeconds()).toBe(1800);
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: 270,
      RedrivePolicy: { maxReceiveCount: 4, deadLetterTargetArn: Match.anyValue() },
    });
  });

  it('keeps dead letters 14 days, encrypts both queues and alarms on the first dead letter', () => {
    // Prepare
    const stack = newStack();
    // Act
    new QueueWithDeadLetter(stack, 'Work', {
      consumerTimeout: Duration.seconds(30),
      maxReceiveCount: 3,
      retentionPeriod: Duration.days(4),
      deadLetterAlarmDescription: 'jobs are stuck',
    });
    // Assess
    const template = Template.fromStack(stack);
    template.resourcePropertiesCountIs('AWS::SQS::Queue', { SqsManagedSseEnabled: true }, 2);
    template.hasResourceProperties('AWS::SQS::Queue', { MessageRetentionPeriod: 1_209_600 });
    template.resourceCountIs('AWS::SQS::QueuePolicy', 2);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmDescription: 'jobs are stuck',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('subscribes its consumer with partial batch responses', () => {
    // Prepare
    const stack = newStack();
    const work = new QueueWithDeadLetter(stack, 'Work', {
      consumerTimeout: Duration.seconds(30),
      maxReceiveCount: 3,
      retentionPeriod: Duration.days(4),
      deadLetterAlarmDescription: 'test',
    });
    // Act
    work.addConsumer(consumer(stack, 'Consumer', Duration.seconds(30)), { batchSize: 7 });
    // Assess
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 7,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('refuses a consumer whose timeout the visibility timeout does not cover', () => {
    // Prepare
    const stack = newStack();
    const work = new QueueWithDeadLetter(stack, 'Work', {
      consumerTimeout: Duration.seconds(30),
      maxReceiveCount: 3,
      retentionPeriod: Duration.days(4),
      deadLetterAlarmDescription: 'test',
    });
    const slow = consumer(stack, 'Slow', Duration.seconds(31));
    // Act
    const subscribe = () => work.addConsumer(slow, { batchSize: 1 });
    // Assess
    expect(subscribe).toThrow(/needs at least 186 s/);
  });

  it('sizes the dead-letter queue for the function that drains it, when there is one', () => {
    // Prepare
    const stack = newStack();
    // Act
    const drained = new QueueWithDeadLetter(stack, 'Drained', {
      consumerTimeout: Duration.seconds(10),
      maxReceiveCount: 2,
      retentionPeriod: Duration.days(4),
      deadLetterConsumerTimeout: Duration.seconds(40),
      deadLetterAlarmDescription: 'test',
    });
    const kept = new DeadLetterQueue(stack, 'Kept', { alarmDescription: 'test' });
    // Assess
    expect(drained.deadLetter.visibilityTimeout.toSeconds()).toBe(240);
    expect(kept.visibilityTimeout.toSeconds()).toBe(30);
    expect(() =>
      kept.addConsumer(consumer(stack, 'Drainer', Duration.seconds(10)), { batchSize: 10 }),
    ).toThrow(/needs at least 60 s/);
  });

  it.each([0, 1.5, 1001])('refuses a maxReceiveCount of %s', (maxReceiveCount) => {
    // Prepare
    const stack = newStack();
    // Act
    const create = () =>
      new QueueWithDeadLetter(stack, 'Work', {
        consumerTimeout: Duration.seconds(30),
        maxReceiveCount,
        retentionPeriod: Duration.days(4),
        deadLetterAlarmDescription: 'test',
      });
    // Assess
    expect(create).toThrow(/maxReceiveCount must be an integer from 1 to 1000/);
  });
});
