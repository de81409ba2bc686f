import { PermanentMediaError } from '#shared/errors';
import type { PosterSpec } from '#shared/presets';
import { memoryCeiling } from './child-memory.ts';
import {
  BinaryExitError,
  BinaryTimeoutError,
  DECODE_BOUND_ARGS,
  FFMPEG_BASE_ARGS,
  hardenedInputArgs,
  outOfMemoryError,
  runBinary,
  summariseStderr,
  unsupportedFormatError,
} from './run-binary.ts';

export interface ExtractPosterOptions {
  ffmpegPath: string;
  /** The video's duration in seconds (from `probeVideo`), used to clamp the seek. */
  duration: number;
  /** Budget for the whole extraction, a retry from the first frame included. */
  timeoutMs: number;
  /** Aborting kills ffmpeg and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** ffmpeg's memory allowance (see memoryCeiling in run-binary.ts); unbounded without. */
  memoryLimitBytes?: number;
}

export interface ExtractedPoster {
  data: Buffer;
  width: number;
  height: number;
  format: PosterSpec['format'];
  contentType: 'image/jpeg' | 'image/webp';
  extension: 'jpg' | 'webp';
  /** The second the frame was taken from, after clamping (0 when it fell back to the first frame). */
  at_second: number;
}

/**
 * How far before the end a clamped seek lands. A container's duration is its longest stream's,
 * so the last video frame can sit well before it (audio often runs on), and an exact seek past
 * the last frame yields no frame at all. Half a second keeps clear of that in common files; the
 * first-frame retry below covers the rest.
 */
const END_MARGIN_SECONDS = 0.5;

/** JPEG posters can be large for a 4096 px wide preset at top quality; anything beyond is not a poster. */
const MAX_POSTER_BYTES = 32 * 1024 * 1024;

/**
 * The second to seek to: the preset's, but never later than {@link END_MARGIN_SECONDS} before the
 * end, and for clips shorter than a second, never later than their middle. An unknown (NaN) or
 * infinite duration clamps nothing.
 */
export const clampPosterSecond = (requested: number, duration: number): number => {
  const wanted = toMillisecond(Math.max(0, requested));
  if (!(duration > 0) || !Number.isFinite(duration)) return wanted;
  const latest = duration - Math.min(END_MARGIN_SECONDS, duration / 2);
  return toMillisecond(Math.min(wanted, latest));
};

/** Seeks are passed to ffmpeg with three decimals: rounded down, never past the clamp. */
const toMillisecond = (seconds: number): number => Math.floor(seconds * 1000) / 1000;

/**
 * The preset's 1–100 quality as mjpeg's qscale (1 best … 31 worst). FFmpeg's mjpeg encoder
 * quantises with the MPEG-1 intra matrix times qscale/8, not libjpeg's tables, so libjpeg
 * qualities do not carry over by formula; `(100 - quality) / 2` was calibrated on 1280 px frames
 * against sharp (libjpeg-turbo) output of the same size: 85 → 8, 90 → 5, 95 → 3, 75 → 13.
 */
export const mjpegQscale = (quality: number): number =>
  Math.min(31, Math.max(1, Math.round((100 - quality) / 2)));

const encoderArgs = (poster: PosterSpec): string[] =>
  poster.format === 'webp'
    ? ['-c:v', 'libwebp', '-quality', String(poster.quality)]
    : ['-c:v', 'mjpeg', '-qmin', '1', '-q:v', String(mjpegQscale(poster.quality))];

/**
 * Scale to the preset width in display pixels (sample aspect ratio applied, so anamorphic video
 * comes out undistorted) without ever enlarging, with an even height. ffmpeg has already applied
 * the rotation of portrait phone videos (autorotate) when this filter runs.
 */
const scaleFilter = (width: number): string =>
  `scale=w=min(${width}\\,round(iw*sar)):h=max(2\\,trunc(ow/dar/2)*2),setsar=1`;

export const posterArgs = (path: string, poster: PosterSpec, atSecond: number): string[] => {
  const input = hardenedInputArgs(path);
  return [
    ...FFMPEG_BASE_ARGS,
    ...DECODE_BOUND_ARGS,
    ...input.options,
    // Two decoder threads, not one per core plus one: each frame thread holds its own frames (a
    // 7680×4320 poster run peaked at 362 MB with the default, 265 MB with two), and Lambda's
    // 3008 MB function has two vCPUs anyway.
    '-threads',
    '2',
    // Input seeking: jump to the keyframe before the position and decode from there, instead of
    // decoding everything from the start (output seeking).
    ...(atSecond > 0 ? ['-ss', atSecond.toFixed(3)] : []),
    '-i',
    input.url,
    // V (not v): the first video stream that is not cover art.
    '-map',
    '0:V:0',
    '-frames:v',
    '1',
    '-vf',
    scaleFilter(poster.width),
    ...encoderArgs(poster),
    '-f',
    'image2pipe',
    'pipe:1',
  ];
};

/** Width and height from a JPEG's SOF segment or a WebP's VP8/VP8L/VP8X header. */
export const imageDimensions = (
  data: Buffer,
  format: PosterSpec['format'],
): { width: number; height: number } | undefined => {
  if (format === 'jpeg') {
    if (data[0] !== 0xff || data[1] !== 0xd8) return undefined;
    let offset = 2;
    while (offset + 9 < data.length) {
      if (data[offset] !== 0xff) return undefined;
      const marker = data[offset + 1] as number;
      if (marker === 0xff) {
        offset += 1;
        continue;
      }
      const length = data.readUInt16BE(offset + 2);
      const isStartOfFrame = marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker);
      if (isStartOfFrame) {
        return { height: data.readUInt16BE(offset + 5), width: data.readUInt16BE(offset + 7) };
      }
      offset += 2 + length;
    }
    return undefined;
  }
  if (
    data.length < 30 ||
    data.toString('latin1', 0, 4) !== 'RIFF' ||
    data.toString('latin1', 8, 12) !== 'WEBP'
  ) {
    return undefined;
  }
  const chunk = data.toString('latin1', 12, 16);
  if (chunk === 'VP8 ') {
    return { width: data.readUInt16LE(26) & 0x3fff, height: data.readUInt16LE(28) & 0x3fff };
  }
  if (chunk === 'VP8L') {
    const bits = data.readUInt32LE(21);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8X') {
    return { width: data.readUIntLE(24, 3) + 1, height: data.readUIntLE(27, 3) + 1 };
  }
  return undefined;
};

const decodeFailure = (error: unknown, path: string, atSecond: number): unknown => {
  if (!(error instanceof BinaryExitError)) return error;
  const exhausted = outOfMemoryError(error);
  if (exhausted) return exhausted;
  if (error.signal !== null) return error;
  const refused = unsupportedFormatError(error);
  if (refused) return refused;
  const reason = summariseStderr(error.stderrTail, path);
  return new PermanentMediaError(
    'Media::Corrupt',
    `no poster frame could be decoded at ${atSecond} s${reason ? ` (${reason})` : ''}`,
    { cause: error },
  );
};

/**
 * Takes one frame at the preset's second (clamped to the video), scales it to the preset width
 * and encodes it as JPEG or WebP, all in one ffmpeg run that writes the image to stdout. When
 * the seek lands after the last video frame ffmpeg succeeds with no output; the first frame is
 * taken instead. Throws PermanentMediaError `Media::Corrupt` when no frame can be decoded;
 * timeouts and crashes are rethrown for a retry.
 */
export const extractPoster = async (
  path: string,
  poster: PosterSpec,
  options: ExtractPosterOptions,
): Promise<ExtractedPoster> => {
  const deadline = Date.now() + options.timeoutMs;
  const attempts = [...new Set([clampPosterSecond(poster.at_second, options.duration), 0])];

  for (const atSecond of attempts) {
    const timeoutMs = deadline - Date.now();
    if (timeoutMs <= 0) throw new BinaryTimeoutError(options.ffmpegPath, options.timeoutMs, '');
    let data: Buffer;
    try {
      ({ stdout: data } = await runBinary(options.ffmpegPath, posterArgs(path, poster, atSecond), {
        timeoutMs,
        maxStdoutBytes: MAX_POSTER_BYTES,
        signal: options.signal,
        ...(options.memoryLimitBytes !== undefined
          ? { memory: memoryCeiling(options.memoryLimitBytes) }
          : {}),
      }));
    } catch (error) {
      throw decodeFailure(error, path, atSecond);
    }
    if (data.length === 0) continue;

    const dimensions = imageDimensions(data, poster.format);
    if (!dimensions) {
      throw new Error(`ffmpeg produced output that is not a ${poster.format} image`);
    }
    return {
      data,
      ...dimensions,
      format: poster.format,
      contentType: poster.format === 'webp' ? 'image/webp' : 'image/jpeg',
      extension: poster.format === 'webp' ? 'webp' : 'jpg',
      at_second: atSecond,
    };
  }
  throw new PermanentMediaError('Media::Corrupt', 'the video has no decodable frame for a poster');
};
