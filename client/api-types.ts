/**
 * The API's JSON shapes as a client sees them (README "API"). Written out here rather than imported
 * from functions/, so that the client type-checks on its own: the server's types pull in its path
 * aliases and the AWS SDK's. test/client/media-client.test.ts checks at compile time that both sides
 * agree.
 */

export type JobStatus = 'awaiting_upload' | 'queued' | 'processing' | 'done' | 'failed';

/**
 * The job's webhook: `pending` while an attempt is under way, `retrying` until `next_attempt_at`, then
 * `delivered`, `failed` (every attempt used, about a day of them) or `refused` (a forbidden destination).
 */
export interface WebhookState {
  /** The `webhook-id` header of the deliveries: the same across retries, so receivers can deduplicate. */
  message_id: string;
  status: 'pending' | 'retrying' | 'delivered' | 'failed' | 'refused';
  /** Attempts made so far, the one under way included. */
  attempts: number;
  /** When the next attempt is due (ISO 8601), while `retrying`. */
  next_attempt_at?: string;
  last_error?: string;
  last_status_code?: number;
  delivered_at?: string;
}

/** GET /api/media/{id}/ */
export interface JobView {
  id: string;
  status: JobStatus;
  file_name: string;
  content_type: string;
  size: number;
  preset: string;
  file_hash: string | null;
  /** Attempts of the current run (at most `max_attempts`). */
  attempts: number;
  /** Image: {width, height, format, variants}; video: {poster, width, height, codec, duration, …}. */
  result: Record<string, unknown> | null;
  /** Each output's name (`thumb`, `poster`, …) to a presigned GET URL valid for an hour. */
  result_urls: Record<string, string> | null;
  error: string | null;
  duplicate_of: string | null;
  created_at: string;
  updated_at: string;
  error_code: string | null;
  webhook: WebhookState | null;
  /** Attempts of one run. */
  max_attempts: number;
  /** 1 for the job's first processing, one more for each retry. */
  run: number;
  /**
   * Whether POST /api/media/{id}/retry/ would start another run now: a failed job whose failure was
   * transient, with retries left. False for a permanent failure (upload another file instead).
   */
  retryable: boolean;
}

export interface ImageVariantSpec {
  name: string;
  width: number;
  height: number;
  fit: 'inside' | 'cover';
  format: 'jpeg' | 'webp' | 'avif' | 'png';
  quality: number;
}

export interface PosterSpec {
  at_second: number;
  width: number;
  format: 'jpeg' | 'webp';
  quality: number;
}

export interface PresetView {
  name: string;
  description: string;
  accept: string[];
  image: { variants: ImageVariantSpec[] } | null;
  video: { poster: PosterSpec } | null;
}

/** GET /api/presets/ */
export interface PresetsResponse {
  presets: PresetView[];
  limits: {
    image_max_bytes: number;
    video_max_bytes: number;
    image_max_pixels: number;
    video_max_duration_seconds: number;
    direct_upload_max_bytes: number;
    /** Files over this size get a multipart plan from POST /api/media/ instead of a single PUT. */
    multipart_threshold_bytes: number;
    multipart_max_parts: number;
    part_urls_per_request: number;
    /** New jobs per tenant per UTC day (429 beyond); null when there is no such quota. */
    quota_jobs_per_day: number | null;
    /** Declared bytes of new jobs per tenant per UTC day; null when there is no such quota. */
    quota_bytes_per_day: number | null;
    /**
     * Days after upload when originals are deleted (null: kept). A failed job can be retried until two
     * days before; later, POST /api/media/{id}/retry/ answers 409 Retry::OriginalExpiring.
     */
    upload_retention_days: number | null;
    /**
     * Days after processing when results are deleted (null: kept). A result URL of an expired result
     * answers 404 (NoSuchKey) from S3.
     */
    result_retention_days: number | null;
    /** Retries a job whose failure was transient may have, each a new run of automatic attempts; 0: none. */
    max_retries: number;
  };
}

/** The single PUT that takes a file up to the multipart threshold. */
export interface PutUploadPlan {
  method: 'PUT';
  url: string;
  /** Send exactly these (Content-Length follows the body; browsers refuse to set it). */
  headers: Record<string, string>;
  expires_at: string;
}

/** The plan for a file over the multipart threshold: parts signed on demand through `parts_url`. */
export interface MultipartUploadPlan {
  method: 'multipart';
  upload_id: string;
  part_size: number;
  part_count: number;
  expires_at: string;
  /** Paths on the API. */
  parts_url: string;
  complete_url: string;
  abort_url: string;
}

export type UploadPlan = PutUploadPlan | MultipartUploadPlan;

/** POST /api/media/ (JSON) → 201 */
export interface CreatedUpload {
  job_id: string;
  status: 'awaiting_upload';
  upload: UploadPlan;
}

/**
 * The form POST /api/media/ → 201 (200 when the same file and preset already had a job) and
 * POST /api/media/{id}/upload/complete → 200: the job view with `job_id` beside its `id`, as the original
 * project's creation answer `{"job_id", "status"}` has it.
 */
export type CreatedJob = { job_id: string } & JobView;

/** POST /api/media/{id}/upload/parts → 200 */
export interface SignedParts {
  job_id: string;
  upload_id: string;
  expires_at: string;
  parts: Array<{ part_number: number; url: string; size: number; headers: Record<string, string> }>;
}

/** GET /api/media/{id}/upload/parts → 200 */
export interface UploadedParts {
  job_id: string;
  upload_id: string;
  part_size: number;
  part_count: number;
  parts: Array<{ part_number: number; etag: string; size: number }>;
}

/** POST /api/media/{id}/upload/abort → 200 */
export interface AbortedUpload {
  job_id: string;
  status: 'failed';
  error: string;
  error_code: string;
}

/** POST /api/media/{id}/retry/ → 202 */
export interface RetriedJob {
  job_id: string;
  status: 'queued';
  /** Attempts of the new run used so far: 0. */
  attempts: number;
  /** The attempt about to run: 1, the first of the new run. */
  attempt: number;
  /** The run the retry started: 2 for the first retry. */
  run: number;
}

/** GET /api/media/?limit=&cursor=&status= → 200: the caller's jobs, newest first. */
export interface JobList {
  items: JobView[];
  /** Pass it as `cursor` for the next page; null on the last one. */
  next_cursor: string | null;
}

/** Every error the API answers: `{"error": {"code", "message", "field"?}}`. */
export interface ApiErrorBody {
  error: { code: string; message: string; field?: string; request_id?: string };
}
