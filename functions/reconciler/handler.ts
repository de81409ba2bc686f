import { dynamodb, s3, sqs } from '#shared/aws-clients';
import { loadConfig } from '#shared/config';
import { Dispatcher } from '#shared/dispatch';
import { JobStore } from '#shared/job-store';
import { withObservability } from '#shared/middleware';
import { logger } from '#shared/observability';
import { type ReconcileReport, reconcileJobs } from './reconcile-jobs.ts';
import { reconcilePolicyFrom, reconcilerEnv } from './reconciler-config.ts';

const config = loadConfig(reconcilerEnv);

const deps = {
  s3,
  store: new JobStore(dynamodb, config.JOBS_TABLE),
  uploadsBucket: config.UPLOADS_BUCKET,
  dispatcher: new Dispatcher(sqs, {
    image: config.IMAGE_QUEUE_URL,
    video: config.VIDEO_QUEUE_URL,
    webhook: config.WEBHOOK_QUEUE_URL,
  }),
  policy: reconcilePolicyFrom(config),
};

/**
 * Invoked on a schedule (an EventBridge rule, lib/reconciler.ts): the event carries nothing the run
 * needs, so it is not parsed. A run that could not move some jobs still succeeds (they were logged and
 * are tried on the next run); only a failure to read the index fails the invocation.
 */
export const handler = withObservability(async (): Promise<ReconcileReport> => {
  const report = await reconcileJobs(deps, new Date());
  logger.info('reconciler run', {
    examined: report.examined,
    moved: report.moved.length,
    errors: report.errors,
  });
  return report;
});
