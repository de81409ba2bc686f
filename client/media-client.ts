import type {
  AbortedUpload,
  ApiErrorBody,
  CreatedUpload,
  JobList,
  JobStatus,
  JobView,
  MultipartUploadPlan,
  PresetsResponse,
  PutUploadPlan,
  RetriedJob,
  SignedParts,
  UploadedParts,
  UploadPlan,
} from './api-types.ts';

export type * from './api-types.ts';

/**
 * The media pipeline's typed client, for browsers and Node ≥ 20 alike: only fetch, Blob, WebCrypto,
 * AbortSignal and (when present) XMLHttpRequest, nothing Node-only. It creates an upload, sends the
 * bytes straight to S3 as the server plans (one PUT, or parts in parallel with retries and resume),
 * waits for the job, and reads results. See client/contract.md.
 */

/** The file to send: a Blob or File, or anything that can hand out Blob slices of itself. */
export type UploadSource =
  | Blob
  | { name: string; type: string; size: number; slice(start: number, end: number): Blob };

/** One HTTP request to S3 with a request body; resolves with S3's answer, whatever its status. */
export interface TransportRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Blob;
  signal: AbortSignal;
  /** Bytes of `body` sent so far, as often as the transport can tell. */
  onProgress: (sent: number) => void;
}
export interface TransportResponse {
  status: number;
  /** The ETag header (S3's bucket CORS must expose it to browsers). */
  etag: string | null;
  text: string;
}
export type UploadTransport = (request: TransportRequest) => Promise<TransportResponse>;

export interface RetryPolicy {
  /** Attempts per part (and per single PUT) before the upload fails. @default 4 */
  attempts: number;
  /** First backoff; doubled per attempt with full jitter, at most 10 s. @default 500 */
  baseDelayMs: number;
}

/**
 * Who the client acts for: an API key (`media-pipeline keys create`) or an OIDC token (a deployment with
 * `auth: jwt`). Either goes out as `Authorization: Bearer …`; which one it is only shapes the messages.
 */
export type MediaAuth = { apiKey: string } | { token: string };

export interface MediaClientOptions {
  /** The API's base URL, e.g. `http://127.0.0.1:3000` or the stack's ApiUrl. */
  baseUrl: string;
  /**
   * Sent with every API request as `Authorization: Bearer …`, never with the presigned S3 requests. A
   * function is asked before each request (a page whose user enters the key later, or changes it).
   * Omit it for a deployment with `auth: none`.
   */
  auth?: MediaAuth | (() => MediaAuth | undefined);
  /**
   * How a user of this client passes a key, for the message of a 401 sent without one (the CLI names its
   * flags, the page its form). @default 'pass `auth: { apiKey }` (or `{ token }`) to createMediaClient'
   */
  authHint?: string;
  /** Used for API calls, and for S3 requests unless `transport` is given. @default globalThis.fetch */
  fetch?: typeof fetch;
  /**
   * Sends the bytes to S3. fetch cannot report upload progress, so the default is XMLHttpRequest where
   * it exists (browsers: progress as bytes go) and fetch otherwise (Node: progress when each request
   * ends, i.e. per part of a multipart upload, or once for a single PUT). Pass one to do better in Node.
   */
  transport?: UploadTransport;
  retry?: Partial<RetryPolicy>;
}

export interface UploadOptions {
  preset: string;
  callbackUrl?: string;
  /** Bytes sent to S3 so far, and the file's size. Parts already in S3 (resume) count as sent at once. */
  onProgress?: (sent: number, total: number) => void;
  /**
   * Cancels; a multipart upload is aborted server-side (its job fails with `Upload::Aborted`) unless
   * `keepPartsOnCancel`.
   */
  signal?: AbortSignal;
  /**
   * On cancel, leave a multipart upload as it is: the parts S3 holds stay, the job stays
   * `awaiting_upload`, and `resumeJobId` finishes it later (S3 discards the parts a day after the
   * upload started). `abortUpload` discards them. @default false
   */
  keepPartsOnCancel?: boolean;
  /** Parts in flight at once (multipart). @default 4 */
  concurrency?: number;
  /** Send the file's SHA-256 so S3 (single PUT) or ingest (multipart) checks the bytes. @default size ≤ 64 MiB */
  sha256?: boolean;
  /** Overrides the file's own name (`upload` for a Blob without one). */
  fileName?: string;
  /** Overrides the file's own type, and the guess from its name when it has none. */
  contentType?: string;
  /** Called once the job exists, before any byte is sent: keep `jobId` to resume an interrupted upload. */
  onCreated?: (created: { jobId: string; upload: UploadPlan }) => void;
  /**
   * Resume the multipart upload of this job instead of creating one: the parts S3 already holds (with the
   * right size) are skipped, the others sent, and the upload completed. Same file, same size.
   */
  resumeJobId?: string;
}

export interface UploadResult {
  jobId: string;
  method: UploadPlan['method'];
  /** Multipart only: parts sent by this call, and parts found already uploaded (resume). */
  parts?: { sent: number; skipped: number };
}

export interface WaitOptions {
  signal?: AbortSignal;
  /** First polling interval; it grows ×1.5 while the status stays the same, up to 5 s. @default 500 */
  intervalMs?: number;
  /** @default 10 minutes */
  timeoutMs?: number;
  /** Every time the job's status or update time changes (the first answer included). */
  onUpdate?: (job: JobView) => void;
}

export interface ListJobsOptions {
  /** Jobs per page, 1 to 100. @default 50 (the API's) */
  limit?: number;
  /** The `next_cursor` of the previous page. */
  cursor?: string;
  /** Only jobs in this status (a duplicate counts with its canonical job's status). */
  status?: JobStatus;
  signal?: AbortSignal;
}

export interface MediaClient {
  listPresets(options?: { signal?: AbortSignal }): Promise<PresetsResponse>;
  /** One page of the caller's jobs, newest first; `next_cursor` fetches the next. */
  listJobs(options?: ListJobsOptions): Promise<JobList>;
  /**
   * Deletes a job with its upload and results (results a duplicate of it still shows stay until the
   * last one goes). Refused with 409 `Job::InFlight` while it is queued or processing.
   */
  deleteJob(id: string): Promise<void>;
  /** Creates the job, sends the bytes (single PUT or multipart by the server's plan), returns the job id. */
  upload(file: UploadSource, options: UploadOptions): Promise<UploadResult>;
  getJob(id: string, options?: { signal?: AbortSignal }): Promise<JobView>;
  /** Polls until the job is done or failed (with backoff; transient errors are retried) and returns it. */
  waitForJob(id: string, options?: WaitOptions): Promise<JobView>;
  retryJob(id: string): Promise<RetriedJob>;
  /** Lists the parts S3 holds for a multipart upload in progress. */
  listUploadedParts(id: string, options?: { signal?: AbortSignal }): Promise<UploadedParts>;
  /** Aborts a multipart upload in progress; its job fails with `Upload::Aborted`. */
  abortUpload(id: string): Promise<AbortedUpload>;
}

/**
 * The API refused a request: `{"error": {"code", "message", "field"}}` with its HTTP status. API
 * Gateway's own refusals of a missing or refused credential (a bare `{"message": "Unauthorized"}` 401 or
 * `{"message": "Forbidden"}` 403) arrive as `Auth::Unauthorized` and `Auth::Forbidden`, with a message
 * saying what is missing; a 429 carries its `Retry-After`.
 */
export class MediaApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;
  readonly requestId: string | undefined;
  /** Seconds to wait before asking again (`Retry-After`), when the API said (429, 503). */
  readonly retryAfterSeconds: number | undefined;
  constructor(
    status: number,
    body: Partial<ApiErrorBody['error']>,
    options?: { cause?: unknown; retryAfterSeconds?: number | undefined },
  ) {
    super(body.message ?? `the API answered ${status}`, options);
    this.name = 'MediaApiError';
    this.status = status;
    this.code = body.code ?? `Http::${status}`;
    this.field = body.field;
    this.requestId = body.request_id;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}

/** Codes of API Gateway's bare refusals, as MediaApiError carries them. */
export const AUTH_ERROR_CODES = { unauthorized: 'Auth::Unauthorized', forbidden: 'Auth::Forbidden' } as const;

/** `Retry-After` in seconds, from either of its forms (delta-seconds or an HTTP date). */
export const retryAfterSeconds = (header: string | null, now: number = Date.now()): number | undefined => {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
};

/** `error_description` (else `error`) of a `WWW-Authenticate: Bearer …` challenge (RFC 6750). */
export const bearerChallengeReason = (header: string | null): string | undefined => {
  if (!header) return undefined;
  const parameter = (name: string) => new RegExp(`${name}="([^"]*)"`, 'i').exec(header)?.[1];
  return parameter('error_description') || parameter('error') || undefined;
};

const DEFAULT_AUTH_HINT = 'pass `auth: { apiKey }` (or `{ token }`) to createMediaClient';

/**
 * What API Gateway's bare 401 or 403 means for this caller, in words that say what to do. It answers
 * 401 when no Authorization header came (or, with a JWT authorizer, when the token is not valid: the
 * `www-authenticate` header then says why), and 403 when the key authorizer refused the key.
 */
export const describeAuthRefusal = (
  status: 401 | 403,
  sent: MediaAuth | undefined,
  challenge: string | null,
  hint: string = DEFAULT_AUTH_HINT,
): { code: string; message: string } => {
  const reason = bearerChallengeReason(challenge);
  if (status === 401) {
    const code = AUTH_ERROR_CODES.unauthorized;
    if (!sent) {
      return { code, message: `the API needs an API key or a token and none was sent: ${hint}` };
    }
    if ('token' in sent) {
      return {
        code,
        message: `the token was refused${reason ? `: ${reason}` : ''}; it may have expired or be meant for another audience: get a new one from your identity provider`,
      };
    }
    return {
      code,
      message: reason
        ? `the API refused the key: ${reason}. This deployment takes OIDC tokens (auth: jwt), not API keys: pass a token instead`
        : 'the API refused the credential sent (401 Unauthorized)',
    };
  }
  const code = AUTH_ERROR_CODES.forbidden;
  if (sent && 'apiKey' in sent) {
    return {
      code,
      message:
        'the API key was refused: it is unknown or revoked (a revocation takes up to 5 minutes to apply). `media-pipeline keys list` shows the keys, `keys create --tenant NAME` makes one',
    };
  }
  return {
    code,
    message: `the API refused ${sent ? 'the token' : 'the request'} (403 Forbidden)${reason ? `: ${reason}` : ''}`,
  };
};

/**
 * Sending the bytes to S3 failed (refused, or the network kept failing). When `resumable`, pass
 * `jobId` as `resumeJobId` to send what is missing.
 */
export class MediaUploadError extends Error {
  readonly jobId: string;
  readonly resumable: boolean;
  /** S3's HTTP status when it answered. */
  readonly status: number | undefined;
  constructor(
    message: string,
    details: { jobId: string; resumable: boolean; status?: number },
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MediaUploadError';
    this.jobId = details.jobId;
    this.resumable = details.resumable;
    this.status = details.status;
  }
}

/** waitForJob ran out of time; `job` is the last state seen. */
export class MediaTimeoutError extends Error {
  readonly job: JobView | undefined;
  constructor(message: string, job: JobView | undefined) {
    super(message);
    this.name = 'MediaTimeoutError';
    this.job = job;
  }
}

const MiB = 1024 * 1024;
/** Hashing reads the whole file into memory: worth it only for files this size or smaller. */
export const SHA256_MAX_BYTES = 64 * MiB;
const DEFAULT_CONCURRENCY = 4;
/** A signed URL this close to its expiry is signed again rather than used. */
const URL_EXPIRY_MARGIN_MS = 60_000;
const MAX_POLL_INTERVAL_MS = 5_000;

const EXTENSION_TYPES: Readonly<Record<string, string>> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
  gif: 'image/gif',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  mp4: 'video/mp4',
  m4v: 'video/mp4',
  mov: 'video/quicktime',
  webm: 'video/webm',
  mkv: 'video/x-matroska',
};

/** The media type the pipeline knows for a file name's extension, or undefined. */
export const guessContentType = (fileName: string): string | undefined => {
  const extension = /\.([^./\\]+)$/.exec(fileName)?.[1]?.toLowerCase();
  return extension ? EXTENSION_TYPES[extension] : undefined;
};

export const abortError = (signal?: AbortSignal): unknown =>
  signal?.reason ?? new DOMException('The upload was cancelled', 'AbortError');

const throwIfAborted = (signal: AbortSignal | undefined): void => {
  if (signal?.aborted) throw abortError(signal);
};

/** Resolves after `ms`, or rejects at once when `signal` aborts. */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Exponential backoff with full jitter: a random delay up to base × 2^(attempt-1), capped. */
export const backoffDelay = (attempt: number, baseDelayMs: number, random: () => number = Math.random) =>
  Math.round(random() * Math.min(10_000, baseDelayMs * 2 ** Math.max(0, attempt - 1)));

/** Byte range [start, end) of part `partNumber` (1-based). */
export const partRange = (partNumber: number, partSize: number, totalSize: number): [number, number] => [
  (partNumber - 1) * partSize,
  Math.min(partNumber * partSize, totalSize),
];

const toHex = (buffer: ArrayBuffer): string =>
  Array.from(new Uint8Array(buffer), (byte) => byte.toString(16).padStart(2, '0')).join('');

/** SHA-256 of the file as hex with WebCrypto, or undefined where WebCrypto is missing (insecure pages). */
export const sha256Hex = async (file: UploadSource): Promise<string | undefined> => {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return undefined;
  const bytes = await file.slice(0, file.size).arrayBuffer();
  return toHex(await subtle.digest('SHA-256', bytes));
};

/**
 * Runs one request with a signal of its own that follows `signal`. fetch (undici) leaves its listener on
 * the signal it is given until garbage collection, so hundreds of parts sharing one signal would pile
 * listeners onto it; here each request's listener goes when the request does.
 */
export const withRequestSignal = async <T>(
  signal: AbortSignal | undefined,
  run: (requestSignal: AbortSignal | undefined) => Promise<T>,
): Promise<T> => {
  if (!signal) return run(undefined);
  const request = new AbortController();
  const forward = () => request.abort(signal.reason);
  if (signal.aborted) forward();
  else signal.addEventListener('abort', forward, { once: true });
  try {
    return await run(request.signal);
  } finally {
    signal.removeEventListener('abort', forward);
  }
};

/** Headers a browser refuses to set (Content-Length follows the body anyway). */
const sendableHeaders = (headers: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'content-length'));

export const fetchTransport =
  (fetchImpl: typeof fetch): UploadTransport =>
  ({ method, url, headers, body, signal, onProgress }) =>
    withRequestSignal(signal, async (requestSignal) => {
      const response = await fetchImpl(url, {
        method,
        headers,
        body,
        ...(requestSignal ? { signal: requestSignal } : {}),
      });
      const text = await response.text();
      if (response.ok) onProgress(body.size);
      return { status: response.status, etag: response.headers.get('etag'), text };
    });

/** Browsers: XMLHttpRequest reports upload progress, which fetch cannot. */
export const xhrTransport: UploadTransport = ({ method, url, headers, body, signal, onProgress }) =>
  new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => onProgress(event.loaded);
    xhr.onload = () =>
      resolve({ status: xhr.status, etag: xhr.getResponseHeader('ETag'), text: xhr.responseText });
    xhr.onerror = () => reject(new TypeError(`the request to ${new URL(url).host} failed`));
    xhr.ontimeout = xhr.onerror;
    const cancel = () => xhr.abort();
    xhr.onloadend = () => signal.removeEventListener('abort', cancel);
    xhr.onabort = () => reject(abortError(signal));
    if (signal.aborted) return reject(abortError(signal));
    signal.addEventListener('abort', cancel, { once: true });
    xhr.send(body);
  });

/**
 * Worth another attempt: the network failed or S3 was busy; or, when the URL can be signed again, S3
 * refused it (403: a URL that expired while it waited for its turn).
 */
const isTransient = (status: number | undefined, resignable: boolean): boolean =>
  status === undefined || (resignable && status === 403) || status === 408 || status === 429 || status >= 500;

const s3ErrorCode = (text: string): string | undefined => /<Code>([^<]+)<\/Code>/.exec(text)?.[1];

/** What the client can do about an S3 refusal, where S3's code alone does not say it. */
const S3_ADVICE: Record<string, string> = {
  PreconditionFailed:
    'this upload URL was already used and storage keeps the first file sent to it; create a new upload to send another file',
};

class S3RequestError extends Error {
  constructor(
    readonly status: number,
    readonly text: string,
  ) {
    const code = s3ErrorCode(text);
    const advice = code ? S3_ADVICE[code] : undefined;
    super(`S3 answered ${status}${code ? ` ${code}` : ''}${advice ? `: ${advice}` : ''}`);
  }
}

/** Bytes in flight per request plus finished bytes, reported as one running total. */
class ProgressMeter {
  private done = 0;
  private last: number | undefined;
  private readonly inFlight = new Map<number, number>();
  constructor(
    private readonly total: number,
    private readonly report: ((sent: number, total: number) => void) | undefined,
  ) {}
  update(key: number, sent: number): void {
    this.inFlight.set(key, sent);
    this.emit();
  }
  finish(key: number, size: number): void {
    this.inFlight.delete(key);
    this.done += size;
    this.emit();
  }
  /** Reports the running total, unless it is what was reported last (the first report always goes). */
  emit(): void {
    let sent = this.done;
    for (const bytes of this.inFlight.values()) sent += bytes;
    sent = Math.min(sent, this.total);
    if (sent === this.last) return;
    this.last = sent;
    this.report?.(sent, this.total);
  }
}

/** Hands out signed UploadPart URLs, asking the API for a batch at a time and again before they expire. */
class PartUrls {
  private readonly cache = new Map<
    number,
    { url: string; headers: Record<string, string>; expiresAt: number }
  >();
  private readonly pending = new Map<number, Promise<void>>();
  constructor(
    private readonly sign: (numbers: number[]) => Promise<SignedParts>,
    /** Part numbers in the order they will be sent: a batch signs the next ones along. */
    private readonly order: readonly number[],
    private readonly batchSize: number,
  ) {}

  async get(
    partNumber: number,
    { fresh = false } = {},
  ): Promise<{ url: string; headers: Record<string, string> }> {
    if (fresh) this.cache.delete(partNumber);
    const cached = this.cache.get(partNumber);
    if (cached && cached.expiresAt - Date.now() > URL_EXPIRY_MARGIN_MS) return cached;
    const inFlight = this.pending.get(partNumber);
    if (inFlight) {
      await inFlight;
      return this.get(partNumber);
    }
    const start = Math.max(0, this.order.indexOf(partNumber));
    const batch = [partNumber];
    for (const next of this.order.slice(start + 1)) {
      if (batch.length >= this.batchSize) break;
      const known = this.cache.get(next);
      const usable = known && known.expiresAt - Date.now() > URL_EXPIRY_MARGIN_MS;
      if (!usable && !this.pending.has(next)) batch.push(next);
    }
    const request = this.sign(batch).then((signed) => {
      const expiresAt = Date.parse(signed.expires_at);
      for (const part of signed.parts) {
        this.cache.set(part.part_number, { url: part.url, headers: part.headers, expiresAt });
      }
    });
    for (const number of batch) this.pending.set(number, request);
    try {
      await request;
    } finally {
      for (const number of batch) this.pending.delete(number);
    }
    const signed = this.cache.get(partNumber);
    if (!signed) throw new Error(`the API did not sign part ${partNumber}`);
    return signed;
  }

  forget(partNumber: number): void {
    this.cache.delete(partNumber);
  }
}

const fileNameOf = (file: UploadSource): string =>
  'name' in file && typeof file.name === 'string' && file.name ? file.name : 'upload';

export const createMediaClient = (options: MediaClientOptions): MediaClient => {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  // Unbound, window.fetch throws "Illegal invocation" in browsers.
  const fetchImpl: typeof fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const transport: UploadTransport =
    options.transport ??
    (!options.fetch && typeof XMLHttpRequest !== 'undefined' ? xhrTransport : fetchTransport(fetchImpl));
  const retry: RetryPolicy = { attempts: 4, baseDelayMs: 500, ...options.retry };
  const authOf = (): MediaAuth | undefined =>
    typeof options.auth === 'function' ? options.auth() : options.auth;

  const api = async <T>(
    method: string,
    path: string,
    init: { json?: unknown; signal?: AbortSignal | undefined } = {},
  ): Promise<T> => {
    // Read once per request: what this request sent is what its refusal is explained with.
    const auth = authOf();
    const credential = auth ? ('apiKey' in auth ? auth.apiKey : auth.token) : '';
    const { response, text } = await withRequestSignal(init.signal, async (signal) => {
      const answer = await fetchImpl(`${baseUrl}${path}`, {
        method,
        headers: {
          accept: 'application/json',
          ...(credential ? { authorization: `Bearer ${credential}` } : {}),
          ...(init.json === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
        ...(signal ? { signal } : {}),
      });
      return { response: answer, text: await answer.text() };
    });
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    if (!response.ok) {
      const error = (body as Partial<ApiErrorBody> | undefined)?.error;
      const retryAfter = { retryAfterSeconds: retryAfterSeconds(response.headers.get('retry-after')) };
      if (error) throw new MediaApiError(response.status, error, retryAfter);
      // API Gateway's own refusals are {"message": "..."}: it ran no function, so it says little.
      if (response.status === 401 || response.status === 403) {
        throw new MediaApiError(
          response.status,
          describeAuthRefusal(
            response.status,
            credential ? auth : undefined,
            response.headers.get('www-authenticate'),
            options.authHint,
          ),
        );
      }
      const message = (body as { message?: unknown } | undefined)?.message;
      throw new MediaApiError(
        response.status,
        {
          message:
            typeof message === 'string'
              ? `${message} (HTTP ${response.status})`
              : `the API answered ${response.status}`,
        },
        retryAfter,
      );
    }
    return body as T;
  };

  const jobPath = (id: string) => `/api/media/${encodeURIComponent(id)}`;

  /** Sends one request body to S3, retrying what is worth retrying; returns S3's ETag. */
  const sendWithRetries = async (
    target: (attempt: number) => Promise<{ url: string; headers: Record<string, string> }>,
    body: Blob,
    signal: AbortSignal,
    onProgress: (sent: number) => void,
    resignable: boolean,
  ): Promise<string | null> => {
    for (let attempt = 1; ; attempt++) {
      throwIfAborted(signal);
      let status: number | undefined;
      let failure: unknown;
      try {
        const { url, headers } = await target(attempt);
        const response = await transport({
          method: 'PUT',
          url,
          headers: sendableHeaders(headers),
          body,
          signal,
          onProgress,
        });
        if (response.status >= 200 && response.status < 300) return response.etag;
        // The URL writes once (If-None-Match: *). A 412 after a retry means an earlier attempt stored
        // the file and only its answer was lost; ingest still checks the bytes against the job.
        if (response.status === 412 && attempt > 1) return response.etag;
        status = response.status;
        failure = new S3RequestError(response.status, response.text);
      } catch (error) {
        if (signal.aborted) throw abortError(signal);
        if (error instanceof MediaApiError) throw error;
        failure = error;
      }
      if (!isTransient(status, resignable) || attempt >= retry.attempts) throw failure;
      onProgress(0);
      await sleep(backoffDelay(attempt, retry.baseDelayMs), signal);
    }
  };

  const uploadFailure = (jobId: string, error: unknown, resumable: boolean): MediaUploadError => {
    const status = error instanceof S3RequestError ? error.status : undefined;
    const detail = error instanceof Error ? error.message : String(error);
    return new MediaUploadError(
      `the upload to storage failed: ${detail}${resumable ? `; resume it with job ${jobId}` : ''}`,
      { jobId, resumable, ...(status === undefined ? {} : { status }) },
      { cause: error },
    );
  };

  const putSingle = async (
    file: UploadSource,
    jobId: string,
    plan: PutUploadPlan,
    options: UploadOptions,
    signal: AbortSignal,
  ): Promise<UploadResult> => {
    const meter = new ProgressMeter(file.size, options.onProgress);
    meter.emit();
    try {
      await sendWithRetries(
        async () => plan,
        file.slice(0, file.size),
        signal,
        (sent) => meter.update(0, sent),
        false,
      );
    } catch (error) {
      if (signal.aborted || error instanceof MediaApiError) throw error;
      throw uploadFailure(jobId, error, false);
    }
    meter.finish(0, file.size);
    return { jobId, method: 'PUT' };
  };

  const putParts = async (
    file: UploadSource,
    jobId: string,
    plan: Pick<MultipartUploadPlan, 'part_size' | 'part_count'>,
    options: UploadOptions,
    /** What S3 already holds (resume). */
    uploaded: UploadedParts['parts'],
  ): Promise<UploadResult> => {
    const outer = options.signal;
    // Stops the other parts when one fails for good, and everything when the caller cancels.
    const controller = new AbortController();
    const signal = controller.signal;
    const onOuterAbort = () => controller.abort(abortError(outer));
    outer?.addEventListener('abort', onOuterAbort, { once: true });
    const meter = new ProgressMeter(file.size, options.onProgress);
    const etags = new Map<number, string>();
    let skipped = 0;
    try {
      throwIfAborted(outer);
      for (const part of uploaded) {
        const [start, end] = partRange(part.part_number, plan.part_size, file.size);
        // A part of another size (a different file, a cut-off upload) is sent again.
        if (part.part_number <= plan.part_count && part.size === end - start) {
          etags.set(part.part_number, part.etag);
          meter.finish(part.part_number, part.size);
          skipped++;
        }
      }
      meter.emit();
      const todo = Array.from({ length: plan.part_count }, (_, i) => i + 1).filter((n) => !etags.has(n));
      const concurrency = Math.max(1, Math.min(options.concurrency ?? DEFAULT_CONCURRENCY, 32));
      const urls = new PartUrls(
        (numbers) =>
          api<SignedParts>('POST', `${jobPath(jobId)}/upload/parts`, {
            json: { part_numbers: numbers },
            signal,
          }),
        todo,
        Math.min(100, Math.max(10, concurrency * 4)),
      );
      const queue = [...todo];
      const worker = async () => {
        for (let partNumber = queue.shift(); partNumber !== undefined; partNumber = queue.shift()) {
          const [start, end] = partRange(partNumber, plan.part_size, file.size);
          const number = partNumber;
          // A retry after a 403 (an expired URL) or any failure takes a freshly signed URL.
          const etag = await sendWithRetries(
            (attempt) => urls.get(number, { fresh: attempt > 1 }),
            file.slice(start, end),
            signal,
            (sent) => meter.update(number, sent),
            true,
          );
          if (!etag) {
            throw new Error(
              'S3 answered without an ETag header: the bucket CORS configuration must expose ETag',
            );
          }
          urls.forget(number);
          etags.set(number, etag);
          meter.finish(number, end - start);
        }
      };
      const workers = Array.from({ length: Math.min(concurrency, todo.length) }, () =>
        worker().catch((error: unknown) => {
          // One part failed for good: the others stop rather than send bytes that will not be completed.
          controller.abort(error);
          throw error;
        }),
      );
      const outcomes = await Promise.allSettled(workers);
      const failed = outcomes.find((outcome) => outcome.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      throwIfAborted(outer);

      const parts = [...etags.entries()]
        .sort(([a], [b]) => a - b)
        .map(([part_number, etag]) => ({ part_number, etag }));
      await api<JobView>('POST', `${jobPath(jobId)}/upload/complete`, { json: { parts } });
      return { jobId, method: 'multipart', parts: { sent: todo.length, skipped } };
    } catch (error) {
      if (outer?.aborted) {
        // Cancelled: unless kept for a resume, the parts are dropped and the job fails, whatever
        // happens to this request.
        if (!options.keepPartsOnCancel) {
          await api('POST', `${jobPath(jobId)}/upload/abort`).catch(() => undefined);
        }
        throw abortError(outer);
      }
      if (error instanceof MediaApiError) throw error;
      throw uploadFailure(jobId, error, true);
    } finally {
      outer?.removeEventListener('abort', onOuterAbort);
    }
  };

  const upload = async (file: UploadSource, options: UploadOptions): Promise<UploadResult> => {
    const signal = options.signal ?? new AbortController().signal;
    throwIfAborted(signal);
    if (options.resumeJobId) {
      const jobId = options.resumeJobId;
      const job = await api<JobView>('GET', jobPath(jobId), { signal });
      if (job.size !== file.size) {
        throw new MediaUploadError(
          `job ${jobId} was created for a file of ${job.size} bytes; this one has ${file.size}`,
          { jobId, resumable: false },
        );
      }
      // Refused with 409 when the job is not a multipart upload still awaiting its bytes.
      const listed = await api<UploadedParts>('GET', `${jobPath(jobId)}/upload/parts`, { signal });
      return putParts(file, jobId, listed, options, listed.parts);
    }

    const fileName = options.fileName ?? fileNameOf(file);
    const contentType = options.contentType || file.type || guessContentType(fileName) || '';
    const wantsHash = options.sha256 ?? file.size <= SHA256_MAX_BYTES;
    const sha256 = wantsHash ? await sha256Hex(file) : undefined;
    throwIfAborted(signal);
    const created = await api<CreatedUpload>('POST', '/api/media/', {
      json: {
        file_name: fileName,
        content_type: contentType,
        size: file.size,
        preset: options.preset,
        ...(options.callbackUrl ? { callback_url: options.callbackUrl } : {}),
        ...(sha256 ? { sha256 } : {}),
      },
      signal,
    });
    options.onCreated?.({ jobId: created.job_id, upload: created.upload });
    return created.upload.method === 'multipart'
      ? putParts(file, created.job_id, created.upload, options, [])
      : putSingle(file, created.job_id, created.upload, options, signal);
  };

  const getJob = (id: string, init: { signal?: AbortSignal } = {}) =>
    api<JobView>('GET', `${jobPath(id)}/`, { signal: init.signal });

  const waitForJob = async (id: string, wait: WaitOptions = {}): Promise<JobView> => {
    const first = wait.intervalMs ?? 500;
    const deadline = Date.now() + (wait.timeoutMs ?? 10 * 60_000);
    let interval = first;
    let last: JobView | undefined;
    let failures = 0;
    for (;;) {
      throwIfAborted(wait.signal);
      try {
        const job = await getJob(id, { signal: wait.signal });
        failures = 0;
        const changed = !last || last.status !== job.status || last.updated_at !== job.updated_at;
        interval =
          !last || last.status !== job.status ? first : Math.min(interval * 1.5, MAX_POLL_INTERVAL_MS);
        last = job;
        if (changed) wait.onUpdate?.(job);
        if (job.status === 'done' || job.status === 'failed') return job;
      } catch (error) {
        if (wait.signal?.aborted) throw abortError(wait.signal);
        const transient = !(error instanceof MediaApiError) || error.status >= 500 || error.status === 429;
        failures++;
        if (!transient || failures > 5) throw error;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new MediaTimeoutError(
          `job ${id} was still ${last?.status ?? 'unknown'} after ${wait.timeoutMs ?? 600_000} ms`,
          last,
        );
      }
      await sleep(Math.min(interval, remaining), wait.signal);
    }
  };

  const listJobs = ({ limit, cursor, status, signal }: ListJobsOptions = {}) => {
    const query = new URLSearchParams();
    if (limit !== undefined) query.set('limit', String(limit));
    if (cursor) query.set('cursor', cursor);
    if (status) query.set('status', status);
    const search = query.toString() ? `?${query}` : '';
    return api<JobList>('GET', `/api/media/${search}`, { signal });
  };

  return {
    listPresets: (init = {}) => api<PresetsResponse>('GET', '/api/presets/', { signal: init.signal }),
    listJobs,
    deleteJob: async (id) => {
      await api<undefined>('DELETE', `${jobPath(id)}/`);
    },
    upload,
    getJob,
    waitForJob,
    retryJob: (id) => api<RetriedJob>('POST', `${jobPath(id)}/retry/`),
    listUploadedParts: (id, init = {}) =>
      api<UploadedParts>('GET', `${jobPath(id)}/upload/parts`, { signal: init.signal }),
    abortUpload: (id) => api<AbortedUpload>('POST', `${jobPath(id)}/upload/abort`),
  };
};
