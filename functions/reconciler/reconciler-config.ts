import { z } from 'zod';
import { envInt, envString } from '#shared/config';
import type { ReconcilePolicy } from './reconcile-jobs.ts';

/**
 * The reconciler's environment. The stack passes the processing functions' timeouts, their queues'
 * visibility timeouts, the processors' backoff ceiling and their attempts from the same values that
 * configure those (lib/reconciler.ts), so the deadlines follow the pipeline they watch.
 */
export const reconcilerEnv = z.object({
  JOBS_TABLE: envString(),
  UPLOADS_BUCKET: envString(),
  IMAGE_QUEUE_URL: envString(),
  VIDEO_QUEUE_URL: envString(),
  WEBHOOK_QUEUE_URL: envString(),
  MAX_ATTEMPTS: envInt(3, { min: 1, max: 20 }),
  IMAGE_TIMEOUT_SECONDS: envInt(60, { min: 1, max: 900 }),
  VIDEO_TIMEOUT_SECONDS: envInt(300, { min: 1, max: 900 }),
  IMAGE_VISIBILITY_TIMEOUT_SECONDS: envInt(360, { min: 0, max: 43_200 }),
  VIDEO_VISIBILITY_TIMEOUT_SECONDS: envInt(1800, { min: 0, max: 43_200 }),
  RETRY_MAX_SECONDS: envInt(900, { max: 43_200 }),
  UPLOAD_DEADLINE_SECONDS: envInt(600, { min: 1 }),
  ENQUEUE_DEADLINE_SECONDS: envInt(120, { min: 1 }),
  ANNOUNCE_DEADLINE_SECONDS: envInt(600, { min: 1 }),
  MARGIN_SECONDS: envInt(120),
  PAGE_LIMIT: envInt(25, { min: 1, max: 1000 }),
});
export type ReconcilerConfig = z.infer<typeof reconcilerEnv>;

export const reconcilePolicyFrom = (config: ReconcilerConfig): ReconcilePolicy => ({
  uploadDeadlineSeconds: config.UPLOAD_DEADLINE_SECONDS,
  enqueueDeadlineSeconds: config.ENQUEUE_DEADLINE_SECONDS,
  processors: {
    image: {
      timeoutSeconds: config.IMAGE_TIMEOUT_SECONDS,
      visibilityTimeoutSeconds: config.IMAGE_VISIBILITY_TIMEOUT_SECONDS,
    },
    video: {
      timeoutSeconds: config.VIDEO_TIMEOUT_SECONDS,
      visibilityTimeoutSeconds: config.VIDEO_VISIBILITY_TIMEOUT_SECONDS,
    },
  },
  retryMaxSeconds: config.RETRY_MAX_SECONDS,
  marginSeconds: config.MARGIN_SECONDS,
  announceDeadlineSeconds: config.ANNOUNCE_DEADLINE_SECONDS,
  maxAttempts: config.MAX_ATTEMPTS,
  pageLimit: config.PAGE_LIMIT,
});
