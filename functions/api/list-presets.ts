import { DEFAULT_MAX_RETRIES } from '#shared/job';
import { type MediaLimits, type PresetsFile, presetsConfig } from '#shared/presets';
import { MAX_PART_URLS_PER_REQUEST, MAX_PARTS } from './request-schemas.ts';

export interface PresetView {
  name: string;
  description: string;
  accept: string[];
  image: { variants: NonNullable<PresetsFile['presets'][string]['image']>['variants'] } | null;
  video: { poster: NonNullable<PresetsFile['presets'][string]['video']>['poster'] } | null;
}

export interface PresetListing {
  presets: PresetView[];
  limits: MediaLimits & {
    direct_upload_max_bytes: number;
    /** Files over this size get a multipart plan from POST /api/media/ instead of a single PUT. */
    multipart_threshold_bytes: number;
    multipart_max_parts: number;
    /** Part URLs signed per POST /api/media/{id}/upload/parts. */
    part_urls_per_request: number;
    /** New jobs per tenant per UTC day (429 beyond); null when there is no such quota. */
    quota_jobs_per_day: number | null;
    /** Declared bytes of new jobs per tenant per UTC day; null when there is no such quota. */
    quota_bytes_per_day: number | null;
    /**
     * Days after upload when originals are deleted (null: kept). A failed job can be retried until two
     * days before.
     */
    upload_retention_days: number | null;
    /** Days after processing when results are deleted and their URLs answer 404 (null: kept). */
    result_retention_days: number | null;
    /**
     * Retries (POST /api/media/{id}/retry/) a job whose failure was transient may have, each a new run
     * with a fresh set of automatic attempts; 0: none.
     */
    max_retries: number;
  };
}

/** What a client needs to choose a preset and size its upload, straight from presets.json. */
export const listPresets = (
  options: {
    directUploadMaxBytes: number;
    multipartThresholdBytes: number;
    /** 0: no quota. */
    quotaJobsPerDay?: number;
    quotaBytesPerDay?: number;
    /** Days the buckets keep originals and results; 0 or absent: kept. */
    uploadRetentionDays?: number;
    resultRetentionDays?: number;
    /** Manual retries of a job. @default 3 */
    maxRetries?: number;
  },
  presets: PresetsFile = presetsConfig,
): PresetListing => ({
  presets: Object.entries(presets.presets).map(([name, preset]) => ({
    name,
    description: preset.description,
    accept: [...preset.accept],
    image: preset.image ? { variants: preset.image.variants } : null,
    video: preset.video ? { poster: preset.video.poster } : null,
  })),
  limits: {
    ...presets.limits,
    direct_upload_max_bytes: options.directUploadMaxBytes,
    multipart_threshold_bytes: options.multipartThresholdBytes,
    multipart_max_parts: MAX_PARTS,
    part_urls_per_request: MAX_PART_URLS_PER_REQUEST,
    quota_jobs_per_day: options.quotaJobsPerDay || null,
    quota_bytes_per_day: options.quotaBytesPerDay || null,
    upload_retention_days: options.uploadRetentionDays || null,
    result_retention_days: options.resultRetentionDays || null,
    max_retries: options.maxRetries ?? DEFAULT_MAX_RETRIES,
  },
});
