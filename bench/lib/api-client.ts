/** The public API, as a client uses it: create an upload, PUT the bytes, read the job. */

/** Where the API is and what every call to it sends (the runtime's dev key, when it has API keys). */
export interface ApiEndpoint {
  url: string;
  headers: Record<string, string>;
}

export interface CreatedUpload {
  job_id: string;
  upload: { method: string; url: string; headers: Record<string, string> };
}

export interface JobView {
  id: string;
  status: string;
  updated_at: string;
  created_at: string;
  error?: string | null;
  error_code?: string | null;
}

const expectStatus = async (response: Response, expected: number[], what: string) => {
  if (!expected.includes(response.status)) {
    throw new Error(`${what}: HTTP ${response.status} ${await response.text()}`);
  }
};

export const createUploadBody = (size: number, contentType: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    file_name: contentType.startsWith('video/') ? 'clip.mp4' : 'photo.jpg',
    content_type: contentType,
    size,
    preset: 'default',
    ...extra,
  });

export const createUpload = async (
  api: ApiEndpoint,
  size: number,
  contentType: string,
  extra: Record<string, unknown> = {},
): Promise<CreatedUpload> => {
  const response = await fetch(`${api.url}/api/media/`, {
    method: 'POST',
    headers: { ...api.headers, 'content-type': 'application/json' },
    body: createUploadBody(size, contentType, extra),
  });
  await expectStatus(response, [201], 'create upload');
  return (await response.json()) as CreatedUpload;
};

export const putUpload = async (upload: CreatedUpload, data: Buffer): Promise<void> => {
  // A view of the same memory (Node Buffers never sit on a SharedArrayBuffer): no copy per upload.
  const body = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
  const response = await fetch(upload.upload.url, { method: 'PUT', headers: upload.upload.headers, body });
  await expectStatus(response, [200], 'presigned PUT');
  await response.arrayBuffer();
};

export const getJob = async (api: ApiEndpoint, jobId: string): Promise<JobView> => {
  const response = await fetch(`${api.url}/api/media/${jobId}/`, { headers: api.headers });
  await expectStatus(response, [200], 'get job');
  return (await response.json()) as JobView;
};

const FINISHED = new Set(['done', 'failed']);

/** Polls until the job is done (or failed, which throws). */
export const waitForJob = async (
  api: ApiEndpoint,
  jobId: string,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<JobView> => {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  for (;;) {
    const job = await getJob(api, jobId);
    if (FINISHED.has(job.status)) {
      if (job.status === 'failed') throw new Error(`job ${jobId} failed: ${job.error_code} ${job.error}`);
      return job;
    }
    if (Date.now() > deadline) throw new Error(`job ${jobId} is still ${job.status}`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
};
