import { readFile } from 'node:fs/promises';
import { DEFAULT_CONCURRENCY } from '../../local/lambda-pool.ts';
import { createUpload, type getJob, putUpload, waitForJob } from '../lib/api-client.ts';
import { type BenchContext, runPool, timed } from '../lib/context.ts';
import { defaultVariants, renderProject } from '../lib/image-methods.ts';
import { photoJpeg, withComment } from '../lib/inputs.ts';
import type { SectionResult, TargetResult } from '../lib/report.ts';
import type { InvocationSummary } from '../lib/runtime-protocol.ts';
import { formatNumber, formatRatio, formatSummary, percentile, summarize } from '../lib/stats.ts';

const QUANTILES = [50, 95, 99] as const;

/** Which of the stack's functions is which, from the template's logical ids. */
const functionMatching = (functions: Array<{ logicalId: string }>, pattern: RegExp, what: string): string => {
  const match = functions.find((fn) => pattern.test(fn.logicalId));
  if (!match)
    throw new Error(
      `no ${what} function in the template (${functions.map((fn) => fn.logicalId).join(', ')})`,
    );
  return match.logicalId;
};

const findInvocation = (invocations: InvocationSummary[], logicalId: string, jobId: string) =>
  invocations.find((invocation) => invocation.logicalId === logicalId && invocation.jobIds.includes(jobId));

const quantiles = (values: number[]) =>
  Object.fromEntries(QUANTILES.map((q) => [`p${q}`, percentile(values, q)])) as Record<
    'p50' | 'p95' | 'p99',
    number
  >;

export const runPipelineSection = async (context: BenchContext): Promise<SectionResult> => {
  const started = Date.now();
  const { quick, log } = context;
  const count = quick ? 20 : 200;
  const singles = quick ? 2 : 10;
  const [width, height] = quick ? [2016, 1512] : [4032, 3024];
  const label = `${((width * height) / 1e6).toFixed(0)} MP JPEG (${width}×${height})`;
  const photo = await readFile(await photoJpeg(width, height));
  const variants = defaultVariants('jpeg');

  // The image processor alone, on the same cores: one at a time, then the same burst two in flight.
  log('pipeline: the image processor alone');
  await renderProject(photo, variants);
  const aloneSingle: number[] = [];
  for (let i = 0; i < singles; i++)
    aloneSingle.push((await timed(() => renderProject(photo, variants))).wallMs);
  const aloneStart = performance.now();
  const aloneDone: number[] = [];
  await runPool(count, 2, async () => {
    await renderProject(photo, variants);
    aloneDone.push(performance.now() - aloneStart);
  });
  const aloneSeconds = (performance.now() - aloneStart) / 1000;

  const runtime = await context.runtime();
  const { api } = runtime;
  const ingestId = functionMatching(runtime.ready.functions, /ingest/i, 'ingest');
  const imageId = functionMatching(runtime.ready.functions, /image/i, 'image');

  // One job at a time through the whole stack: the first ones also warm every function up.
  log('pipeline: single jobs');
  const singleInvocations: InvocationSummary[] = [];
  const stopSingles = runtime.onInvocation((invocation) => singleInvocations.push(invocation));
  const singleLatency: number[] = [];
  const singleStages = {
    toIngest: [] as number[],
    ingest: [] as number[],
    toImage: [] as number[],
    imageUntilDone: [] as number[],
  };
  for (let i = 0; i < singles + 2; i++) {
    const data = withComment(photo, 1_000_000 + i + Date.now());
    const upload = await createUpload(api, data.length, 'image/jpeg');
    await putUpload(upload, data);
    const uploaded = Date.now();
    const job = await waitForJob(api, upload.job_id, { intervalMs: 20 });
    if (i < 2) continue;
    const done = Date.parse(job.updated_at);
    singleLatency.push(done - uploaded);
    // The image invocation ends after the job turned done: wait for its record.
    for (let wait = 0; wait < 100 && !findInvocation(singleInvocations, imageId, upload.job_id); wait++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const ingest = findInvocation(singleInvocations, ingestId, upload.job_id);
    const image = findInvocation(singleInvocations, imageId, upload.job_id);
    if (ingest && image) {
      singleStages.toIngest.push(ingest.startedAt - uploaded);
      singleStages.ingest.push(ingest.durationMs);
      singleStages.toImage.push(image.startedAt - ingest.endedAt);
      singleStages.imageUntilDone.push(done - image.startedAt);
    }
  }
  stopSingles();

  log(`pipeline: ${count} uploads at once`);
  const runId = Date.now();
  const uploads = await (async () => {
    const created: Array<{ jobId: string; data: Buffer; upload: Awaited<ReturnType<typeof createUpload>> }> =
      [];
    await runPool(count, 8, async (index) => {
      const data = withComment(photo, runId * 1000 + index);
      const upload = await createUpload(api, data.length, 'image/jpeg');
      created.push({ jobId: upload.job_id, data, upload });
    });
    return created;
  })();
  const jobIds = new Set(uploads.map((item) => item.jobId));
  const invocations: InvocationSummary[] = [];
  const processed = new Set<string>();
  let allProcessed: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    allProcessed = resolve;
  });
  const stopListening = runtime.onInvocation((invocation) => {
    if (!invocation.jobIds.some((id) => jobIds.has(id))) return;
    invocations.push(invocation);
    if (invocation.logicalId !== imageId || !invocation.ok) return;
    const failed = new Set(invocation.failedJobIds);
    for (const id of invocation.jobIds) if (jobIds.has(id) && !failed.has(id)) processed.add(id);
    if (processed.size === jobIds.size) allProcessed();
  });

  const putDone = new Map<string, number>();
  const burstStart = Date.now();
  await Promise.all(
    uploads.map(async (item) => {
      await putUpload(item.upload, item.data);
      putDone.set(item.jobId, Date.now());
    }),
  );
  const uploadsDone = Date.now();
  const timeout = setTimeout(() => allProcessed(), (quick ? 120 : 600) * 1000);
  await finished;
  clearTimeout(timeout);
  stopListening();

  const views = new Map<string, Awaited<ReturnType<typeof getJob>>>();
  await runPool(count, 8, async (index) => {
    const id = uploads[index]?.jobId ?? '';
    views.set(id, await waitForJob(api, id, { timeoutMs: 60_000, intervalMs: 200 }));
  });
  const latency = uploads.map(
    (item) => Date.parse(views.get(item.jobId)?.updated_at ?? '') - (putDone.get(item.jobId) ?? Number.NaN),
  );
  const doneTimes = uploads.map((item) => Date.parse(views.get(item.jobId)?.updated_at ?? ''));
  const firstPut = Math.min(...putDone.values());
  const pipelineSeconds = (Math.max(...doneTimes) - firstPut) / 1000;

  // Where the time went, from the runtime's invocation records.
  const stage = (id: string, jobId: string) => findInvocation(invocations, id, jobId);
  const ingestWait: number[] = [];
  const ingestDuration: number[] = [];
  const queueWait: number[] = [];
  const imageInvocation: number[] = [];
  for (const item of uploads) {
    const ingest = stage(ingestId, item.jobId);
    const image = stage(imageId, item.jobId);
    const put = putDone.get(item.jobId) ?? Number.NaN;
    if (ingest) {
      ingestWait.push(ingest.startedAt - put);
      ingestDuration.push(ingest.durationMs);
    }
    if (ingest && image) queueWait.push(image.startedAt - ingest.endedAt);
    if (image) imageInvocation.push(image.durationMs);
  }
  const imageBatches = new Set(
    invocations
      .filter((invocation) => invocation.logicalId === imageId)
      .map((i) => `${i.startedAt}:${i.jobIds}`),
  ).size;

  // How many uploads/s ingest can admit: environments ÷ the time each invocation holds one.
  const environments = DEFAULT_CONCURRENCY;
  const ingestOccupancy = percentile(
    invocations.filter((invocation) => invocation.logicalId === ingestId).map((i) => i.endedAt - i.startedAt),
    50,
  );
  const ingestCapacity = (environments * 1000) / ingestOccupancy;
  const pipelineQ = quantiles(latency);
  const aloneQ = quantiles(aloneDone);
  const overhead = {
    p50: pipelineQ.p50 - aloneQ.p50,
    p95: pipelineQ.p95 - aloneQ.p95,
    p99: pipelineQ.p99 - aloneQ.p99,
  };
  const aloneRate = count / aloneSeconds;
  const pipelineRate = count / pipelineSeconds;
  const singleAlone = summarize(aloneSingle);
  const singleOverhead = summarize(singleLatency.map((value) => value - singleAlone.median));

  const quickCause = `--quick sends ${count} 3 MP images: a smoke run, not a measurement`;
  const overheadMet = overhead.p50 < 150;
  const rateMet = pipelineRate / aloneRate >= 0.8;
  const targets: TargetResult[] = [
    {
      id: 'pipeline.overhead-p50',
      target: `${count} images uploaded at once: p50 of (upload complete → done) minus the image processing alone under 150 ms`,
      measured: `${formatNumber(overhead.p50)} ms (pipeline p50 ${formatNumber(pipelineQ.p50)} ms vs the processor alone ${formatNumber(aloneQ.p50)} ms on the same burst); one job at a time: ${formatNumber(singleOverhead.median)} ms`,
      status: quick ? 'not evaluated' : overheadMet ? 'met' : 'not met',
      ...(quick
        ? { cause: quickCause }
        : overheadMet
          ? {}
          : {
              cause: `the pipeline runs at ingest's pace, not the renderer's: the local runtime gives each function ${environments} execution environments (Lambda would start one per event), ingest holds one for ${formatNumber(ingestOccupancy)} ms per object under this load (GetObject, SHA-256, sniff, four DynamoDB Local round trips, an SQS send, on the two cores the renders use), so it admits about ${formatNumber(ingestCapacity, 1)} uploads/s against ${formatNumber(aloneRate, 1)} images/s the renderer could take. The burst therefore waits in front of ingest (p50 ${formatNumber(percentile(ingestWait, 50))} ms) and every later job finishes later than the renderer alone would finish it. One job at a time, the same path adds ${formatNumber(singleOverhead.median)} ms (the table below), ${singleOverhead.median < 150 ? 'within' : 'above'} the 150 ms.`,
            }),
    },
    {
      id: 'pipeline.throughput',
      target: 'throughput at least 80% of the image processor alone on the same cores',
      measured: `${formatNumber((pipelineRate / aloneRate) * 100)}% (${formatNumber(pipelineRate, 2)} vs ${formatNumber(aloneRate, 2)} images/s)`,
      status: quick ? 'not evaluated' : rateMet ? 'met' : 'not met',
      ...(quick
        ? { cause: quickCause }
        : rateMet
          ? {}
          : {
              cause: `ingest admits about ${formatNumber(ingestCapacity, 1)} uploads/s (${environments} environments ÷ ${formatNumber(ingestOccupancy)} ms each), close to the ${formatNumber(pipelineRate, 2)} images/s measured: the image function is left waiting for work (ingest done → image invocation p50 ${formatNumber(percentile(queueWait, 50))} ms). Ingest is slow under load because its DynamoDB Local and s3rver round trips queue behind the renders on the same two cores; it is the local runtime's fixed pool of ${environments} environments per function that turns this latency into a throughput limit.`,
            }),
    },
  ];

  const row = (name: string, values: { p50: number; p95: number; p99: number }) => [
    name,
    formatNumber(values.p50),
    formatNumber(values.p95),
    formatNumber(values.p99),
  ];
  return {
    name: 'pipeline',
    title: 'Pipeline',
    tables: [
      {
        title: `Pipeline: ${count} × ${label} uploaded at once through the local runtime (presigned PUT → S3 event → ingest → SQS → image function → done)`,
        columns: ['ms', 'p50', 'p95', 'p99'],
        rows: [
          row('upload complete → done (pipeline)', pipelineQ),
          row('image processor alone, same burst, 2 in flight', aloneQ),
          row('overhead (pipeline − alone)', overhead),
          row('wait for an ingest environment', quantiles(ingestWait)),
          row('ingest invocation', quantiles(ingestDuration)),
          row('ingest done → image invocation starts', quantiles(queueWait)),
          row('image invocation (a batch of up to 4)', quantiles(imageInvocation)),
        ],
        notes: [
          `Ingest capacity: ${environments} environments ÷ ${formatNumber(ingestOccupancy)} ms per invocation (p50) ≈ ${formatNumber(ingestCapacity, 1)} uploads/s.`,
          `Throughput: ${formatNumber(pipelineRate, 2)} images/s through the pipeline (first upload complete → last done: ${formatNumber(pipelineSeconds, 1)} s) vs ${formatNumber(aloneRate, 2)} images/s for renderImageVariants alone (${formatRatio(pipelineRate / aloneRate)}). The ${count} PUTs took ${formatNumber((uploadsDone - burstStart) / 1000, 1)} s; the image function ran ${imageBatches} batches.`,
          `One job at a time (${singles} jobs after 2 warm-up jobs): upload complete → done ${formatSummary(summarize(singleLatency))} ms; renderImageVariants alone ${formatSummary(singleAlone)} ms; overhead ${formatSummary(singleOverhead)} ms.`,
          "Done time: the job's updated_at when it turned done (written by the image function); upload complete: when the presigned PUT's response arrived. Same clock, one machine.",
          'The local runtime runs 2 execution environments per function (Lambda would scale out): with a burst, most of the latency is queueing for them, which is why the processor alone is measured on the same burst rather than one image.',
        ],
      },
      {
        title: `Pipeline, one job at a time: where upload complete → done goes (${singles} jobs, after 2 warm-up jobs)`,
        columns: ['stage', 'ms'],
        rows: [
          ['upload complete → done', formatSummary(summarize(singleLatency))],
          [
            '  upload complete → ingest starts (S3 event, notification bridge)',
            formatSummary(summarize(singleStages.toIngest)),
          ],
          [
            '  ingest invocation (GetObject, SHA-256, sniff, DynamoDB, SQS send)',
            formatSummary(summarize(singleStages.ingest)),
          ],
          [
            '  ingest ends → image invocation starts (SQS, poller)',
            formatSummary(summarize(singleStages.toImage)),
          ],
          ['  image invocation starts → job done', formatSummary(summarize(singleStages.imageUntilDone))],
          ['renderImageVariants alone (same image, one at a time)', formatSummary(singleAlone)],
          [
            'overhead: upload complete → done, minus renderImageVariants alone',
            formatSummary(singleOverhead),
          ],
        ],
      },
    ],
    notes: [],
    targets,
    data: {
      count,
      image: label,
      latencyMs: latency,
      aloneDoneMs: aloneDone,
      pipeline: pipelineQ,
      alone: aloneQ,
      overhead,
      pipelineImagesPerSecond: pipelineRate,
      aloneImagesPerSecond: aloneRate,
      single: {
        latencyMs: singleLatency,
        aloneMs: aloneSingle,
        overhead: singleOverhead,
        stages: singleStages,
      },
      stages: {
        ingestWait: quantiles(ingestWait),
        ingest: quantiles(ingestDuration),
        queueWait: quantiles(queueWait),
        imageInvocation: quantiles(imageInvocation),
        imageBatches,
      },
    },
    durationMs: Date.now() - started,
  };
};
