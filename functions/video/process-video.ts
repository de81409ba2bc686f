import { PermanentMediaError } from '#shared/errors';
import type { PosterSpec } from '#shared/presets';
import {
  assertWithinContainerLimits,
  type ContainerLimits,
  readContainerHeaders,
} from './container-headers.ts';
import { clampPosterSecond, type ExtractedPoster, extractPoster } from './extract-poster.ts';
import { probeVideo, type VideoMetadata } from './probe-video.ts';
import { BinaryTimeoutError } from './run-binary.ts';

export interface ProcessVideoOptions {
  ffmpegPath: string;
  ffprobePath: string;
  /** The preset limits' `video_max_duration_seconds`. */
  maxDurationSeconds: number;
  /** Budget for probe and poster together: the poster gets whatever the probe left over. */
  timeoutMs: number;
  /**
   * Memory allowance of each ffprobe and ffmpeg run (two run alongside): see memoryCeiling in
   * run-binary.ts. Unbounded without.
   */
  memoryLimitBytes?: number;
  /** Stream count and dimension caps checked on the container headers. @default DEFAULT_CONTAINER_LIMITS */
  containerLimits?: ContainerLimits;
}

export interface ProcessedVideo {
  metadata: VideoMetadata;
  poster: ExtractedPoster;
}

const formatSeconds = (seconds: number): string => `${Number(seconds.toFixed(2))} s`;

/**
 * Reads the container headers and refuses a file with too many streams or too large a picture
 * (`Media::TooComplex`) before any decoder opens, probes it, refuses it when it runs longer than the
 * cap (`Media::TooLong`, against the real duration, not a patched header's), and extracts its poster. Every refusal is a PermanentMediaError; timeouts and tool crashes are
 * not, so the message can be retried.
 *
 * The poster run starts alongside the probe instead of after it: the duration only matters when
 * the clip ends before the preset's second, and then the early run is killed and the poster
 * taken again at the clamped second. A probe refusal (no video stream, too long, not a video)
 * kills the early run and wins over whatever it would have said.
 */
export const processVideo = async (
  path: string,
  poster: PosterSpec,
  options: ProcessVideoOptions,
): Promise<ProcessedVideo> => {
  const deadline = Date.now() + options.timeoutMs;
  // Before either tool starts: both open a decoder per stream while they probe.
  const headers = await readContainerHeaders(path);
  if (headers) assertWithinContainerLimits(headers, options.containerLimits);
  const memory = options.memoryLimitBytes !== undefined ? { memoryLimitBytes: options.memoryLimitBytes } : {};

  const early = new AbortController();
  const earlyPoster = extractPoster(path, poster, {
    ffmpegPath: options.ffmpegPath,
    duration: Number.POSITIVE_INFINITY,
    timeoutMs: options.timeoutMs,
    signal: early.signal,
    ...memory,
  });
  // Settled either way below; until then a rejection must not count as unhandled.
  earlyPoster.catch(() => undefined);

  let metadata: VideoMetadata;
  try {
    metadata = await probeVideo(path, {
      ffprobePath: options.ffprobePath,
      timeoutMs: Math.max(1, deadline - Date.now()),
      headers,
      ...memory,
    });
    if (metadata.duration > options.maxDurationSeconds) {
      throw new PermanentMediaError(
        'Media::TooLong',
        `the video lasts ${formatSeconds(metadata.duration)}, longer than the ${formatSeconds(options.maxDurationSeconds)} allowed`,
      );
    }
  } catch (error) {
    early.abort();
    throw error;
  }

  if (
    clampPosterSecond(poster.at_second, metadata.duration) ===
    clampPosterSecond(poster.at_second, Number.POSITIVE_INFINITY)
  ) {
    return { metadata, poster: await earlyPoster };
  }
  early.abort();
  const remainingMs = deadline - Date.now();
  if (remainingMs <= 0) throw new BinaryTimeoutError(options.ffmpegPath, options.timeoutMs, '');
  const extracted = await extractPoster(path, poster, {
    ffmpegPath: options.ffmpegPath,
    duration: metadata.duration,
    timeoutMs: remainingMs,
    ...memory,
  });
  return { metadata, poster: extracted };
};
