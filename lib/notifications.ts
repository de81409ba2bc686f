import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { MediaFunction } from './constructs/media-function.ts';
import { acknowledge } from './constructs/nag.ts';
import { QueueWithDeadLetter } from './constructs/queue-with-dead-letter.ts';
import { retryBudgets, WEBHOOK_FUNCTION_TIMEOUT_SECONDS } from './retry-budgets.ts';
import type { Storage } from './storage.ts';

/** One delivery attempt: connect, send, read a bounded response (the function's own limit is 10 s). */
const WEBHOOK_TIMEOUT = Duration.seconds(WEBHOOK_FUNCTION_TIMEOUT_SECONDS);

/**
 * Webhook deliveries at once (the webhook mapping's maximum concurrency): batches of 10, each delivery
 * waiting at most 10 s on a receiver, so ten invocations send some 10 webhooks a second at worst and far
 * more to receivers that answer quickly, without a flood of slow receivers taking the account's concurrency.
 */
export const DEFAULT_WEBHOOK_MAX_CONCURRENCY = 10;

export interface NotificationsProps {
  readonly storage: Storage;
  /**
   * Delivery attempts of one webhook before it is given up, counted on the job by the function; the
   * webhook queue's maxReceiveCount and retention are derived from it (lib/retry-budgets.ts).
   */
  readonly webhookMaxAttempts: number;
  /** Let callback URLs resolve to loopback addresses (local runs only; never in AWS). */
  readonly allowLoopbackCallbacks: boolean;
  /** Ports callback URLs may use: the API's list, checked again before each delivery. */
  readonly callbackPorts: readonly number[];
  /** Keep the signing secret when the stack is deleted (receivers have it configured). */
  readonly retainData: boolean;
  /**
   * The most concurrent invocations of the webhook queue's mapping (2–1000).
   * @default DEFAULT_WEBHOOK_MAX_CONCURRENCY (10)
   */
  readonly maxConcurrency?: number;
}

/**
 * Signed webhooks (Standard Webhooks) to the callback URL of a finished job: the webhook queue and its
 * dead-letter queue, the signing secret and the delivering function. The dead-letter queue is not
 * drained: what reaches it stays 14 days for a redrive, and its alarm says so.
 */
export class Notifications extends Construct {
  readonly webhookQueue: QueueWithDeadLetter;
  readonly webhookSecret: Secret;
  readonly webhookFunction: MediaFunction;

  constructor(scope: Construct, id: string, props: NotificationsProps) {
    super(scope, id);

    // 32 alphanumerics are valid base64: the Standard Webhooks library reads the secret after `whsec_` as base64.
    this.webhookSecret = new Secret(this, 'WebhookSecret', {
      description:
        'Signing key of the media pipeline webhooks (Standard Webhooks; share it as whsec_<value>)',
      generateSecretString: { excludePunctuation: true, includeSpace: false, passwordLength: 32 },
      removalPolicy: props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    acknowledge(
      this.webhookSecret,
      'AwsSolutions-SMG4',
      'Webhook receivers verify signatures with this key, so rotating it is a change coordinated with them, not a schedule.',
    );

    // Only the webhook settings matter here; processing's budget is not this construct's.
    const budget = retryBudgets({ maxAttempts: 1, webhookMaxAttempts: props.webhookMaxAttempts }).webhook;
    this.webhookQueue = new QueueWithDeadLetter(this, 'WebhookQueue', {
      consumerTimeout: WEBHOOK_TIMEOUT,
      maxReceiveCount: budget.maxReceiveCount,
      // The message must outlive the whole schedule, about a day of waits.
      retentionPeriod: Duration.seconds(budget.retentionSeconds),
      deadLetterAlarmDescription:
        'Webhooks gave up after every attempt; the messages wait 14 days in this queue for a redrive.',
    });

    this.webhookFunction = new MediaFunction(this, 'WebhookFunction', {
      source: 'webhook',
      serviceName: 'media-webhook',
      description: 'Delivers signed job webhooks to callback URLs',
      timeout: WEBHOOK_TIMEOUT,
      environment: {
        JOBS_TABLE: props.storage.jobsTable.tableName,
        QUEUE_URL: this.webhookQueue.queue.queueUrl,
        WEBHOOK_SECRET_ARN: this.webhookSecret.secretArn,
        ALLOW_LOOPBACK_CALLBACKS: String(props.allowLoopbackCallbacks),
        CALLBACK_PORTS: props.callbackPorts.join(','),
        WEBHOOK_MAX_ATTEMPTS: String(budget.attempts),
      },
    });
    props.storage.grantJobsReadWrite(this.webhookFunction);
    this.webhookSecret.grantRead(this.webhookFunction);
    this.webhookQueue.addConsumer(this.webhookFunction, {
      batchSize: 10,
      maxConcurrency: props.maxConcurrency ?? DEFAULT_WEBHOOK_MAX_CONCURRENCY,
    });
  }

  /** The queue other concerns send webhook requests to. */
  get queue(): Queue {
    return this.webhookQueue.queue;
  }
}
