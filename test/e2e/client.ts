import { inject } from 'vitest';
import type { E2eTarget } from './setup.ts';

/**
 * The public API, as a client sees it. The suite knows nothing else of the system under test: the
 * same calls run against the local runtime, LocalStack or a deployed stack (test/e2e/setup.ts).
 */
export const apiUrl = (): string => inject('e2e').apiUrl;

/** What the suite was told of its target (test/e2e/setup.ts): the API, keys, secrets. */
export const target = (): E2eTarget => inject('e2e');
export const apiKey = (): string | undefined => target().apiKey;
export const otherApiKey = (): string | undefined => target().otherApiKey;

/** `Authorization: Bearer <key>` for the key given, else the suite's own (`{}` when it has none). */
export const authorization = (key: string | undefined = apiKey()): Record<string, string> =>
  key ? { authorization: `Bearer ${key}` } : {};

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  body: T;
}

/** Headers set to `''` are left out: `{ authorization: '' }` sends no credential at all. */
const withoutEmpty = (headers: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(headers).filter(([, value]) => value !== ''));

/** The typed client's `auth` option for the suite's key (nothing against `auth: none`). */
export const clientAuth = (key: string | undefined = apiKey()): { auth?: { apiKey: string } } =>
  key ? { auth: { apiKey: key } } : {};

export const call = async <T = Record<string, unknown>>(
  method: string,
  path: string,
  init: { json?: unknown; body?: BodyInit; headers?: Record<string, string> } = {},
): Promise<ApiResponse<T>> => {
  const response = await fetch(new URL(path, apiUrl()), {
    method,
    // The suite's key unless the caller sends its own Authorization (another tenant's, or none: `''`).
    headers: withoutEmpty({
      ...authorization(),
      ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}),
      ...init.headers,
    }),
    body: init.json !== undefined ? JSON.stringify(init.json) : init.body,
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : null) as T };
};

export interface UploadTicket {
  job_id: string;
  status: string;
  upload: { method: string; url: string; headers: Record<string, string>; expires_at: string };
}

export interface JobView {
  id: string;
  status: string;
  file_hash: string | null;
  attempts: number;
  result: Record<string, unknown> | null;
  result_urls: Record<string, string> | null;
  error: string | null;
  error_code: string | null;
  duplicate_of: string | null;
  webhook: Record<string, unknown> | null;
  run: number;
  retryable: boolean;
  updated_at: string;
}

export const createUpload = (fields: Record<string, unknown>) =>
  call<UploadTicket>('POST', '/api/media/', { json: fields });

/** PUTs the bytes to the presigned URL with the headers the API said to send (fetch sets Content-Length). */
export const putUpload = async (ticket: UploadTicket, bytes: Uint8Array): Promise<Response> => {
  const headers = Object.fromEntries(
    Object.entries(ticket.upload.headers).filter(([name]) => name.toLowerCase() !== 'content-length'),
  );
  return fetch(ticket.upload.url, { method: ticket.upload.method, headers, body: new Uint8Array(bytes) });
};

/** Creates an upload for `bytes`, sends them, and returns the job id. */
export const upload = async (
  bytes: Uint8Array,
  fields: { file_name: string; content_type: string; preset?: string; callback_url?: string; size?: number },
): Promise<string> => {
  const created = await createUpload({ preset: 'default', size: bytes.length, ...fields });
  if (created.status !== 201)
    throw new Error(`create upload answered ${created.status}: ${JSON.stringify(created.body)}`);
  const put = await putUpload(created.body, bytes);
  if (!put.ok) throw new Error(`upload PUT answered ${put.status}: ${await put.text()}`);
  return created.body.job_id;
};

export const getJob = (id: string) => call<JobView>('GET', `/api/media/${id}/`);

/** Polls the job until its status is one of `statuses` (done or failed by default). */
export const waitForJob = async (
  id: string,
  statuses: readonly string[] = ['done', 'failed'],
  timeoutMs = 60_000,
): Promise<JobView> => {
  const deadline = Date.now() + timeoutMs;
  let last: JobView | undefined;
  while (Date.now() < deadline) {
    const { status, body } = await getJob(id);
    if (status !== 200) throw new Error(`GET job answered ${status}: ${JSON.stringify(body)}`);
    last = body;
    if (statuses.includes(body.status)) return body;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(
    `job ${id} did not reach ${statuses.join('/')} within ${timeoutMs} ms; last seen ${JSON.stringify(last)}`,
  );
};

export const download = async (url: string): Promise<Buffer> => {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`download answered ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
};
