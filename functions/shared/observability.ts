import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/**
 * Structured JSON logs and CloudWatch EMF metrics (Powertools). The service name comes from
 * POWERTOOLS_SERVICE_NAME, set per function by the stack. Log lines about a job carry `job_id`.
 */
export const logger = new Logger();
export const metrics = new Metrics({
  // An invocation that records no metric is normal (a redelivered message, a 404): say so at debug level.
  logger: {
    debug: (...args: unknown[]) => logger.debug(String(args[0] ?? '')),
    info: (...args: unknown[]) => logger.info(String(args[0] ?? '')),
    warn: (...args: unknown[]) => logger.debug(String(args[0] ?? '')),
    error: (...args: unknown[]) => logger.error(String(args[0] ?? '')),
  },
});

export const JobMetric = {
  Created: 'JobsCreated',
  Done: 'JobsDone',
  Failed: 'JobsFailed',
  Duplicate: 'JobsDuplicate',
  Retried: 'JobsRetried',
  ProcessingTime: 'ProcessingTime',
  WebhookDelivered: 'WebhooksDelivered',
  WebhookFailed: 'WebhooksFailed',
} as const;

export const countJob = (metric: (typeof JobMetric)[keyof typeof JobMetric]): void => {
  metrics.addMetric(metric, MetricUnit.Count, 1);
};

export const recordProcessingTime = (milliseconds: number): void => {
  metrics.addMetric(JobMetric.ProcessingTime, MetricUnit.Milliseconds, milliseconds);
};
