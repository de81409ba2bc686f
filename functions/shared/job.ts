import type { MediaKind } from './presets.ts';
import { DEFAULT_TENANT } from './tenants.ts';

/** The public lifecycle of a job, as the API reports it (the original project's statuses plus the upload wait). */
export const JobStatus = {
  AwaitingUpload: 'awaiting_upload',
  Queued: 'queued',
  Processing: 'processing',
  Done: 'done',
  Failed: 'failed',
} as const;
export type JobStatus = (typeof JobStatus)[keyof typeof JobStatus];

/**
 * Stored on a job whose bytes and preset match an earlier job's. It is never shown: the API reports the
 * earlier (canonical) job's status, result and outputs for it.
 */
export const DUPLICATE = 'duplicate' as const;
export type StoredStatus = JobStatus | typeof DUPLICATE;

export type TerminalStatus = typeof JobStatus.Done | typeof JobStatus.Failed;
export const TERMINAL_STATUSES: readonly StoredStatus[] = [JobStatus.Done, JobStatus.Failed];
/** Done or failed: the job's outcome is recorded and only the retry route moves it again. */
export const isTerminal = (status: StoredStatus): status is TerminalStatus =>
  TERMINAL_STATUSES.includes(status);

export interface JobOutput {
  name: string;
  key: string;
  content_type: string;
}

/**
 * Where a job's webhook stands: `pending` while an attempt is being made (recorded before sending, so an
 * attempt whose outcome was lost is sent again), `retrying` until the next attempt, then `delivered`,
 * `failed` (every attempt used) or `refused` (the destination may not be called).
 */
export const WebhookStatus = {
  Pending: 'pending',
  Retrying: 'retrying',
  Delivered: 'delivered',
  Failed: 'failed',
  Refused: 'refused',
} as const;
export type WebhookStatus = (typeof WebhookStatus)[keyof typeof WebhookStatus];

export interface WebhookState {
  /** The Standard Webhooks `webhook-id` of the outcome being announced. */
  message_id: string;
  status: WebhookStatus;
  /** Attempts made so far (the one under way included); the budget, counted here, survives restarts. */
  attempts: number;
  /** When the next attempt is due (ISO 8601), while `retrying`; absent otherwise. */
  next_attempt_at?: string;
  last_error?: string;
  last_status_code?: number;
  delivered_at?: string;
}

export interface Job {
  id: string;
  /**
   * The tenant the job belongs to (the caller that created it). Jobs written before tenants have none:
   * read it through `tenantOf`.
   */
  tenant?: string;
  status: StoredStatus;
  file_name: string;
  /** Declared by the client; the processors trust `detected_type` (sniffed from the bytes) instead. */
  content_type: string;
  /** Declared by the client and signed into the upload URL; ingest checks the stored object against it. */
  size: number;
  preset: string;
  callback_url?: string;
  /** SHA-256 the client declared (hex); S3 verifies the upload against it. */
  sha256?: string;
  upload_key: string;
  upload_method: 'presigned_put' | 'multipart' | 'direct';
  /** Multipart uploads: S3's upload id, and the part size and count the client was told to use. */
  upload_id?: string;
  part_size?: number;
  part_count?: number;
  file_hash?: string;
  /** The ETag of the object ingest hashed: the processors read that object and no other. */
  upload_etag?: string;
  detected_type?: string;
  media_kind?: MediaKind;
  /**
   * Processing attempts of the current run, counted before each starts: a run fails once `maxAttempts`
   * of them failed. A manual retry starts the next run with none used.
   */
  attempts: number;
  /** The run: 1 for the job's first processing, one more for each manual retry. Absent on older jobs: 1 (`runOf`). */
  run?: number;
  result?: Record<string, unknown>;
  outputs?: JobOutput[];
  error?: string;
  error_code?: string;
  /**
   * Whether the recorded failure can change by running again (`transient`: an outage, a timeout, a crash)
   * or not (`permanent`: the file or the upload is the problem). Absent on older jobs: `failureKindOf`.
   */
  failure_kind?: FailureKind;
  duplicate_of?: string;
  /** Jobs recorded as duplicates of this one: they are told when this one finishes. */
  duplicates?: Set<string>;
  /** When the job's processing message was handed to its queue. */
  enqueued_at?: string;
  webhook?: WebhookState;
  /** When the reconciler last announced the job's outcome, its webhook message having been lost. */
  announced_at?: string;
  created_at: string;
  updated_at: string;
  /**
   * Set when the job was deleted while duplicates of it still show its results: it answers like an
   * unknown job, and goes (results and all) with the last of them (functions/api/delete-job.ts).
   */
  deleted_at?: string;
  /** DynamoDB TTL (epoch seconds): a job whose upload never arrives expires. */
  ttl?: number;
}

/** Manual retries of a job (runs after the first) when the stack does not say (CDK context `maxRetries`). */
export const DEFAULT_MAX_RETRIES = 3;
/** The most manual retries a stack may allow. */
export const MAX_MAX_RETRIES = 20;

/** The job's run (1 for jobs recorded before runs existed). */
export const runOf = (job: Pick<Job, 'run'>): number => job.run ?? 1;

/**
 * How a failure is classified when it is recorded (functions/processing/process-job.ts: a
 * PermanentMediaError is permanent, anything else transient; an upload refused by ingest is permanent).
 */
export const FailureKind = { Permanent: 'permanent', Transient: 'transient' } as const;
export type FailureKind = (typeof FailureKind)[keyof typeof FailureKind];

/**
 * The codes of the PermanentMediaErrors the processors throw, for failures recorded before the kind
 * was: no run can change them.
 */
const PERMANENT_FAILURE_CODES: ReadonlySet<string> = new Set([
  'Job::PresetUnavailable',
  'Media::Corrupt',
  'Media::NoVideoStream',
  'Media::TooComplex',
  'Media::TooLarge',
  'Media::TooLong',
  'Media::TooManyPixels',
  'Media::Unsupported',
  'Media::UnsupportedFormat',
]);

/**
 * Whether the job's recorded failure is permanent or transient: as recorded, or for a job recorded
 * before the kind was, from its code (an upload refusal, `Upload::*`, and the processors' permanent
 * media errors are permanent; everything else, outages and crashes, transient).
 */
export const failureKindOf = (job: Pick<Job, 'failure_kind' | 'error_code' | 'media_kind'>): FailureKind => {
  if (job.failure_kind) return job.failure_kind;
  const code = job.error_code ?? '';
  return !job.media_kind || code.startsWith('Upload::') || PERMANENT_FAILURE_CODES.has(code)
    ? FailureKind.Permanent
    : FailureKind.Transient;
};

/** The job's tenant; jobs recorded before tenants existed belong to `default`. */
export const tenantOf = (job: Pick<Job, 'tenant'>): string => job.tenant ?? DEFAULT_TENANT;

export const UPLOAD_PREFIX = 'uploads/';
export const RESULTS_PREFIX = 'results/';

/** Object keys are made by the server from the job id, never from the client's file name. */
export const uploadKeyFor = (jobId: string): string => `${UPLOAD_PREFIX}${jobId}`;
export const resultKeyFor = (jobId: string, name: string, extension: string): string =>
  `${RESULTS_PREFIX}${jobId}/${name}.${extension}`;

const UPLOAD_KEY = /^uploads\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
export const jobIdFromUploadKey = (key: string): string | undefined => UPLOAD_KEY.exec(key)?.[1];
