import { z } from 'zod';

/**
 * The longest a presigned URL from this API is asked to live: 12 hours. SigV4 allows 7 days, but only
 * for URLs signed with long-term keys. The API signs with its role's temporary credentials, and S3
 * refuses a URL once the session that signed it has expired, whatever `X-Amz-Expires` says; a Lambda
 * role's session lasts hours (at most 12), and a URL signed late in it dies sooner still. A longer TTL
 * would promise clients an `expires_at` that S3 does not keep.
 */
export const MAX_PRESIGNED_URL_TTL_SECONDS = 12 * 60 * 60;
const MIN_PRESIGNED_URL_TTL_SECONDS = 60;

/** Seconds a presigned URL lives: from 60 to MAX_PRESIGNED_URL_TTL_SECONDS, with a message saying why. */
export const envUrlTtlSeconds = (fallback: number) =>
  z.coerce
    .number()
    .int()
    .min(MIN_PRESIGNED_URL_TTL_SECONDS)
    .max(MAX_PRESIGNED_URL_TTL_SECONDS, {
      error: `must be at most ${MAX_PRESIGNED_URL_TTL_SECONDS} (12 hours): URLs are signed with the function role's temporary credentials, and S3 refuses them once that session expires (hours), whatever X-Amz-Expires says`,
    })
    .default(fallback);
