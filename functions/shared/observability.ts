import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/**
 * Structured JSON logs and CloudWatch EMF metrics (Powertools). The service name comes from
 * POWERTOOLS_SERVICE_NAME, set per function by the stack. Log lines about a job carry `job_id`.
 */
export const logger = new Logger();
export const metrics = new Metrics();

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
