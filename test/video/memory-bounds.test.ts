import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentMediaError } from '../../functions/shared/errors.ts';
import { findPreset, type PosterSpec } from '../../functions/shared/presets.ts';
import { MEMORY_POLL_MS, memoryCeiling } from '../../functions/video/child-memory.ts';
import { posterArgs } from '../../functions/video/extract-poster.ts';
import { probeArgs, probeVideo } from '../../functions/video/probe-video.ts';
import { processVideo } from '../../functions/video/process-video.ts';
import { BinaryMemoryExceededError, type BinaryResult, runBinary } from '../../functions/video/run-binary.ts';
import { ffmpegPath, ffprobePath } from './clips.ts';
import { type HostileClip, type HostileClipSet, makeHostileClips } from './hostile-clips.ts';

/**
 * Issue 9, item 6: no input pushes one ffprobe or ffmpeg past 1 GiB. The hostile files are run
 * through the real probe and poster command lines with the container-header check bypassed, so
 * that only the memory ceiling stands between them and the 3.9 GB (ffprobe) and 3.8 GB (ffmpeg)
 * the 24-stream file reached unbounded. Peaks are the watchdog's VmHWM readings, logged for the
 * record; the assertions are memory bounds, not time bounds.
 */
const GIB = 1024 * 1024 * 1024;
const MIB = 1024 * 1024;
const ALLOWANCE = GIB;
const bounds = memoryCeiling(ALLOWANCE);
const WATCHDOG_KILL = bounds.maxRssBytes ?? 0;

const poster: PosterSpec = (() => {
  const spec = findPreset('default')?.video?.poster;
  if (!spec) throw new Error('the default preset has no poster');
  return spec;
})();

const peaks: string[] = [];
const record = (label: string, peak: number | undefined, outcome: string) => {
  peaks.push(`${label}: peak ${peak === undefined ? '?' : Math.round(peak / MIB)} MiB, ${outcome}`);
};

const outcomeOf = async (
  label: string,
  run: Promise<BinaryResult>,
): Promise<{ peak: number; error?: unknown }> => {
  try {
    const result = await run;
    record(label, result.peakRssBytes, 'completed');
    return { peak: result.peakRssBytes ?? 0 };
  } catch (error) {
    const peak = error instanceof BinaryMemoryExceededError ? error.peakRssBytes : 0;
    record(label, peak, error instanceof Error ? `${error.name}: ${error.message}` : 'failed');
    return { peak, error };
  }
};

describe('memory ceiling on ffprobe and ffmpeg', () => {
  let clips: HostileClipSet;
  beforeAll(async () => {
    clips = await makeHostileClips(['huge-24.mp4', 'tiny-1000.mp4', 'hd-2s.mp4']);
  });
  afterAll(async () => {
    await clips?.cleanup();
    console.info(`peak RSS under a ${ALLOWANCE / MIB} MiB allowance:\n  ${peaks.join('\n  ')}`);
  });

  it.each([
    ['huge-24.mp4', 'ffprobe'],
    ['huge-24.mp4', 'ffmpeg'],
    ['tiny-1000.mp4', 'ffprobe'],
  ] as const)('stops %s in %s with Media::TooComplex below 1 GiB', async (name, tool) => {
    // Prepare
    const path = clips.path(name as HostileClip);
    const [binary, args] =
      tool === 'ffprobe' ? [ffprobePath, probeArgs(path)] : [ffmpegPath, posterArgs(path, poster, 1)];

    // Act
    const { peak, error } = await outcomeOf(
      `${name} ${tool}`,
      runBinary(binary, args, { timeoutMs: 120_000, memory: bounds }),
    );

    // Assess
    expect(error).toBeInstanceOf(BinaryMemoryExceededError);
    expect(error).toBeInstanceOf(PermanentMediaError);
    expect(error).toMatchObject({
      code: 'Media::TooComplex',
      message: `${tool} used more than 768 MiB of memory on this file and was stopped; the limit is 768 MiB`,
    });
    expect(peak).toBeGreaterThan(WATCHDOG_KILL);
    expect(peak).toBeLessThan(ALLOWANCE);
  });

  it('lets the poster run of 1000 tiny streams finish under the watchdog (it peaks near 600 MB)', async () => {
    // Act
    const { peak, error } = await outcomeOf(
      'tiny-1000.mp4 ffmpeg',
      runBinary(ffmpegPath, posterArgs(clips.path('tiny-1000.mp4'), poster, 0), {
        timeoutMs: 120_000,
        maxStdoutBytes: 32 * MIB,
        memory: bounds,
      }),
    );

    // Assess: it finished, its peak measured and below the point where the watchdog would stop it
    expect(error).toBeUndefined();
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThan(WATCHDOG_KILL);
  });

  it('holds ffprobe below the address-space cap alone, without the watchdog killing it', async () => {
    // Act: the hard cap only (the watchdog still reads the peak but kills nothing).
    const { peak } = await outcomeOf(
      'huge-24.mp4 ffprobe, RLIMIT_AS only',
      runBinary(ffprobePath, probeArgs(clips.path('huge-24.mp4')), {
        timeoutMs: 120_000,
        memory: { maxAddressSpaceBytes: ALLOWANCE },
      }),
    );

    // Assess
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThan(ALLOWANCE);
  });

  it('refuses the hostile files from their headers before either tool starts', async () => {
    // Act
    const errors = await Promise.all(
      (['huge-24.mp4', 'tiny-1000.mp4'] as const).map((name) =>
        processVideo(clips.path(name), poster, {
          ffmpegPath,
          ffprobePath,
          maxDurationSeconds: 3600,
          timeoutMs: 60_000,
          memoryLimitBytes: ALLOWANCE,
        }).catch((caught: unknown) => caught),
      ),
    );

    // Assess
    expect(errors).toEqual([
      expect.objectContaining({
        code: 'Media::TooComplex',
        message: 'the file has 24 streams; the limit is 16',
      }),
      expect.objectContaining({
        code: 'Media::TooComplex',
        message: 'the file has 1000 streams; the limit is 16',
      }),
    ]);
  });

  it('still processes a 1080p clip under the same allowance, far below it', async () => {
    // Act
    const { metadata, poster: extracted } = await processVideo(clips.path('hd-2s.mp4'), poster, {
      ffmpegPath,
      ffprobePath,
      maxDurationSeconds: 3600,
      timeoutMs: 60_000,
      memoryLimitBytes: ALLOWANCE,
    });
    const probed = await outcomeOf(
      'hd-2s.mp4 ffprobe',
      runBinary(ffprobePath, probeArgs(clips.path('hd-2s.mp4')), { timeoutMs: 60_000, memory: bounds }),
    );
    const posterRun = await outcomeOf(
      'hd-2s.mp4 ffmpeg',
      runBinary(ffmpegPath, posterArgs(clips.path('hd-2s.mp4'), poster, 1), {
        timeoutMs: 60_000,
        maxStdoutBytes: 32 * MIB,
        memory: bounds,
      }),
    );

    // Assess
    expect(metadata).toMatchObject({ width: 1920, height: 1080, codec: 'h264' });
    expect(extracted).toMatchObject({ width: 1280, height: 720 });
    expect(probed.error).toBeUndefined();
    expect(posterRun.error).toBeUndefined();
    expect(probed.peak).toBeLessThan(256 * MIB);
    expect(posterRun.peak).toBeLessThan(256 * MIB);
  });

  it('probes with the allowance through probeVideo, reporting a readable error for the hostile file', async () => {
    // Act: the header check is skipped by saying the headers were unreadable.
    const error = await probeVideo(clips.path('huge-24.mp4'), {
      ffprobePath,
      timeoutMs: 120_000,
      memoryLimitBytes: ALLOWANCE,
      headers: undefined,
    }).catch((caught: unknown) => caught);

    // Assess
    expect(error).toMatchObject({
      code: 'Media::TooComplex',
      message: expect.stringMatching(/^ffprobe used more than 768 MiB/),
    });
  });
});

describe('the memory watchdog', () => {
  it(`kills a child whose resident set passes its limit, polling every ${MEMORY_POLL_MS} ms`, async () => {
    // Prepare: node, touching 16 MB more every millisecond or so, without end.
    const grow = 'const kept=[];setInterval(()=>kept.push(Buffer.alloc(16*1024*1024,1)),1)';

    // Act
    const error = await runBinary(process.execPath, ['-e', grow], {
      timeoutMs: 60_000,
      memory: { maxRssBytes: 128 * MIB },
    }).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(BinaryMemoryExceededError);
    expect(error).toMatchObject({
      code: 'Media::TooComplex',
      message: 'node used more than 128 MiB of memory on this file and was stopped; the limit is 128 MiB',
    });
    expect((error as BinaryMemoryExceededError).peakRssBytes).toBeLessThan(512 * MIB);
  });

  it('sets RLIMIT_AS through the shell', async () => {
    // Act: cat reads its own limits.
    const { stdout } = await runBinary('/bin/cat', ['/proc/self/limits'], {
      timeoutMs: 10_000,
      memory: { maxAddressSpaceBytes: 512 * MIB },
    });

    // Assess
    expect(stdout.toString()).toMatch(/^Max address space\s+536870912\s+536870912\s+bytes/m);
  });

  it('passes the binary and its arguments through the shell as they are', async () => {
    // Prepare
    const hostile = '$(touch /tmp/pwned); `id`; "$0" $1 \\';

    // Act
    const { stdout } = await runBinary('/bin/echo', [hostile, '-n'], {
      timeoutMs: 10_000,
      memory: { maxAddressSpaceBytes: 512 * MIB },
    });

    // Assess
    expect(stdout.toString()).toBe(`${hostile} -n\n`);
  });

  it('reports a missing binary as unavailable, even through the shell', async () => {
    // Act
    const error = await runBinary('/nonexistent/ffprobe', ['-version'], {
      timeoutMs: 10_000,
      memory: bounds,
    }).catch((caught: unknown) => caught);

    // Assess
    expect(error).toMatchObject({
      code: 'Media::ToolUnavailable',
      message: 'could not start ffprobe (ENOENT)',
    });
  });
});
