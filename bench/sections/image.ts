import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageVariantSpec } from '../../functions/shared/presets.ts';
import { runChild } from '../lib/child.ts';
import { type BenchContext, rotate, runPool, timed } from '../lib/context.ts';
import {
  decodeToIntermediate,
  defaultVariants,
  floorProbe,
  imageSize,
  largestTarget,
  type OutputFormat,
  renderProject,
  threePipelines,
} from '../lib/image-methods.ts';
import { alphaPng, photoJpeg, tinyJpeg } from '../lib/inputs.ts';
import { PythonWorker } from '../lib/python-worker.ts';
import type { SectionResult, Table, TargetResult } from '../lib/report.ts';
import { formatNumber, formatRatio, formatSummary, type Summary, summarize } from '../lib/stats.ts';

interface ImageInput {
  id: string;
  label: string;
  make: () => Promise<string>;
  jpeg: boolean;
}

const FULL_INPUTS: ImageInput[] = [
  { id: '12mp', label: '12 MP JPEG (4032×3024)', make: () => photoJpeg(4032, 3024), jpeg: true },
  { id: '24mp', label: '24 MP JPEG (6000×4000)', make: () => photoJpeg(6000, 4000), jpeg: true },
  { id: 'png', label: '6 MP PNG with alpha (3000×2000)', make: () => alphaPng(3000, 2000), jpeg: false },
];

const QUICK_INPUTS: ImageInput[] = [
  { id: '12mp', label: '3 MP JPEG (2016×1512), --quick', make: () => photoJpeg(2016, 1512), jpeg: true },
  { id: '24mp', label: '6 MP JPEG (3000×2000), --quick', make: () => photoJpeg(3000, 2000), jpeg: true },
  {
    id: 'png',
    label: '0.75 MP PNG with alpha (1000×750), --quick',
    make: () => alphaPng(1000, 750),
    jpeg: false,
  },
];

const FORMATS: OutputFormat[] = ['jpeg', 'webp'];

/** --quick keeps every code path (WebP output, PNG input, the RSS child) but runs each once. */
const formatsFor = (spec: ImageInput, quick: boolean): OutputFormat[] =>
  !quick ? FORMATS : spec.id === '12mp' ? FORMATS : spec.id === 'png' ? ['jpeg'] : [];

type RssKind = 'render' | 'render4' | 'pipelines';
const rssKindsFor = (spec: ImageInput, format: OutputFormat, quick: boolean): RssKind[] =>
  !quick ? ['render', 'render4', 'pipelines'] : spec.id === '12mp' && format === 'jpeg' ? ['render'] : [];
const MB = 1_000_000;
const RSS_TARGET_MB = 300;

type MethodId = 'render' | 'pipelines' | 'pillow' | 'vips' | 'floor' | 'intermediate';

interface Sample {
  wallMs: number;
  cpuMs: number;
}

interface CaseResult {
  input: string;
  format: OutputFormat;
  decodeFactor: number | undefined;
  perImage: Partial<Record<MethodId, { wall: Summary; cpu: Summary }>>;
  floorParts?: { decodeAndReduce: Summary; reduceOnly: Summary };
  /** renderImageVariants' CPU over the floor's, per round. */
  renderOverFloor?: Summary;
  throughput: Partial<Record<'render' | 'pipelines' | 'pillow' | 'vips', Summary>>;
  /** renderImageVariants' images/s over Pillow's two processes', per run. */
  renderOverPillow: Summary;
  peakRssMb: Partial<Record<RssKind | 'pillow' | 'vips', number>>;
  baselineRssMb: Partial<Record<RssKind | 'pillow', number>>;
  largestVariantBytes: Partial<Record<'render' | 'pipelines' | 'pillow' | 'vips', number>>;
}

/** vipsthumbnail's argument list for one variant: the same size, quality and stripping. */
const vipsArgv = (file: string, outDir: string, variant: ImageVariantSpec): string[] => {
  const options =
    variant.format === 'jpeg'
      ? `Q=${variant.quality},optimize_coding,strip,background=255`
      : `Q=${variant.quality},strip`;
  const extension = variant.format === 'jpeg' ? 'jpg' : 'webp';
  return [
    'vipsthumbnail',
    file,
    '-s',
    `${variant.width}x${variant.height}`,
    '-o',
    join(outDir, `${variant.name}.${extension}[${options}]`),
  ];
};

const runVips = async (worker: PythonWorker, file: string, outDir: string, variants: ImageVariantSpec[]) => {
  let wallMs = 0;
  let cpuMs = 0;
  let peakKb = 0;
  for (const variant of variants) {
    const reply = await worker.exec(vipsArgv(file, outDir, variant));
    wallMs += reply.wall_ms;
    cpuMs += reply.cpu_ms;
    peakKb = Math.max(peakKb, reply.max_rss_kb);
  }
  return { wallMs, cpuMs, peakKb };
};

const largestBytesOf = (sizes: number[]): number => Math.max(...sizes);

export const runImageSection = async (context: BenchContext): Promise<SectionResult> => {
  const started = Date.now();
  const { quick, log } = context;
  const rounds = quick ? 1 : 9;
  const throughputRuns = quick ? 1 : 5;
  const throughputImages = quick ? 2 : 12;
  const inputs = quick ? QUICK_INPUTS : FULL_INPUTS;
  const outDir = await mkdtemp(join(tmpdir(), 'bench-image-'));

  // vipsthumbnail's start-up, from a 16×16 JPEG: subtracted for its "net of start-up" row.
  const tiny = await tinyJpeg();
  const startupWorker = new PythonWorker();
  const startupSamples: number[] = [];
  const startupCpu: number[] = [];
  let launcherFloorMb = Number.NaN;
  try {
    for (let i = 0; i < rounds + 1; i++) {
      const argv = ['vipsthumbnail', tiny, '-s', '8x8', '-o', join(outDir, 'tiny.jpg')];
      const reply = await startupWorker.exec(argv);
      if (i > 0) {
        startupSamples.push(reply.wall_ms);
        startupCpu.push(reply.cpu_ms);
      }
    }
    // What any process started through the launcher shows as peak RSS before doing anything.
    launcherFloorMb = ((await startupWorker.exec(['/bin/true'])).max_rss_kb * 1024) / MB;
  } finally {
    await startupWorker.close();
  }
  const vipsStartup = { wall: summarize(startupSamples), cpu: summarize(startupCpu) };

  const cases: CaseResult[] = [];
  const tables: Table[] = [];
  // Every Python worker this section starts, so that a failure does not leave one running.
  const workers: PythonWorker[] = [];
  const openWorker = () => {
    const worker = new PythonWorker();
    workers.push(worker);
    return worker;
  };
  const closeWorkers = () => Promise.all(workers.splice(0).map((worker) => worker.close()));
  await Promise.all(['a', 'b'].map((lane) => mkdir(join(outDir, lane))));
  try {
    for (const spec of inputs) {
      const formats = formatsFor(spec, quick);
      if (formats.length === 0) continue;
      const file = await spec.make();
      const input = await readFile(file);
      const size = await imageSize(input);
      const caseRows: string[][] = [];
      for (const format of formats) {
        log(`image: ${spec.label} → ${format}`);
        const variants = defaultVariants(format);
        const target = largestTarget(size, variants);
        const probe = spec.jpeg ? await floorProbe(input, size, target) : undefined;
        const pillowWorker = openWorker();
        const pillowBaseline = await pillowWorker.rusage();
        let vipsPeakKb = 0;
        const samples: Partial<Record<MethodId, Sample[]>> = {};
        const floorA: number[] = [];
        const floorB: number[] = [];
        const floorWall: number[] = [];
        const largest: CaseResult['largestVariantBytes'] = {};
        const record = (method: MethodId, sample: Sample) => {
          const list = samples[method] ?? [];
          list.push(sample);
          samples[method] = list;
        };

        type Step = { id: string; run: (keep: boolean) => Promise<void> };
        const steps: Step[] = [
          {
            id: 'render',
            run: async (keep) => {
              const result = await timed(() => renderProject(input, variants));
              if (keep) record('render', result);
              largest.render = largestBytesOf(result.value.variants.map((variant) => variant.bytes));
            },
          },
          {
            id: 'pipelines',
            run: async (keep) => {
              const result = await timed(() => threePipelines(input, variants));
              if (keep) record('pipelines', result);
              largest.pipelines = largestBytesOf(result.value.map((buffer) => buffer.length));
            },
          },
          {
            id: 'pillow',
            run: async (keep) => {
              const reply = await pillowWorker.pillow(file, variants);
              if (keep) record('pillow', { wallMs: reply.wall_ms, cpuMs: reply.cpu_ms });
              largest.pillow = largestBytesOf(reply.bytes);
            },
          },
          {
            id: 'vips',
            run: async (keep) => {
              const result = await runVips(pillowWorker, file, outDir, variants);
              if (keep) record('vips', result);
              vipsPeakKb = Math.max(vipsPeakKb, result.peakKb);
              const extension = format === 'jpeg' ? 'jpg' : 'webp';
              const sizes = await Promise.all(
                variants.map(
                  async (variant) => (await stat(join(outDir, `${variant.name}.${extension}`))).size,
                ),
              );
              largest.vips = largestBytesOf(sizes);
            },
          },
        ];
        if (probe) {
          steps.push(
            {
              id: 'floor',
              run: async (keep) => {
                const a = await timed(probe.decodeAndReduce);
                const b = await timed(probe.reduceOnly);
                if (keep) {
                  floorA.push(a.cpuMs);
                  floorB.push(b.cpuMs);
                  floorWall.push(a.wallMs - b.wallMs);
                  record('floor', { wallMs: a.wallMs - b.wallMs, cpuMs: a.cpuMs - b.cpuMs });
                }
              },
            },
            {
              id: 'intermediate',
              run: async (keep) => {
                const result = await timed(() => decodeToIntermediate(input, target));
                if (keep) record('intermediate', result);
              },
            },
          );
        }

        // A warm-up round first (it also loads the file into the Python worker), not kept; --quick skips it.
        const warmup = quick ? 0 : 1;
        for (let round = 1 - warmup; round <= rounds; round++) {
          for (const step of rotate(steps, round)) await step.run(round > 0);
        }

        const perImage: CaseResult['perImage'] = {};
        for (const [method, list] of Object.entries(samples) as Array<[MethodId, Sample[]]>) {
          perImage[method] = {
            wall: summarize(list.map((sample) => sample.wallMs)),
            cpu: summarize(list.map((sample) => sample.cpuMs)),
          };
        }
        const renderCpu = (samples.render ?? []).map((sample) => sample.cpuMs);
        const floorCpu = (samples.floor ?? []).map((sample) => sample.cpuMs);
        const renderOverFloor = probe
          ? summarize(renderCpu.map((cpu, index) => cpu / (floorCpu[index] ?? Number.NaN)))
          : undefined;

        // Both cores busy: two images in flight in one process for sharp, two processes for Pillow and
        // for vipsthumbnail chains. Runs alternate between methods.
        const secondWorker = openWorker();
        const rates: Record<'render' | 'pipelines' | 'pillow' | 'vips', number[]> = {
          render: [],
          pipelines: [],
          pillow: [],
          vips: [],
        };
        const ratios: number[] = [];
        const half = Math.ceil(throughputImages / 2);
        await secondWorker.pillow(file, variants);
        for (let run = 0; run < throughputRuns; run++) {
          const measure = async (work: () => Promise<unknown>) => {
            const result = await timed(work);
            return (2 * half) / (result.wallMs / 1000);
          };
          const lanes = (one: (worker: PythonWorker) => Promise<unknown>) =>
            Promise.all(
              [pillowWorker, secondWorker].map(async (worker) => {
                for (let i = 0; i < half; i++) await one(worker);
              }),
            );
          // renderImageVariants and Pillow back to back (their ratio is the target), in alternating order.
          const order = [
            ...rotate(['render', 'pillow'] as const, run),
            ...rotate(['pipelines', 'vips'] as const, run),
          ];
          const runRates: Partial<Record<'render' | 'pipelines' | 'pillow' | 'vips', number>> = {};
          for (const method of order) {
            runRates[method] =
              method === 'render'
                ? await measure(() => runPool(2 * half, 2, () => renderProject(input, variants)))
                : method === 'pipelines'
                  ? await measure(() => runPool(2 * half, 2, () => threePipelines(input, variants)))
                  : method === 'pillow'
                    ? await measure(() => lanes((worker) => worker.pillow(file, variants)))
                    : await measure(() =>
                        lanes((worker) =>
                          runVips(worker, file, join(outDir, worker === pillowWorker ? 'a' : 'b'), variants),
                        ),
                      );
          }
          for (const method of order) rates[method].push(runRates[method] ?? Number.NaN);
          ratios.push((runRates.render ?? Number.NaN) / (runRates.pillow ?? Number.NaN));
        }

        // Peak RSS: the Python worker processed this case only, one image at a time.
        const pythonRss = await pillowWorker.rusage();
        await closeWorkers();
        const rssImages = quick ? 1 : 3;
        const rssRuns = {
          render: { method: 'render', inFlight: 1 },
          render4: { method: 'render', inFlight: 4 },
          pipelines: { method: 'pipelines', inFlight: 1 },
        } as const;
        const rss: Partial<Record<RssKind, { baselineKb: number; peakKb: number }>> = {};
        for (const kind of rssKindsFor(spec, format, quick)) {
          const { method, inFlight } = rssRuns[kind];
          rss[kind] = await runChild<{ baselineKb: number; peakKb: number }>('image-rss.ts', [
            file,
            format,
            method,
            String(inFlight),
            String(inFlight * rssImages),
          ]);
        }
        const kbToMb = (kb: number) => (kb * 1024) / MB;
        const result: CaseResult = {
          input: spec.id,
          format,
          decodeFactor: probe?.factor,
          perImage,
          ...(probe
            ? { floorParts: { decodeAndReduce: summarize(floorA), reduceOnly: summarize(floorB) } }
            : {}),
          ...(renderOverFloor ? { renderOverFloor } : {}),
          throughput: {
            render: summarize(rates.render),
            pipelines: summarize(rates.pipelines),
            pillow: summarize(rates.pillow),
            vips: summarize(rates.vips),
          },
          renderOverPillow: summarize(ratios),
          peakRssMb: {
            ...Object.fromEntries(Object.entries(rss).map(([kind, value]) => [kind, kbToMb(value.peakKb)])),
            pillow: kbToMb(pythonRss.self_max_rss_kb),
            vips: kbToMb(vipsPeakKb),
          },
          baselineRssMb: {
            ...Object.fromEntries(
              Object.entries(rss).map(([kind, value]) => [kind, kbToMb(value.baselineKb)]),
            ),
            pillow: kbToMb(pillowBaseline.self_max_rss_kb),
          },
          largestVariantBytes: largest,
        };
        cases.push(result);
        caseRows.push(...rowsFor(result, vipsStartup, format === 'jpeg'));
      }
      tables.push({
        title: `Image variants: ${spec.label} → the default preset's three variants (150, 800, 1600 px)`,
        columns: [
          'method',
          'output',
          'wall ms/image',
          'CPU ms/image',
          'CPU ÷ floor',
          'images/s, 2 cores',
          '÷ Pillow',
          'peak RSS MB',
          'largest variant KiB',
        ],
        rows: caseRows,
      });
    }
  } finally {
    await closeWorkers();
    await rm(outDir, { recursive: true, force: true });
  }

  const notes = [
    'Per-image figures: one image at a time, every method once per round, rounds interleaved (order rotated), after a warm-up round; median (min–max).',
    'CPU: process.cpuUsage() for sharp (all libvips threads); time.process_time() inside the Python worker for Pillow; the rusage of each vipsthumbnail process (wait4).',
    "images/s, 2 cores: two images in flight in one process (sharp), two worker processes (Pillow), two vipsthumbnail chains; '÷ Pillow' is the ratio within each run.",
    `Peak RSS: a fresh process per method and case, one image in flight, started through bench/py/launch.py so that it does not inherit the benchmark process's resident set (Linux carries peak RSS across fork and exec; a /bin/true started that way shows ${formatNumber(launcherFloorMb, 1)} MB). Node: process.resourceUsage().maxRSS; Python: getrusage; vipsthumbnail: the largest of its three processes. In parentheses, the same process before the first image (Node with tsx and sharp loaded and the input read; Python with Pillow). "renderImageVariants ×4" has four in flight, as the image function runs its batch of 4 SQS records concurrently.`,
    `Decode floor: one JPEG decode at the shrink-on-load scale the largest variant needs, with sharp (jpegload at 1/N, minus the small reduce that makes sharp grant it; see bench/lib/image-methods.ts). vipsthumbnail start-up: ${formatSummary(vipsStartup.wall)} ms wall, ${formatSummary(vipsStartup.cpu)} ms CPU per call (3 calls per image).`,
    'Pillow: draft() to the largest variant, one LANCZOS resize with reducing_gap=2.0, smaller variants derived from it, JPEG optimize=True (sharp optimises Huffman tables by default), WebP method 4 (sharp effort 4). sharp runs with sharp.cache(false) like the image function; sharp.concurrency() is 1 here (glibc without jemalloc), so one image uses one libvips thread.',
  ];
  return {
    name: 'image',
    title: 'Image variants',
    tables,
    notes,
    targets: imageTargets(cases, quick),
    data: { vipsStartup, launcherFloorMb, cases },
    durationMs: Date.now() - started,
  };
};

const rowsFor = (
  result: CaseResult,
  vipsStartup: { wall: Summary; cpu: Summary },
  withFloor: boolean,
): string[][] => {
  const output = result.format === 'jpeg' ? 'JPEG' : 'WebP';
  const floorCpu = result.perImage.floor?.cpu.median;
  const overFloor = (cpu: number | undefined) =>
    floorCpu !== undefined && cpu !== undefined ? formatRatio(cpu / floorCpu) : '–';
  const pillowRate = result.throughput.pillow?.median;
  const rss = (key: keyof CaseResult['peakRssMb'], baseline?: keyof CaseResult['baselineRssMb']) => {
    const peak = formatNumber(result.peakRssMb[key]);
    const base = baseline ? result.baselineRssMb[baseline] : undefined;
    return base === undefined ? peak : `${peak} (${formatNumber(base)})`;
  };
  const kib = (bytes: number | undefined) => (bytes === undefined ? '–' : formatNumber(bytes / 1024));
  const row = (
    label: string,
    method: MethodId,
    extra: { ratio?: string; rate?: Summary; overPillow?: string; rss?: string; bytes?: string } = {},
  ): string[] => {
    const measured = result.perImage[method];
    return [
      label,
      output,
      measured ? formatSummary(measured.wall) : '–',
      measured ? formatSummary(measured.cpu) : '–',
      extra.ratio ?? overFloor(measured?.cpu.median),
      extra.rate ? formatSummary(extra.rate, 1) : '–',
      extra.overPillow ?? '–',
      extra.rss ?? '–',
      extra.bytes ?? '–',
    ];
  };
  const rateOver = (rate: Summary | undefined) =>
    rate && pillowRate ? formatRatio(rate.median / pillowRate) : '–';
  const vips = result.perImage.vips;
  const rows = [
    row('renderImageVariants (project)', 'render', {
      ...(result.renderOverFloor ? { ratio: formatSummary(result.renderOverFloor, 2) } : {}),
      ...(result.throughput.render ? { rate: result.throughput.render } : {}),
      overPillow: formatSummary(result.renderOverPillow, 2),
      rss: rss('render', 'render'),
      bytes: kib(result.largestVariantBytes.render),
    }),
    ['renderImageVariants ×4 in flight', output, '–', '–', '–', '–', '–', rss('render4', 'render4'), '–'],
    row('sharp, three independent pipelines', 'pipelines', {
      ...(result.throughput.pipelines ? { rate: result.throughput.pipelines } : {}),
      overPillow: rateOver(result.throughput.pipelines),
      rss: rss('pipelines', 'pipelines'),
      bytes: kib(result.largestVariantBytes.pipelines),
    }),
    row('Pillow, draft + resize (Python worker)', 'pillow', {
      ...(result.throughput.pillow ? { rate: result.throughput.pillow } : {}),
      overPillow: '1.00×',
      rss: rss('pillow', 'pillow'),
      bytes: kib(result.largestVariantBytes.pillow),
    }),
    row('vipsthumbnail ×3 (3 processes)', 'vips', {
      ...(result.throughput.vips ? { rate: result.throughput.vips } : {}),
      overPillow: rateOver(result.throughput.vips),
      rss: rss('vips'),
      bytes: kib(result.largestVariantBytes.vips),
    }),
    [
      'vipsthumbnail ×3, net of start-up',
      output,
      vips ? formatNumber(vips.wall.median - 3 * vipsStartup.wall.median) : '–',
      vips ? formatNumber(vips.cpu.median - 3 * vipsStartup.cpu.median) : '–',
      vips ? overFloor(vips.cpu.median - 3 * vipsStartup.cpu.median) : '–',
      '–',
      '–',
      '–',
      '–',
    ],
  ];
  if (withFloor && result.perImage.floor) {
    rows.push(
      row(`decode floor: JPEG at 1/${result.decodeFactor} scale`, 'floor', { ratio: '1.00×' }),
      row("decode to the largest variant (render's 1st step)", 'intermediate'),
    );
  }
  return rows;
};

const imageTargets = (cases: CaseResult[], quick: boolean): TargetResult[] => {
  const quickCause = '--quick runs small inputs with few repeats: a smoke run, not a measurement';
  const find = (input: string, format: OutputFormat) =>
    cases.find((item) => item.input === input && item.format === format);
  const targets: TargetResult[] = [];
  for (const input of ['12mp', '24mp']) {
    const jpeg = find(input, 'jpeg');
    if (!jpeg) continue;
    const label = input === '12mp' ? '12 MP' : '24 MP';
    const ratio = jpeg.renderOverFloor;
    const floor = jpeg.perImage.floor?.cpu;
    const render = jpeg.perImage.render?.cpu;
    const intermediate = jpeg.perImage.intermediate?.cpu;
    if (ratio && floor && render) {
      const met = ratio.median <= 1.25;
      targets.push({
        id: `image.cpu-vs-floor.${input}`,
        target: `${label} JPEG → three JPEG variants: CPU per image within 1.25× of the decode floor`,
        measured: `${formatRatio(ratio.median)} (per-round range ${formatRatio(ratio.min)}–${formatRatio(ratio.max)}): renderImageVariants ${formatNumber(render.median)} ms CPU, floor (JPEG decode at 1/${jpeg.decodeFactor}) ${formatNumber(floor.median)} ms`,
        status: quick ? 'not evaluated' : met ? 'met' : 'not met',
        ...(quick
          ? { cause: quickCause }
          : met
            ? {}
            : {
                cause: floorGapCause(jpeg, intermediate, floor),
              }),
      });
    }
    const overPillow = jpeg.renderOverPillow;
    if (Number.isFinite(overPillow.median)) {
      const met = overPillow.median >= 1.35;
      targets.push({
        id: `image.throughput-vs-pillow.${input}`,
        target: `${label} JPEG → JPEG variants: images/s with both cores busy ≥ 1.35× Pillow (draft) as two processes`,
        measured: `${formatRatio(overPillow.median)} (per-run range ${formatRatio(overPillow.min)}–${formatRatio(overPillow.max)}): ${formatNumber(jpeg.throughput.render?.median, 1)} vs ${formatNumber(jpeg.throughput.pillow?.median, 1)} images/s`,
        status: quick ? 'not evaluated' : met ? 'met' : 'not met',
        ...(quick
          ? { cause: quickCause }
          : met
            ? {}
            : {
                cause: throughputGapCause(jpeg),
              }),
      });
    }
  }
  const big = cases.filter((item) => item.input === '24mp');
  if (big.length > 0) {
    const peaks = big.map((item) => ({ format: item.format, mb: item.peakRssMb.render ?? Number.NaN }));
    const worst = peaks.reduce((a, b) => (b.mb > a.mb ? b : a));
    const four = Math.max(...big.map((item) => item.peakRssMb.render4 ?? Number.NaN));
    const met = worst.mb < RSS_TARGET_MB;
    targets.push({
      id: 'image.peak-rss.24mp',
      target: `24 MP: peak RSS under ${RSS_TARGET_MB} MB`,
      measured: `${peaks.map((peak) => `${formatNumber(peak.mb)} MB (${peak.format})`).join(', ')} with one image in flight, in a process that starts at ${formatNumber(big[0]?.baselineRssMb.render)} MB; ${formatNumber(four)} MB with the image function's batch of 4 in flight`,
      status: quick ? 'not evaluated' : met ? 'met' : 'not met',
      ...(quick
        ? { cause: quickCause }
        : met
          ? {}
          : {
              cause:
                'the 24 MP input is decoded with shrink-on-load 1/2 into a raw intermediate, and libvips keeps decode buffers per pipeline; see the baseline in the table',
            }),
    });
  }
  return targets;
};

/** Why the images/s ratio to Pillow falls short, from this run's CPU figures. */
const throughputGapCause = (jpeg: CaseResult): string => {
  const render = jpeg.perImage.render?.cpu.median ?? Number.NaN;
  const pillow = jpeg.perImage.pillow?.cpu.median ?? Number.NaN;
  const decode = jpeg.perImage.intermediate?.cpu.median ?? Number.NaN;
  const floor = jpeg.perImage.floor?.cpu.median ?? Number.NaN;
  const cpuRatio = pillow / render;
  const noise = `The pairs of runs spread from ${formatRatio(jpeg.renderOverPillow.min)} to ${formatRatio(jpeg.renderOverPillow.max)}: each run lasts a few seconds, and the other tenants of this shared machine take a different share of the two cores in each.`;
  const shrink =
    decode / floor > 1.4
      ? ` The margin is thin because sharp decodes this JPEG at full size (${formatNumber(decode)} ms to reach the largest variant, where a 1/2-scale decode takes ${formatNumber(floor)} ms; see the CPU target), while Pillow's draft() decodes at 1/2.`
      : '';
  return cpuRatio >= 1.35
    ? `Per image, renderImageVariants needs ${formatRatio(cpuRatio)} less CPU than Pillow (${formatNumber(render)} vs ${formatNumber(pillow)} ms), which allows the target; the measured throughput ratio is lower. ${noise}${shrink}`
    : `Per image, renderImageVariants needs only ${formatRatio(cpuRatio)} less CPU than Pillow (${formatNumber(render)} vs ${formatNumber(pillow)} ms), and with both cores busy images/s follow CPU per image.${shrink} ${noise}`;
};

/**
 * Why renderImageVariants' CPU is above the decode floor, from this run's own rows: the decode to the
 * largest variant (sharp's shrink-on-load, or the lack of it) and the encoding the floor does not do.
 */
const floorGapCause = (jpeg: CaseResult, intermediate: Summary | undefined, floor: Summary): string => {
  const render = jpeg.perImage.render?.cpu.median ?? Number.NaN;
  const decode = intermediate?.median ?? Number.NaN;
  const encodeShare = `Everything after that first step (three resizes and three JPEG encodes, work the floor does not include) costs ${formatNumber(render - decode)} ms, ${formatRatio((render - decode) / floor.median)} the floor by itself, so no decode-once strategy can get within 1.25× of a decode-only floor.`;
  // Decoding to the largest variant costs well over the floor plus a small reduce: shrink-on-load was refused.
  if (decode / floor.median > 1.4) {
    return `Decoding to the largest variant costs ${formatNumber(decode)} ms, ${formatRatio(decode / floor.median)} the floor: for a shrink between 2 and 3 (4032 → 1600 px is 2.52×) sharp refuses JPEG shrink-on-load, because it halves the factor whenever the integer part of the shrink equals it (its guard against libjpeg rounding, lovell/sharp#3066), and it offers no way to ask jpegload for a shrink directly. So it decodes all 12 MP where libjpeg could decode at 1/2, as Pillow's draft() does. ${encodeShare}`;
  }
  return `Decoding to the largest variant costs ${formatNumber(decode)} ms (${formatRatio(decode / floor.median)} the floor: shrink-on-load applies, plus the reduce to the variant's size). ${encodeShare}`;
};
