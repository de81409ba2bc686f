/**
 * The upload page's Content-Security-Policy. The page runs only its own script and style sheet and talks
 * to three places: the API on its own origin, the uploads bucket (presigned PUTs and UploadParts) and
 * the results bucket (presigned GETs of the variants and posters, as images). The policy names exactly
 * those, so that an injected script could neither run nor send data anywhere else.
 *
 * The bucket origins are the ones the API's presigner puts in its URLs (functions/shared/aws-clients.ts),
 * derived from the same settings: S3_PUBLIC_ENDPOINT, else the SDK's AWS_ENDPOINT_URL_S3 /
 * AWS_ENDPOINT_URL, else AWS's regional virtual-hosted endpoint; path-style with S3_FORCE_PATH_STYLE.
 * test/web/content-security-policy.test.ts checks them against URLs the SDK actually signs.
 */

export interface S3Addressing {
  /** The Lambda's region (AWS_REGION). */
  readonly region: string;
  /** A custom S3 endpoint (an emulator, LocalStack), as the SDK would be configured with. */
  readonly endpoint?: string | undefined;
  /** Path-style addressing (`endpoint/bucket/key`) instead of `bucket.endpoint/key`. */
  readonly forcePathStyle: boolean;
}

/** AWS's DNS suffix of a region's partition (the partitions this stack can be deployed to). */
const dnsSuffix = (region: string): string =>
  region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';

/**
 * The origins a presigned URL for `bucket` can have. With a custom endpoint and virtual-hosted
 * addressing, the SDK still falls back to path-style for a bucket name that is not a DNS label, so both
 * forms are allowed: both are this bucket on that endpoint.
 */
export const bucketOrigins = (bucket: string, addressing: S3Addressing): string[] => {
  if (addressing.endpoint) {
    const endpoint = new URL(addressing.endpoint);
    if (addressing.forcePathStyle) return [endpoint.origin];
    return [`${endpoint.protocol}//${bucket}.${endpoint.host}`, endpoint.origin];
  }
  const host = `s3.${addressing.region}.${dnsSuffix(addressing.region)}`;
  return [addressing.forcePathStyle ? `https://${host}` : `https://${bucket}.${host}`];
};

export interface PagePolicyOrigins {
  /** Where the page sends bytes: the uploads bucket. */
  readonly connect: readonly string[];
  /** Where the page loads pictures from: the results bucket. */
  readonly images: readonly string[];
}

const sources = (origins: readonly string[]): string => ["'self'", ...new Set(origins)].join(' ');

/**
 * `default-src 'none'` and only what the page uses on top: its own script and style sheet (no inline
 * code, so no 'unsafe-inline'), fetches to its own origin and the uploads bucket, images from its own
 * origin and the results bucket. Forms post nowhere, no one may frame the page, and no `<base>` may
 * redirect its relative URLs.
 */
export const contentSecurityPolicy = (origins: PagePolicyOrigins): string =>
  [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src ${sources(origins.images)}`,
    `connect-src ${sources(origins.connect)}`,
    "form-action 'none'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
