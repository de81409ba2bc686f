import autocannon from 'autocannon';
import sharp from 'sharp';
import { createUpload, createUploadBody, putUpload, waitForJob } from '../lib/api-client.ts';
import { type BenchContext, rotate } from '../lib/context.ts';
import type { SectionResult } from '../lib/report.ts';
import { formatSummary, type Summary, summarize } from '../lib/stats.ts';

const CONNECTIONS = 64;

interface EndpointResult {
  id: string;
  label: string;
  requestsPerSecond: Summary;
  p50: Summary;
  p99: Summary;
  requests: number;
  non2xx: number;
  errors: number;
}

export const runApiSection = async (context: BenchContext): Promise<SectionResult> => {
  const started = Date.now();
  const { quick, log } = context;
  const runs = quick ? 1 : 3;
  const seconds = quick ? 2 : 10;
  const runtime = await context.runtime();
  const { api } = runtime;

  // A finished job to read: its view carries three presigned result URLs, as a client polling sees it.
  const photo = await sharp({ create: { width: 800, height: 600, channels: 3, background: '#3a6ea5' } })
    .jpeg()
    .toBuffer();
  const upload = await createUpload(api, photo.length, 'image/jpeg');
  await putUpload(upload, photo);
  await waitForJob(api, upload.job_id);

  const endpoints = [
    {
      id: 'create-upload',
      label: 'POST /api/media/ (create upload: validate, DynamoDB put, presign)',
      options: {
        url: `${api.url}/api/media/`,
        method: 'POST',
        headers: { ...api.headers, 'content-type': 'application/json' },
        body: createUploadBody(4_200_000, 'image/jpeg'),
      },
    },
    {
      id: 'get-job',
      label: 'GET /api/media/{id}/ (done job: DynamoDB get, three presigned URLs)',
      options: { url: `${api.url}/api/media/${upload.job_id}/`, method: 'GET', headers: api.headers },
    },
  ];

  // Warm both API execution environments (and the DynamoDB Local JIT) before measuring.
  for (const endpoint of endpoints) {
    await autocannon({ ...endpoint.options, connections: CONNECTIONS, duration: 1 });
  }

  const samples = new Map<string, Array<Awaited<ReturnType<typeof autocannon>>>>();
  for (let run = 0; run < runs; run++) {
    for (const endpoint of rotate(endpoints, run)) {
      log(`api: ${endpoint.id}, run ${run + 1}/${runs}`);
      const result = await autocannon({ ...endpoint.options, connections: CONNECTIONS, duration: seconds });
      samples.set(endpoint.id, [...(samples.get(endpoint.id) ?? []), result]);
    }
  }

  const results: EndpointResult[] = endpoints.map((endpoint) => {
    const list = samples.get(endpoint.id) ?? [];
    return {
      id: endpoint.id,
      label: endpoint.label,
      requestsPerSecond: summarize(list.map((result) => result['2xx'] / result.duration)),
      p50: summarize(list.map((result) => result.latency.p50)),
      p99: summarize(list.map((result) => result.latency.p99)),
      requests: list.reduce((sum, result) => sum + result.requests.total, 0),
      non2xx: list.reduce((sum, result) => sum + result.non2xx, 0),
      errors: list.reduce((sum, result) => sum + result.errors + result.timeouts, 0),
    };
  });
  const apiFunctions = new Set(runtime.ready.httpRoutes.map((route) => route.functionLogicalId));
  const environments = runtime.ready.functions.filter((fn) => apiFunctions.has(fn.logicalId)).length;

  return {
    name: 'api',
    title: 'HTTP API',
    tables: [
      {
        title: `API through the local runtime: autocannon, ${CONNECTIONS} connections, ${runs} run${runs === 1 ? '' : 's'} of ${seconds} s per endpoint`,
        columns: ['endpoint', 'requests/s', 'p50 ms', 'p99 ms', 'requests', 'non-2xx', 'errors'],
        rows: results.map((result) => [
          result.label,
          formatSummary(result.requestsPerSecond),
          formatSummary(result.p50),
          formatSummary(result.p99),
          String(result.requests),
          String(result.non2xx),
          String(result.errors),
        ]),
        notes: [
          `The local runtime runs in its own process: HTTP API emulation (payload 2.0), then the API function in its warm worker processes (the pool runs 2 execution environments per function; ${environments} function(s) behind the routes), DynamoDB Local (Java) and s3rver's presigner endpoint. autocannon runs in the benchmark process, on the same two cores.`,
          `With ${CONNECTIONS} connections and 2 environments, requests wait in the runtime's queue: p50 is mostly queueing (connections ÷ requests/s), p99 adds the slowest DynamoDB Local writes. Runs alternate between the endpoints; median (min–max) across runs.`,
          'No target: these figures say what one laptop-sized local stack sustains, not what API Gateway and Lambda do (there, concurrency scales out).',
        ],
      },
    ],
    notes: [],
    targets: [],
    data: {
      connections: CONNECTIONS,
      secondsPerRun: seconds,
      endpoints: results,
      rawRuns: Object.fromEntries(
        [...samples].map(([id, list]) => [
          id,
          list.map((result) => ({
            duration: result.duration,
            ok: result['2xx'],
            non2xx: result.non2xx,
            p50: result.latency.p50,
            p90: result.latency.p90,
            p99: result.latency.p99,
            max: result.latency.max,
          })),
        ]),
      ),
    },
    durationMs: Date.now() - started,
  };
};
