import sharp from 'sharp';
import { processorEnv } from '#processing/processor-config';
import { createProcessorHandler } from '#processing/processor-handler';
import { s3 } from '#shared/aws-clients';
import { loadConfig } from '#shared/config';
import { presetsConfig } from '#shared/presets';
import { createImageJobProcessor } from './process-image-job.ts';

const config = loadConfig(processorEnv);
// Every input is a new file: libvips' operation cache would only hold memory between jobs.
sharp.cache(false);

/** Image queue → sized variants per preset (sharp). */
export const handler = createProcessorHandler(
  config,
  createImageJobProcessor({
    s3,
    uploadsBucket: config.UPLOADS_BUCKET,
    resultsBucket: config.RESULTS_BUCKET,
    limits: presetsConfig.limits,
  }),
);
