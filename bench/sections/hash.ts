import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { digestUpload } from '../../functions/ingest/digest-upload.ts';
import { type BenchContext, rotate } from '../lib/context.ts';
import { randomFile } from '../lib/inputs.ts';
import type { SectionResult, TargetResult } from '../lib/report.ts';
import { formatNumber, formatSummary, type Summary, summarize } from '../lib/stats.ts';

const run = promisify(execFile);

/** One buffer, refilled for every read: what a reader that allocates nothing per chunk hands over. */
async function* reusedBuffer(path: string, bytes: number): AsyncGenerator<Uint8Array> {
  const handle = await open(path, 'r');
  const buffer = Buffer.allocUnsafe(bytes);
  try {
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, bytes, null);
      if (bytesRead === 0) return;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

/** Reads a stream to its end without hashing: what the reader alone costs. Resolves with a label, not a digest. */
const countBytes = async (body: AsyncIterable<Uint8Array>): Promise<string> => {
  let bytes = 0;
  for await (const chunk of body) bytes += chunk.byteLength;
  return `read:${bytes}`;
};

interface Variant {
  id: string;
  label: string;
  /** Resolves with the hex digest. */
  run: () => Promise<string>;
  cpuInProcess: boolean;
}

const S3_KEY = 'bench/hash-object.bin';

const append = (lists: Record<string, number[]>, key: string, value: number) => {
  lists[key] = [...(lists[key] ?? []), value];
};

export const runHashSection = async (context: BenchContext): Promise<SectionResult> => {
  const started = Date.now();
  const { quick, log } = context;
  const mebibytes = quick ? 128 : 1024;
  const rounds = quick ? 1 : 5;
  const path = await randomFile(mebibytes);
  const size = (await stat(path)).size;

  // The ingest path proper: the object streamed from S3 (the local runtime's s3rver, in its own process).
  log(`hash: uploading ${mebibytes} MiB to the local runtime's S3`);
  const runtime = await context.runtime();
  const bucket = runtime.ready.uploadsBucket;
  // Outside uploads/: no ingest notification fires for it.
  await runtime.s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: S3_KEY, Body: createReadStream(path), ContentLength: size }),
  );
  const fromS3 = async () => {
    const object = await runtime.s3.send(new GetObjectCommand({ Bucket: bucket, Key: S3_KEY }));
    return (await digestUpload(object.Body as AsyncIterable<Uint8Array>)).sha256;
  };

  const variants: Variant[] = [
    {
      id: 'openssl',
      label: 'openssl dgst -sha256',
      run: async () => (await run('openssl', ['dgst', '-sha256', '-r', path])).stdout.split(' ')[0] ?? '',
      cpuInProcess: false,
    },
    {
      id: 'sha256sum',
      label: 'sha256sum (coreutils)',
      run: async () => (await run('sha256sum', [path])).stdout.split(' ')[0] ?? '',
      cpuInProcess: false,
    },
    {
      id: 'stream',
      label: 'digestUpload ← fs.createReadStream (64 KiB chunks)',
      run: async () => (await digestUpload(createReadStream(path))).sha256,
      cpuInProcess: true,
    },
    {
      id: 'stream-1m',
      label: 'digestUpload ← fs.createReadStream (1 MiB chunks)',
      run: async () => (await digestUpload(createReadStream(path, { highWaterMark: 1024 * 1024 }))).sha256,
      cpuInProcess: true,
    },
    {
      id: 'reused-64k',
      label: 'digestUpload ← the file, 64 KiB reads into one buffer',
      run: async () => (await digestUpload(reusedBuffer(path, 64 * 1024))).sha256,
      cpuInProcess: true,
    },
    {
      id: 'reused-8m',
      label: 'digestUpload ← the file, 8 MiB reads into one buffer',
      run: async () => (await digestUpload(reusedBuffer(path, 8 * 1024 * 1024))).sha256,
      cpuInProcess: true,
    },
    {
      id: 's3',
      label: 'digestUpload ← S3 GetObject stream (the ingest path)',
      run: fromS3,
      cpuInProcess: true,
    },
    {
      id: 'read-stream-only',
      label: 'no hashing: fs.createReadStream (64 KiB chunks) alone',
      run: async () => countBytes(createReadStream(path)),
      cpuInProcess: true,
    },
    {
      id: 'read-s3-only',
      label: 'no hashing: S3 GetObject stream alone',
      run: async () => {
        const object = await runtime.s3.send(new GetObjectCommand({ Bucket: bucket, Key: S3_KEY }));
        return countBytes(object.Body as AsyncIterable<Uint8Array>);
      },
      cpuInProcess: true,
    },
  ];

  // Page cache: read it once.
  await variants[0]?.run();
  const seconds: Record<string, number[]> = {};
  const cpu: Record<string, number[]> = {};
  const kernel: Record<string, number[]> = {};
  const ratios: Record<string, number[]> = {};
  const digests = new Set<string>();
  for (let round = 0; round < rounds; round++) {
    log(`hash: round ${round + 1}/${rounds}`);
    const roundSeconds: Record<string, number> = {};
    for (const variant of rotate(variants, round)) {
      const cpuBefore = process.cpuUsage();
      const startedAt = performance.now();
      digests.add(await variant.run());
      const elapsed = (performance.now() - startedAt) / 1000;
      const used = process.cpuUsage(cpuBefore);
      roundSeconds[variant.id] = elapsed;
      append(seconds, variant.id, elapsed);
      if (variant.cpuInProcess) {
        append(cpu, variant.id, (used.user + used.system) / 1e6 / elapsed);
        append(kernel, variant.id, used.system / Math.max(1, used.user + used.system));
      }
    }
    for (const variant of variants) {
      append(ratios, variant.id, (roundSeconds.openssl ?? Number.NaN) / (roundSeconds[variant.id] ?? 1));
    }
  }
  const hashes = [...digests].filter((digest) => !digest.startsWith('read:'));
  if (hashes.length !== 1) throw new Error(`the hash variants disagree: ${hashes.join(', ')}`);
  if (!digests.has(`read:${size}`)) throw new Error('a read-only variant did not read the whole object');

  const gigabytes = size / 1e9;
  const throughput = (id: string): Summary => summarize((seconds[id] ?? []).map((s) => gigabytes / s));
  const ratio = (id: string): Summary => summarize(ratios[id] ?? []);
  const rows = variants.map((variant) => [
    variant.label,
    formatSummary(throughput(variant.id), 2),
    formatSummary(ratio(variant.id), 2),
    variant.cpuInProcess
      ? `${formatNumber(summarize(cpu[variant.id] ?? []).median * 100)} (${formatNumber(summarize(kernel[variant.id] ?? []).median * 100)}% kernel)`
      : '–',
  ]);

  const percentOf = (id: string) => `${formatNumber(ratio(id).median * 100)}%`;
  const cpuOf = (id: string) => `${formatNumber(summarize(cpu[id] ?? []).median * 100)}%`;
  const kernelOf = (id: string) => `${formatNumber(summarize(kernel[id] ?? []).median * 100)}%`;
  const fromFile = ratio('reused-8m');
  const s3 = ratio('s3');
  const met = fromFile.median >= 0.9;
  const targets: TargetResult[] = [
    {
      id: 'hash.vs-openssl',
      target:
        "digestUpload's SHA-256 throughput on a 1 GB file from page cache: at least 90% of openssl dgst -sha256 on the same file",
      measured: `${percentOf('reused-8m')} of openssl reading the file in 8 MiB reads (${formatNumber(throughput('reused-8m').median, 2)} vs ${formatNumber(throughput('openssl').median, 2)} GB/s; per-round range ${formatNumber(fromFile.min * 100)}–${formatNumber(fromFile.max * 100)}%); through a plain read stream ${percentOf('stream')}; from the local S3 (the ingest path) ${formatNumber(s3.median * 100)}%`,
      status: quick ? 'not evaluated' : met ? 'met' : 'not met',
      ...(quick
        ? { cause: '--quick hashes 128 MiB in one round' }
        : {
            cause: `${met ? '' : `Reading the file in 8 MiB reads reaches only ${percentOf('reused-8m')} in this run. `}The readers, not the hash, set the other rows: fs.createReadStream alone, hashing nothing, manages ${formatNumber(throughput('read-stream-only').median, 2)} GB/s (${percentOf('read-stream-only')} of openssl reading and hashing) at ${cpuOf('read-stream-only')} of a core, ${kernelOf('read-stream-only')} of it in the kernel: every 64 KiB chunk is a round trip through libuv's thread pool, which on this VM costs more than hashing the chunk (openssl reads synchronously on one thread). The ingest function reads from S3, where s3rver (one JavaScript process serving 64 KiB file reads) streams at ${formatNumber(throughput('read-s3-only').median, 2)} GB/s when nothing is hashed: the emulator is the limit there. On AWS one GetObject connection delivers tens to a few hundred MB/s, below every file row here: the hash keeps up with any S3 read rate and costs CPU time, which the 8 MiB row bounds.`,
          }),
    },
  ];
  return {
    name: 'hash',
    title: 'SHA-256 of an upload',
    tables: [
      {
        title: `Hashing: SHA-256 of ${mebibytes} MiB of random bytes from page cache`,
        columns: ['reader', 'GB/s', '÷ openssl (same round)', 'CPU % of one core (kernel share)'],
        rows,
        notes: [
          'Every reader once per round, rounds interleaved with the order rotated; the file is read once before the first round so that it is in page cache. GB = 10⁹ bytes.',
          "The S3 row streams the object from the local runtime's s3rver (another process) through the AWS SDK, as the ingest function does; the other digestUpload rows feed it from the file.",
          'CPU % covers this process only (the S3 row leaves out s3rver, the openssl and sha256sum rows are child processes).',
        ],
      },
    ],
    notes: [],
    targets,
    data: {
      bytes: size,
      throughputGBs: Object.fromEntries(variants.map((variant) => [variant.id, throughput(variant.id)])),
      overOpenssl: Object.fromEntries(variants.map((variant) => [variant.id, ratio(variant.id)])),
    },
    durationMs: Date.now() - started,
  };
};
