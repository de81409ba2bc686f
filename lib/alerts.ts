import { Annotations, Aspects, type IAspect, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AlarmBase, CfnAlarm, type IAlarm } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct, type IConstruct } from 'constructs';

/**
 * An email address as the alarmEmail setting takes it: one mailbox, no display name. SNS checks nothing
 * at deploy time (a typo only shows as a subscription that is never confirmed), so the synth does.
 */
const EMAIL =
  /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

export const isAlarmEmail = (value: unknown): value is string =>
  typeof value === 'string' && value.length <= 254 && EMAIL.test(value);

export interface AlertsProps {
  /**
   * Subscribed to the topic by email (AWS sends a confirmation message first: nothing arrives until the
   * link in it is followed).
   * @default - no subscription: subscribe Slack, PagerDuty or a mailbox to the topic (AlarmTopicArn)
   */
  readonly alarmEmail?: string;
}

const CLOUDWATCH = new ServicePrincipal('cloudwatch.amazonaws.com');

/**
 * Where the stack's alarms go: one SNS topic, encrypted with its own KMS key, TLS-only, with an optional
 * email subscription. `notifyEveryAlarm` points every alarm of a scope at it (an aspect, so an alarm
 * added later by any construct cannot be forgotten): ALARM always, OK too unless the alarm was marked
 * with `withoutRecoveryNotice`.
 */
export class Alerts extends Construct {
  readonly topic: Topic;
  /** The topic's key: CloudWatch may use it, which it may not do with the AWS managed key aws/sns. */
  readonly key: Key;
  private readonly action: SnsAction;
  private readonly silentRecoveries = new Set<IAlarm>();

  constructor(scope: Construct, id: string, props: AlertsProps = {}) {
    super(scope, id);
    if (props.alarmEmail !== undefined && !isAlarmEmail(props.alarmEmail)) {
      throw new Error(
        `alarmEmail must be one email address such as ops@example.com, not ${JSON.stringify(props.alarmEmail)}`,
      );
    }
    // An alarm publishes to an encrypted topic only if CloudWatch may use the key: a customer managed
    // key with this grant ($1 a month), since the AWS managed aws/sns key's policy cannot be changed.
    this.key = new Key(this, 'TopicKey', {
      description: 'Encrypts the media pipeline alarm topic',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsPublishToTheTopic',
        principals: [CLOUDWATCH],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.topic = new Topic(this, 'Topic', {
      displayName: 'Media pipeline alarms',
      masterKey: this.key,
      enforceSSL: true,
    });
    // The topic policy that enforceSSL creates replaces SNS's default one: allow this account's alarms.
    const stack = Stack.of(this);
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsOfThisAccount',
        principals: [CLOUDWATCH],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': `arn:${stack.partition}:cloudwatch:${stack.region}:${stack.account}:alarm:*`,
          },
        },
      }),
    );
    if (props.alarmEmail) this.topic.addSubscription(new EmailSubscription(props.alarmEmail));
    this.action = new SnsAction(this.topic);
  }

  /**
   * Alarms whose return to OK says nothing: they count events over one period (a dead letter arrived),
   * so they go back to OK by themselves five minutes later whatever anyone did.
   */
  withoutRecoveryNotice(...alarms: IAlarm[]): void {
    for (const alarm of alarms) this.silentRecoveries.add(alarm);
  }

  /** Points every alarm under `scope`, now or added later, at the topic. */
  notifyEveryAlarm(scope: IConstruct): void {
    Aspects.of(scope).add(new NotifyTopic(this.action, this.silentRecoveries));
  }
}

/**
 * Adds the topic to each alarm's actions. A bare CfnAlarm (not made through the Alarm class) cannot be
 * given actions this way: the synth fails on it rather than deploying an alarm that tells nobody.
 */
class NotifyTopic implements IAspect {
  private readonly done = new WeakSet<IConstruct>();

  constructor(
    private readonly action: SnsAction,
    private readonly silentRecoveries: ReadonlySet<IAlarm>,
  ) {}

  visit(node: IConstruct): void {
    if (this.done.has(node)) return;
    this.done.add(node);
    if (node instanceof AlarmBase) {
      node.addAlarmAction(this.action);
      if (!this.silentRecoveries.has(node)) node.addOkAction(this.action);
    } else if (node instanceof CfnAlarm && !(node.node.scope instanceof AlarmBase)) {
      Annotations.of(node).addError(
        'This alarm was made as a CfnAlarm: make it with the Alarm class so that the alarm topic is added to its actions.',
      );
    }
  }
}
