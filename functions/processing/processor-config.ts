import { z } from 'zod';
import { envInt, envString } from '#shared/config';
import { backoffEnv } from '#shared/retry';

/** The environment both processing functions (image and video) read. */
export const processorEnv = z.object({
  JOBS_TABLE: envString(),
  UPLOADS_BUCKET: envString(),
  RESULTS_BUCKET: envString(),
  /** The function's own source queue: retries are delayed by changing its messages' visibility. */
  QUEUE_URL: envString(),
  WEBHOOK_QUEUE_URL: envString(),
  MAX_ATTEMPTS: envInt(3, { min: 1, max: 20 }),
  /** The function's timeout: an attempt younger than this is alive, and a copy of its message waits. */
  ATTEMPT_TIMEOUT_SECONDS: envInt(900, { min: 1, max: 900 }),
  ...backoffEnv,
});
