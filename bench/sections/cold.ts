import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import sharp from 'sharp';
import { LambdaPool } from '../../local/lambda-pool.ts';
import type { FunctionSpec } from '../../local/types.ts';
import { createUpload, putUpload } from '../lib/api-client.ts';
import { type BenchContext, rotate } from '../lib/context.ts';
import { h264Clip } from '../lib/inputs.ts';
import type { SectionResult, TargetResult } from '../lib/report.ts';
import type { InvocationSummary, RuntimeReady } from '../lib/runtime-protocol.ts';
import type { RuntimeSession } from '../lib/runtime-session.ts';
import { formatBytes, formatNumber, formatSummary, type Summary, summarize } from '../lib/stats.ts';

interface DirectorySize {
  bytes: number;
  files: string[];
}

const walk = async (directory: string): Promise<DirectorySize> => {
  const files: string[] = [];
  let bytes = 0;
  const visit = async (path: string) => {
    for (const entry of await readdir(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) await visit(full);
      else if (entry.isFile()) {
        files.push(full);
        bytes += (await stat(full)).size;
      }
    }
  };
  await visit(directory);
  return { bytes, files };
};

interface Anatomy {
  codeBytes: number;
  /** JavaScript (what Node parses at a cold start), source maps excluded. */
  jsBytes: number;
  layers: Array<{ kind: string; bytes: number }>;
  sharp: boolean;
  ffmpeg: boolean;
}

const SHARP_REFERENCE = /require\(["']sharp["']\)|from ["']sharp["']|@img\/sharp-/;
const FFMPEG_REFERENCE = /@ffmpeg-installer|@ffprobe-installer/;

/** What a function carries: its code asset, its layers, and whether sharp or ffmpeg is among them. */
const anatomy = async (spec: FunctionSpec): Promise<Anatomy> => {
  const code = await walk(spec.codeDir);
  const scripts = code.files.filter((file) => /\.(c|m)?js$/.test(file));
  let jsBytes = 0;
  let sharpInCode = code.files.some((file) => /[\\/](sharp|@img)[\\/]/.test(file));
  let ffmpegInCode = code.files.some((file) => /^ff(mpeg|probe)$/.test(basename(file)));
  for (const script of scripts) {
    const text = await readFile(script, 'utf8');
    jsBytes += Buffer.byteLength(text);
    sharpInCode ||= SHARP_REFERENCE.test(text);
    ffmpegInCode ||= FFMPEG_REFERENCE.test(text);
  }
  const layers = await Promise.all(
    spec.layerDirs.map(async (dir) => {
      const { bytes, files } = await walk(dir);
      const kind = files.some((file) => /[\\/]node_modules[\\/](sharp|@img)[\\/]/.test(file))
        ? 'sharp'
        : files.some((file) => /^ff(mpeg|probe)$/.test(basename(file)))
          ? 'ffmpeg'
          : 'other';
      return { kind, bytes };
    }),
  );
  return {
    codeBytes: code.bytes,
    jsBytes,
    layers,
    sharp: sharpInCode || layers.some((layer) => layer.kind === 'sharp'),
    ffmpeg: ffmpegInCode || layers.some((layer) => layer.kind === 'ffmpeg'),
  };
};

/** A payload 2.0 event for a GET route without path parameters (or with a made-up id). */
const httpEvent = (routePath: string, routeKey: string) => {
  const path = routePath.replace(/\{[^}]+\}/g, randomUUID());
  return {
    version: '2.0',
    routeKey,
    rawPath: path,
    rawQueryString: '',
    headers: { accept: 'application/json', host: '127.0.0.1', 'user-agent': 'bench' },
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: '127.0.0.1',
      domainPrefix: 'local',
      http: { method: 'GET', path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'bench' },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    isBase64Encoded: false,
  };
};

/** The cheapest event each function accepts, by how the template triggers it. */
const minimalEvent = (spec: FunctionSpec, ready: RuntimeReady): unknown => {
  const routes = ready.httpRoutes.filter((route) => route.functionLogicalId === spec.logicalId);
  const get = routes.find((route) => route.method === 'GET' && route.path && !route.path.includes('{'));
  const anyGet = get ?? routes.find((route) => route.method === 'GET' && route.path) ?? routes[0];
  if (anyGet) {
    const path = anyGet.path ?? '/';
    return httpEvent(
      path,
      anyGet.path ? `${anyGet.method === 'ANY' ? 'GET' : anyGet.method} ${path}` : '$default',
    );
  }
  // SQS batches and S3 notifications: an empty list of records.
  return { Records: [] };
};

const EMPTY_HANDLER = 'exports.handler = async () => ({ statusCode: 200 });\n';

interface StandaloneResult {
  cold: Summary;
  warm: Summary;
  ok: boolean;
  error?: string;
}

/**
 * Cold starts again and again: a fresh LambdaPool (the local runtime's worker processes) per sample,
 * its first invocation (fork, Node start, bundle load, handler) and then warm ones with the same event.
 */
const standaloneColdStarts = async (
  specs: FunctionSpec[],
  events: Map<string, unknown>,
  repeats: number,
): Promise<Map<string, StandaloneResult>> => {
  const cold = new Map<string, number[]>();
  const warm = new Map<string, number[]>();
  const errors = new Map<string, string>();
  for (let round = 0; round < repeats; round++) {
    for (const spec of rotate(specs, round)) {
      const pool = new LambdaPool([spec], {
        concurrency: 1,
        output: () => undefined,
        extraEnv: {
          AWS_ACCESS_KEY_ID: 'S3RVER',
          AWS_SECRET_ACCESS_KEY: 'S3RVER',
          POWERTOOLS_LOG_LEVEL: 'ERROR',
          POWERTOOLS_METRICS_DISABLED: 'true',
        },
      });
      try {
        const event = events.get(spec.logicalId) ?? {};
        // Timed from here, not from the outcome: the fork, Node's start and the module load all count.
        const invoke = async () => {
          const startedAt = performance.now();
          const outcome = await pool.invoke(spec.logicalId, event, { trigger: 'bench' });
          return { outcome, ms: performance.now() - startedAt };
        };
        const first = await invoke();
        if (!first.outcome.ok) {
          errors.set(spec.logicalId, `${first.outcome.kind}: ${first.outcome.error.message}`);
        }
        cold.set(spec.logicalId, [...(cold.get(spec.logicalId) ?? []), first.ms]);
        for (let i = 0; i < 3; i++) {
          const next = await invoke();
          warm.set(spec.logicalId, [...(warm.get(spec.logicalId) ?? []), next.ms]);
        }
      } finally {
        await pool.close();
      }
    }
  }
  return new Map(
    specs.map((spec) => {
      const error = errors.get(spec.logicalId);
      return [
        spec.logicalId,
        {
          cold: summarize(cold.get(spec.logicalId) ?? []),
          warm: summarize(warm.get(spec.logicalId) ?? []),
          ok: error === undefined,
          ...(error ? { error } : {}),
        },
      ];
    }),
  );
};

/** Makes every function of the stack run once through its real trigger, unless it already has. */
const triggerEveryFunction = async (runtime: RuntimeSession, log: (message: string) => void) => {
  const { ready } = runtime;
  const invoked = () => new Set(runtime.invocations.map((invocation) => invocation.logicalId));
  const { api } = runtime;
  const receiver = createServer((request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(204).end());
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  try {
    const callback = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    // HTTP routes without parameters.
    for (const route of ready.httpRoutes) {
      if (invoked().has(route.functionLogicalId) || route.method !== 'GET' || !route.path) continue;
      await fetch(`${api.url}${route.path.replace(/\{[^}]+\}/g, randomUUID())}`, {
        headers: api.headers,
      }).then((response) => response.arrayBuffer());
    }
    // An image and a video with a callback: ingest, image, video and webhook functions.
    const image = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#8a5a2b' } })
      .jpeg()
      .toBuffer();
    const imageUpload = await createUpload(api, image.length, 'image/jpeg', { callback_url: callback });
    await putUpload(imageUpload, image);
    const video = await readFile(await h264Clip({ width: 640, height: 360, seconds: 2, bitrate: '1M' }));
    const videoUpload = await createUpload(api, video.length, 'video/mp4', { callback_url: callback });
    await putUpload(videoUpload, video);
    // Dead-letter consumers: one message on one of their queues.
    const reached = new Set<string>();
    for (const source of ready.eventSources) {
      if (invoked().has(source.functionLogicalId) || reached.has(source.functionLogicalId)) continue;
      if (!/dead|dlq/i.test(source.functionLogicalId)) continue;
      reached.add(source.functionLogicalId);
      await runtime.sendToQueue(source.queueUrl, JSON.stringify({ job_id: randomUUID() }));
    }
    const deadline = Date.now() + 90_000;
    const expected = ready.functions.map((fn) => fn.logicalId);
    while (Date.now() < deadline && expected.some((id) => !invoked().has(id))) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const missing = expected.filter((id) => !invoked().has(id));
    if (missing.length > 0) log(`cold: never invoked through the runtime: ${missing.join(', ')}`);
  } finally {
    await new Promise((resolve) => receiver.close(resolve));
  }
};

export const runColdSection = async (context: BenchContext): Promise<SectionResult> => {
  const started = Date.now();
  const { quick, log } = context;
  const repeats = quick ? 2 : 5;
  const runtime = await context.runtime();
  const { ready } = runtime;
  const specs = ready.functions;
  const apiFunctions = new Set(ready.httpRoutes.map((route) => route.functionLogicalId));

  log('cold: triggering every function through the runtime');
  await triggerEveryFunction(runtime, log);
  const firstInvocation = new Map<string, InvocationSummary>();
  for (const invocation of runtime.invocations) {
    if (invocation.coldStart && !firstInvocation.has(invocation.logicalId)) {
      firstInvocation.set(invocation.logicalId, invocation);
    }
  }

  log(`cold: ${repeats} standalone cold starts per function`);
  const emptyDir = await mkdtemp(join(tmpdir(), 'bench-empty-function-'));
  await writeFile(join(emptyDir, 'index.js'), EMPTY_HANDLER);
  const empty: FunctionSpec = {
    logicalId: 'EmptyFunction',
    name: 'empty',
    handler: 'index.handler',
    codeDir: emptyDir,
    layerDirs: [],
    environment: {},
    timeoutSeconds: 30,
    memoryMb: 128,
  };
  const events = new Map<string, unknown>(specs.map((spec) => [spec.logicalId, minimalEvent(spec, ready)]));
  let standalone: Map<string, StandaloneResult>;
  try {
    standalone = await standaloneColdStarts([empty, ...specs], events, repeats);
  } finally {
    await rm(emptyDir, { recursive: true, force: true });
  }
  const baseline = standalone.get(empty.logicalId)?.cold.median ?? Number.NaN;

  const anatomies = new Map<string, Anatomy>();
  for (const spec of specs) anatomies.set(spec.logicalId, await anatomy(spec));

  const rows = specs.map((spec) => {
    const parts = anatomies.get(spec.logicalId);
    const first = firstInvocation.get(spec.logicalId);
    const measured = standalone.get(spec.logicalId);
    const layers = parts?.layers.length
      ? parts.layers.map((layer) => `${layer.kind} ${formatBytes(layer.bytes)}`).join(', ')
      : 'none';
    return [
      `${spec.name}${apiFunctions.has(spec.logicalId) ? ' (API)' : ''}`,
      parts ? `${formatBytes(parts.codeBytes)} (JS ${formatBytes(parts.jsBytes)})` : '–',
      layers,
      parts ? (parts.sharp ? 'yes' : 'no') : '–',
      parts ? (parts.ffmpeg ? 'yes' : 'no') : '–',
      first
        ? `${formatNumber(first.endedAt - first.startedAt)} = ${formatNumber(first.initMs)} init + ${formatNumber(first.durationMs)} (${first.trigger.split(' ')[0]})`
        : 'not invoked',
      measured ? formatSummary(measured.cold) : '–',
      measured ? formatSummary(measured.warm) : '–',
      measured ? formatNumber(measured.cold.median - baseline) : '–',
    ];
  });
  const emptyResult = standalone.get(empty.logicalId);

  const offenders = specs.filter(
    (spec) =>
      apiFunctions.has(spec.logicalId) &&
      (anatomies.get(spec.logicalId)?.sharp || anatomies.get(spec.logicalId)?.ffmpeg),
  );
  const apiNames = specs.filter((spec) => apiFunctions.has(spec.logicalId)).map((spec) => spec.name);
  const targets: TargetResult[] = [
    {
      id: 'cold.api-bundles-lean',
      target: 'the API functions carry neither sharp nor ffmpeg',
      measured:
        offenders.length === 0
          ? `${apiNames.join(', ')}: no sharp, no ffmpeg (no layer, nothing in the bundle)`
          : `${offenders.map((spec) => spec.name).join(', ')} carry sharp or ffmpeg`,
      status: offenders.length === 0 ? 'met' : 'not met',
      ...(offenders.length === 0 ? {} : { cause: 'see the table: a layer or a bundled reference' }),
    },
  ];
  const failures = [...standalone.entries()].filter(([, result]) => !result.ok);

  return {
    name: 'cold',
    title: 'Bundles and cold starts',
    tables: [
      {
        title: 'Functions: bundle size and first-invocation time in the local runtime',
        columns: [
          'function',
          'code asset',
          'layers',
          'sharp',
          'ffmpeg',
          'first invocation in the runtime, ms',
          'cold start ms',
          'warm ms',
          'cold − empty function, ms',
        ],
        rows,
        notes: [
          `"first invocation in the runtime": the first (cold) invocation each function got through its real trigger during this run, one sample: from getting an execution environment to the result, split into the init phase (fork, Node start, module load) and the handler's own time, which includes its work (a render, a poster).`,
          `"cold start": ${repeats} fresh execution environments per function (the runtime's LambdaPool: fork, Node start, bundle load, handler), each invoked with a minimal event (a GET route, or an empty batch) and timed from the invoke call to its result, median (min–max); "warm": the same event again in the same environment. An empty function's cold start is ${emptyResult ? formatSummary(emptyResult.cold) : '–'} ms: the last column is what each bundle adds to it.`,
          'Sizes as on disk in the synthesized assembly (code asset: bundle and source map; layers counted separately, they are shared).',
          ...failures.map(
            ([id, result]) =>
              `${id}: the minimal event ended with ${result.error} (the timing still covers the cold start).`,
          ),
        ],
      },
    ],
    notes: [],
    targets,
    data: {
      emptyFunction: emptyResult,
      functions: specs.map((spec) => ({
        logicalId: spec.logicalId,
        name: spec.name,
        api: apiFunctions.has(spec.logicalId),
        anatomy: anatomies.get(spec.logicalId),
        firstInvocation: firstInvocation.get(spec.logicalId),
        standalone: standalone.get(spec.logicalId),
        codeDirExists: existsSync(spec.codeDir),
      })),
    },
    durationMs: Date.now() - started,
  };
};
