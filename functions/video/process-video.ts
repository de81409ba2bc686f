import { PermanentMediaError } from '../shared/errors.ts';
import type { PosterSpec } from '../shared/presets.ts';
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
}

export interface ProcessedVideo {
  metadata: VideoMetadata;
  poster: ExtractedPoster;
}

const formatSeconds = (seconds: number): string => `${Number(seconds.toFixed(2))} s`;

/**
 * Probes a local video, refuses it when it runs longer than the cap (`Media::TooLong`), and
 * extracts its poster. Every refusal is a PermanentMediaError; timeouts and tool crashes are
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
  const early = new AbortController();
  const earlyPoster = extractPoster(path, poster, {
    ffmpegPath: options.ffmpegPath,
    duration: Number.POSITIVE_INFINITY,
    timeoutMs: options.timeoutMs,
    signal: early.signal,
  });
  // Settled either way below; until then a rejection must not count as unhandled.
  earlyPoster.catch(() => undefined);

  let metadata: VideoMetadata;
  try {
    metadata = await probeVideo(path, { ffprobePath: options.ffprobePath, timeoutMs: options.timeoutMs });
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
  });
  return { metadata, poster: extracted };
};
