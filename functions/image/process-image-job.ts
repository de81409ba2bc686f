import type { S3Client } from '@aws-sdk/client-s3';
import { readUpload, storeOutput } from '#processing/media-objects';
import type { ProcessedMedia } from '#processing/process-job';
import { PermanentMediaError } from '#shared/errors';
import { type Job, resultKeyFor } from '#shared/job';
import { findPreset, type MediaLimits } from '#shared/presets';
import { renderImageVariants } from './render-image-variants.ts';

export interface ImageJobDeps {
  s3: S3Client;
  uploadsBucket: string;
  resultsBucket: string;
  limits: MediaLimits;
}

/** Renders the preset's variants of a job's upload and stores them under results/{job_id}/. */
export const createImageJobProcessor =
  (deps: ImageJobDeps) =>
  async (job: Job): Promise<ProcessedMedia> => {
    const preset = findPreset(job.preset);
    if (!preset?.image) {
      throw new PermanentMediaError('Job::PresetUnavailable', `preset "${job.preset}" has no image variants`);
    }
    const input = await readUpload(deps.s3, deps.uploadsBucket, job, deps.limits.image_max_bytes);
    const rendered = await renderImageVariants(input, preset.image.variants, {
      maxPixels: deps.limits.image_max_pixels,
    });

    // Results list variants in the preset's order, whatever order they were rendered in.
    const order = preset.image.variants.map((variant) => variant.name);
    const variants = [...rendered.variants].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
    const stored = await Promise.all(
      variants.map(async (variant) => {
        const key = resultKeyFor(job.id, variant.name, variant.extension);
        await storeOutput(deps.s3, deps.resultsBucket, key, variant.data, variant.contentType);
        return { variant, key };
      }),
    );
    return {
      result: {
        width: rendered.original.width,
        height: rendered.original.height,
        format: rendered.original.format,
        // An array, not a map: DynamoDB does not keep a map's key order, and the preset's order is meaningful.
        variants: stored.map(({ variant, key }) => ({
          name: variant.name,
          key,
          width: variant.width,
          height: variant.height,
          format: variant.format,
          bytes: variant.bytes,
        })),
      },
      outputs: stored.map(({ variant, key }) => ({
        name: variant.name,
        key,
        content_type: variant.contentType,
      })),
    };
  };
