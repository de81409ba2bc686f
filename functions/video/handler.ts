import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { dynamodb, s3, sqs } from '#shared/aws-clients';
import { envInt, envString, loadConfig } from '#shared/config';
import { Dispatcher } from '#shared/dispatch';
import { JobStore } from '#shared/job-store';
import { withObservability } from '#shared/middleware';
import { presetsConfig } from '#shared/presets';
import { createJobRunner } from '#shared/process-job';
import { processorEnv } from '#shared/processor-config';
import { backoffPolicyFrom } from '#shared/retry';
import { processSqsBatch } from '#shared/sqs-batch';
import { createVideoJobProcessor } from './process-video-job.ts';

const config = loadConfig(
  processorEnv.extend({
    /** /opt/bin/ffmpeg in Lambda (the layer); anywhere locally. */
    FFMPEG_PATH: envString(),
    FFPROBE_PATH: envString(),
    /** Budget for ffprobe + ffmpeg on one video; keep it under the function's timeout. */
    FFMPEG_TIMEOUT_SECONDS: envInt(120, { min: 1, max: 900 }),
  }),
);
const store = new JobStore(dynamodb, config.JOBS_TABLE);

const runJob = createJobRunner({
  store,
  dispatcher: new Dispatcher(sqs, store, { webhook: config.WEBHOOK_QUEUE_URL }),
  sqs,
  queueUrl: config.QUEUE_URL,
  maxAttempts: config.MAX_ATTEMPTS,
  backoff: backoffPolicyFrom(config),
  process: createVideoJobProcessor({
    s3,
    uploadsBucket: config.UPLOADS_BUCKET,
    resultsBucket: config.RESULTS_BUCKET,
    limits: presetsConfig.limits,
    ffmpegPath: config.FFMPEG_PATH,
    ffprobePath: config.FFPROBE_PATH,
    timeoutMs: config.FFMPEG_TIMEOUT_SECONDS * 1000,
  }),
});

/** Video queue → poster frame and metadata (ffmpeg/ffprobe from the layer). */
export const handler = withObservability(
  (event: SQSEvent, context): Promise<SQSBatchResponse> => processSqsBatch(event, context, runJob),
);
