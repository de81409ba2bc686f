import { dynamodb, s3, sqs } from '#shared/aws-clients';
import { loadConfig } from '#shared/config';
import { Dispatcher } from '#shared/dispatch';
import { JobStore } from '#shared/job-store';
import { withObservability } from '#shared/middleware';
import { logger } from '#shared/observability';
import type { MediaKind } from '#shared/presets';
import { readQueueBacklog } from './queue-backlog.ts';
import { type ReconcileDeps, type ReconcileReport, reconcileJobs } from './reconcile-jobs.ts';
import { reconcilePolicyFrom, reconcilerEnv } from './reconciler-config.ts';

const config = loadConfig(reconcilerEnv);
const processingQueues: Record<MediaKind, string> = {
  image: config.IMAGE_QUEUE_URL,
  video: config.VIDEO_QUEUE_URL,
};

const deps: ReconcileDeps = {
  s3,
  store: new JobStore(dynamodb, config.JOBS_TABLE),
  uploadsBucket: config.UPLOADS_BUCKET,
  dispatcher: new Dispatcher(sqs, {
    ...processingQueues,
    webhook: config.WEBHOOK_QUEUE_URL,
  }),
  policy: reconcilePolicyFrom(config),
  queueBacklog: (kind) => readQueueBacklog(sqs, processingQueues[kind]),
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
    // Lost-message candidates left for the next run, their queue's backlog holding as many messages.
    deferred: report.backlogs.reduce((sum, check) => sum + (check.deferred ? check.candidates : 0), 0),
  });
  return report;
});
