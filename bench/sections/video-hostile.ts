import type { PosterSpec } from '../../functions/shared/presets.ts';
import { memoryCeiling } from '../../functions/video/child-memory.ts';
import { DEFAULT_CONTAINER_LIMITS } from '../../functions/video/container-headers.ts';
import { posterArgs } from '../../functions/video/extract-poster.ts';
import { probeArgs } from '../../functions/video/probe-video.ts';
import { processVideo } from '../../functions/video/process-video.ts';
import { BinaryMemoryExceededError, runBinary } from '../../functions/video/run-binary.ts';
import { type HostileClip, makeHostileClips } from '../../test/video/hostile-clips.ts';
import type { PythonWorker } from '../lib/python-worker.ts';
import type { Table } from '../lib/report.ts';
import { FFMPEG_PATH, FFPROBE_PATH } from '../lib/tools.ts';

/**
 * Issue 9, item 6: peak RSS of the hostile files, before and after the bounds. "Before" runs
 * processVideo's own ffprobe and poster command lines with no memory bound under the rusage harness
 * (true peaks); "after" is what processVideo does (the container headers refuse the file before a
 * tool starts), and, with that check bypassed, the same command lines under the 1 GiB allowance
 * the function uses: the watchdog's kill and the peak it read, and the true peak under the
 * address-space cap alone (harness, through the same `ulimit -v` wrapper).
 */
const ALLOWANCE_BYTES = 1024 * 1024 * 1024;
const MIB = 1024 * 1024;
const CASES: { clip: HostileClip; label: string }[] = [
  { clip: 'huge-24.mp4', label: '24 streams of 8192×8192 (4.75 MB MP4)' },
  { clip: 'tiny-1000.mp4', label: '1000 streams of 16×16 (1.2 MB MP4)' },
];

export interface HostileResult {
  label: string;
  tool: 'ffprobe' | 'ffmpeg';
  beforeMb: number;
  refusal: string;
  watchdogOutcome: string;
  watchdogPeakMb: number | undefined;
  addressCapPeakMb: number;
  addressCapOutcome: string;
}

const mb = (bytes: number): number => Math.round(bytes / MIB);

export const measureHostileInputs = async (
  worker: PythonWorker,
  poster: PosterSpec,
  log: (line: string) => void,
): Promise<{ table: Table; results: HostileResult[] }> => {
  const clips = await makeHostileClips(CASES.map((item) => item.clip));
  const bounds = memoryCeiling(ALLOWANCE_BYTES);
  const results: HostileResult[] = [];
  try {
    for (const item of CASES) {
      const path = clips.path(item.clip);
      log(`video: hostile ${item.label}`);
      const refusal = await processVideo(path, poster, {
        ffmpegPath: FFMPEG_PATH,
        ffprobePath: FFPROBE_PATH,
        maxDurationSeconds: 3600,
        timeoutMs: 120_000,
        memoryLimitBytes: ALLOWANCE_BYTES,
      }).then(
        () => 'accepted',
        (error: unknown) => (error instanceof Error ? error.message : String(error)),
      );
      const commands = {
        ffprobe: [FFPROBE_PATH, ...probeArgs(path)],
        ffmpeg: [FFMPEG_PATH, ...posterArgs(path, poster, 1)],
      };
      for (const tool of ['ffprobe', 'ffmpeg'] as const) {
        const [binary = '', ...args] = commands[tool];
        const before = await worker.exec([binary, ...args]);
        const capped = await worker.exec(
          [
            '/bin/sh',
            '-c',
            'ulimit -v "$1" && shift && exec "$@"',
            'sh',
            String(ALLOWANCE_BYTES / 1024),
            binary,
            ...args,
          ],
          { allowFailure: true },
        );
        let watchdogOutcome = 'completed';
        let watchdogPeak: number | undefined;
        try {
          const result = await runBinary(binary, args, {
            timeoutMs: 120_000,
            maxStdoutBytes: 32 * MIB,
            memory: bounds,
          });
          watchdogPeak = result.peakRssBytes;
        } catch (error) {
          watchdogOutcome = error instanceof Error ? error.message : String(error);
          if (error instanceof BinaryMemoryExceededError) {
            watchdogOutcome = 'killed: Media::TooComplex';
            watchdogPeak = error.peakRssBytes;
          }
        }
        results.push({
          label: item.label,
          tool,
          beforeMb: mb(before.max_rss_kb * 1024),
          refusal,
          watchdogOutcome,
          watchdogPeakMb: watchdogPeak === undefined ? undefined : mb(watchdogPeak),
          addressCapPeakMb: mb(capped.max_rss_kb * 1024),
          addressCapOutcome:
            capped.returncode === 0
              ? 'completed'
              : /Cannot allocate memory/.test(capped.stderr)
                ? 'failed: Cannot allocate memory (Media::TooComplex)'
                : `exit ${capped.returncode}`,
        });
      }
    }
  } finally {
    await clips.cleanup();
  }

  const limits = DEFAULT_CONTAINER_LIMITS;
  return {
    results,
    table: {
      title: 'Video: hostile inputs, peak RSS per tool run before and after the bounds (MiB)',
      columns: [
        'file',
        'tool',
        'before: unbounded',
        'after: processVideo',
        'after, header check bypassed: watchdog (kills at 768)',
        'after, header check bypassed: address-space cap only (1024)',
      ],
      rows: results.map((result) => [
        result.label,
        result.tool,
        String(result.beforeMb),
        `refused before any tool starts: ${result.refusal}`,
        `${result.watchdogOutcome}, peak read ${result.watchdogPeakMb ?? '?'}`,
        `${result.addressCapOutcome}, peak ${result.addressCapPeakMb}`,
      ]),
      notes: [
        `Bounds: at most ${limits.maxStreams} streams, ${limits.maxSide} px per side and ${limits.maxTotalPixels} pixels (8192×4320) in all video streams, read from the container headers; each ffprobe/ffmpeg run gets a 1024 MiB allowance (FFMPEG_MAX_MEMORY_MB): RLIMIT_AS 1024 MiB, killed by the watchdog once its VmHWM passes 768 MiB.`,
        'Before and address-space-cap columns: ru_maxrss under the rusage harness (true peaks). Watchdog column: the largest VmHWM it read (polled every 10 ms, a lower bound by construction).',
        'Under the address-space cap alone a tool whose allocations fail may still finish with partial output; the watchdog is what turns that into a readable Media::TooComplex.',
      ],
    },
  };
};
