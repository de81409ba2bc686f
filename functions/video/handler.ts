import { processorEnv } from '#processing/processor-config';
import { createProcessorHandler } from '#processing/processor-handler';
import { s3 } from '#shared/aws-clients';
import { envInt, envString, loadConfig } from '#shared/config';
import { presetsConfig } from '#shared/presets';
import { createVideoJobProcessor } from './process-video-job.ts';

const config = loadConfig(
  processorEnv.extend({
    /** /opt/bin/ffmpeg in Lambda (the layer); anywhere locally. */
    FFMPEG_PATH: envString(),
    FFPROBE_PATH: envString(),
    /** Budget for ffprobe + ffmpeg on one video; keep it under the function's timeout. */
    FFMPEG_TIMEOUT_SECONDS: envInt(120, { min: 1, max: 900 }),
    /**
     * Memory allowance of each ffprobe and ffmpeg run, in MiB: its address space is capped there and
     * it is killed (Media::TooComplex) when its resident set passes three quarters of it. The probe
     * and the poster run alongside, so two of these plus Node must fit the function's 3008 MB.
     */
    FFMPEG_MAX_MEMORY_MB: envInt(1024, { min: 256, max: 4096 }),
  }),
);

/** Video queue → poster frame and metadata (ffmpeg/ffprobe from the layer). */
export const handler = createProcessorHandler(
  config,
  createVideoJobProcessor({
    s3,
    uploadsBucket: config.UPLOADS_BUCKET,
    resultsBucket: config.RESULTS_BUCKET,
    limits: presetsConfig.limits,
    ffmpegPath: config.FFMPEG_PATH,
    ffprobePath: config.FFPROBE_PATH,
    timeoutMs: config.FFMPEG_TIMEOUT_SECONDS * 1000,
    memoryLimitBytes: config.FFMPEG_MAX_MEMORY_MB * 1024 * 1024,
  }),
);
