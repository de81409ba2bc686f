import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { z } from 'zod';
import { dynamodb, sqs } from '#shared/aws-clients';
import { DEFAULT_CALLBACK_PORTS } from '#shared/callback-url';
import { envBoolean, envInt, envPortList, envString, loadConfig } from '#shared/config';
import { type WebhookMessage, webhookMessageSchema } from '#shared/dispatch';
import { AppError } from '#shared/errors';
import { describeIssues, jsonStringified } from '#shared/events';
import { JobStore } from '#shared/job-store';
import { withObservability } from '#shared/middleware';
import { countJob, JobMetric, logger, withRecordContext } from '#shared/observability';
import { DEFAULT_WEBHOOK_MAX_ATTEMPTS, delayRedelivery, MAX_VISIBILITY_SECONDS } from '#shared/retry';
import { processSqsBatch } from '#shared/sqs-batch';
import { TenantStore } from '#shared/tenants';
import { sendJobWebhook } from './send-job-webhook.ts';
import { signingSecretsFrom } from './signing-secrets.ts';

const config = loadConfig(
  z.object({
    JOBS_TABLE: envString(),
    /** This function's own queue: failed messages get their redelivery delayed on it. */
    QUEUE_URL: envString(),
    WEBHOOK_SECRET_ARN: envString(),
    /** Each tenant's webhook signing secrets; tenants not in it are signed with WEBHOOK_SECRET_ARN's. */
    TENANTS_TABLE: envString(),
    ALLOW_LOOPBACK_CALLBACKS: envBoolean(false),
    /** The API's list: a URL stored before the list shrank is refused here rather than delivered. */
    CALLBACK_PORTS: envPortList(DEFAULT_CALLBACK_PORTS),
    /** Delivery attempts per webhook, counted on the job; the queue's maxReceiveCount allows a few more. */
    WEBHOOK_MAX_ATTEMPTS: envInt(DEFAULT_WEBHOOK_MAX_ATTEMPTS, { min: 1, max: 1_000 }),
    WEBHOOK_TIMEOUT_SECONDS: envInt(10, { min: 1, max: 900 }),
    /** Caps each wait of the retry schedule; the tests set 0 so that a failed delivery comes back at once. */
    WEBHOOK_MAX_DELAY_SECONDS: envInt(MAX_VISIBILITY_SECONDS, { max: MAX_VISIBILITY_SECONDS }),
  }),
);

const store = new JobStore(dynamodb, config.JOBS_TABLE);

/** Secrets Manager is asked for the stack's secret at most every five minutes per execution environment. */
const SECRET_MAX_AGE_SECONDS = 300;

const stackSecret = async (): Promise<string> => {
  const secret = await getSecret<string>(config.WEBHOOK_SECRET_ARN, { maxAge: SECRET_MAX_AGE_SECONDS });
  if (typeof secret !== 'string' || secret.trim() === '') {
    throw new AppError('Webhook::NoSigningSecret', 'the webhook signing secret is missing or not a string');
  }
  return secret.trim();
};

const dependencies = {
  store,
  signingSecrets: signingSecretsFrom({
    tenants: new TenantStore(dynamodb, config.TENANTS_TABLE),
    stackSecret,
  }),
  delivery: {
    allowLoopback: config.ALLOW_LOOPBACK_CALLBACKS,
    allowedPorts: config.CALLBACK_PORTS,
    timeoutMs: config.WEBHOOK_TIMEOUT_SECONDS * 1000,
  },
  maxAttempts: config.WEBHOOK_MAX_ATTEMPTS,
  maxDelaySeconds: config.WEBHOOK_MAX_DELAY_SECONDS,
};

/** Makes the message visible again after `seconds`; a failure here only means SQS's own timeout applies. */
const scheduleRedelivery = async (record: SQSRecord, seconds: number): Promise<void> => {
  try {
    await delayRedelivery(sqs, config.QUEUE_URL, record.receiptHandle, seconds);
  } catch (error) {
    logger.warn('could not change the message visibility', { error });
  }
};

const webhookMessageBody = jsonStringified(webhookMessageSchema);

/** Fails a record whose webhook has no attempts left, so that SQS moves it to the dead-letter queue. */
class WebhookAttemptsSpentError extends AppError {
  constructor(webhookId: string, attempts: number) {
    super('Webhook::AttemptsSpent', `webhook ${webhookId} used all its ${attempts} attempts`);
  }
}

const handleRecord = async (record: SQSRecord): Promise<void> => {
  const parsed = webhookMessageBody.safeParse(record.body);
  if (!parsed.success) {
    // It can never succeed: acknowledged, so it does not cycle into the dead-letter queue as if it could.
    logger.error('dropping a malformed webhook message', {
      message_id: record.messageId,
      issues: describeIssues(parsed.error),
    });
    return;
  }
  const message = parsed.data;
  await withRecordContext({ job_id: message.job_id, source_job_id: message.source_job_id }, () =>
    deliverForRecord(record, message),
  );
};

const deliverForRecord = async (record: SQSRecord, message: WebhookMessage): Promise<void> => {
  const receiveCount = Math.max(1, Number.parseInt(record.attributes.ApproximateReceiveCount, 10) || 1);
  const outcome = await sendJobWebhook(message, receiveCount, dependencies);
  const context = { receive_count: receiveCount };

  switch (outcome.kind) {
    case 'delivered':
      countJob(JobMetric.WebhookDelivered);
      logger.info(
        outcome.resent ? 'webhook delivered again (the last outcome was not recorded)' : 'webhook delivered',
        {
          ...context,
          webhook_id: outcome.webhookId,
          attempt: outcome.attempt,
          status_code: outcome.statusCode,
          duration_ms: outcome.durationMs,
        },
      );
      return;
    case 'skipped':
      logger.info('webhook not sent', { ...context, reason: outcome.reason });
      return;
    case 'refused':
      countJob(JobMetric.WebhookFailed);
      logger.warn('webhook destination refused', {
        ...context,
        webhook_id: outcome.webhookId,
        attempt: outcome.attempt,
        reason: outcome.error.message,
        addresses: outcome.error.addresses,
      });
      return;
    case 'retry':
      logger.warn('webhook delivery failed, will retry', {
        ...context,
        webhook_id: outcome.webhookId,
        attempt: outcome.attempt,
        reason: outcome.error.message,
        retry_in_seconds: outcome.delaySeconds,
      });
      await scheduleRedelivery(record, outcome.delaySeconds);
      throw outcome.error;
    case 'exhausted':
      countJob(JobMetric.WebhookFailed);
      logger.error('webhook delivery failed for the last time; the message goes to the dead-letter queue', {
        ...context,
        webhook_id: outcome.webhookId,
        attempt: outcome.attempt,
        reason: outcome.error.message,
      });
      // Visible at once, so the next receive moves it to the DLQ instead of it waiting out the visibility timeout.
      await scheduleRedelivery(record, 0);
      throw outcome.error;
    case 'spent':
      logger.warn('webhook attempts already used up; the message goes to the dead-letter queue', {
        ...context,
        webhook_id: outcome.webhookId,
        attempts: outcome.attempts,
      });
      // Failed back at once until SQS's maxReceiveCount moves it to the dead-letter queue (a few receives).
      await scheduleRedelivery(record, 0);
      throw new WebhookAttemptsSpentError(outcome.webhookId, outcome.attempts);
    case 'contended':
      logger.info('another delivery of this webhook changed it meanwhile; trying again later', {
        ...context,
        webhook_id: outcome.webhookId,
      });
      // The message returns after its visibility timeout, by when the other delivery has settled.
      throw new AppError(
        'Webhook::Contended',
        `webhook ${outcome.webhookId} is being delivered by another receive`,
      );
  }
};

/** Webhook queue → one delivery attempt per record, failed records reported with their delays scheduled. */
export const handler = withObservability(
  (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
    processSqsBatch(event, context, handleRecord),
);
