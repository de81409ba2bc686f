import { open } from 'node:fs/promises';
import { z } from 'zod';
import { PermanentMediaError } from '#shared/errors';
import { memoryCeiling } from './child-memory.ts';
import {
  assertWithinContainerLimits,
  type ContainerHeaders,
  type ContainerLimits,
  readContainerHeaders,
} from './container-headers.ts';
import {
  BinaryExitError,
  BinaryOutputTooLargeError,
  DECODE_BOUND_ARGS,
  FFPROBE_BASE_ARGS,
  hardenedInputArgs,
  outOfMemoryError,
  runBinary,
  summariseStderr,
  unsupportedFormatError,
} from './run-binary.ts';

/**
 * What the pipeline records about a video, as it goes into the job's `result` (hence snake_case).
 * `width` and `height` are the displayed orientation: a portrait phone video stored as 1920×1080
 * with a 90° rotation (display matrix or legacy `rotate` tag) reports 1080×1920. They are the
 * stored pixel dimensions otherwise; a non-square sample aspect ratio is not applied here (the
 * poster applies it).
 */
export interface VideoMetadata {
  width: number;
  height: number;
  /**
   * Seconds: the container's, unless it claims more than twice the longest stream plus a second
   * (a patched `mvhd` or Segment `Duration`); then the stream's. See {@link realDuration}.
   */
  duration: number;
  /** ffprobe's codec name of the first video stream that is not cover art: h264, hevc, vp9, av1… */
  codec: string;
  /** Frames per second, rounded to 3 decimals (29.97); absent when the stream does not say. */
  frame_rate?: number;
  /** Overall bit rate in bits per second. */
  bitrate?: number;
  /** Codec of the first audio stream, absent when there is none. */
  audio_codec?: string;
  /** mp4, mov, 3gp, 3g2, mj2, webm or matroska. */
  container: string;
}

export interface ProbeOptions {
  ffprobePath: string;
  timeoutMs: number;
  /** ffprobe's memory allowance (see memoryCeiling in run-binary.ts); unbounded without. */
  memoryLimitBytes?: number;
  /**
   * The file's container headers when the caller has read and checked them already (undefined:
   * they could not be parsed). Without this property probeVideo reads and checks them itself.
   */
  headers?: ContainerHeaders | undefined;
  /** Stream count and dimension caps. @default DEFAULT_CONTAINER_LIMITS */
  containerLimits?: ContainerLimits;
}

// ffprobe's JSON is input from a tool that parsed an untrusted file: validate its shape, drop
// unknown keys, and treat every field as optional.
const numeric = z.union([z.string(), z.number()]).optional();
const probeStream = z.object({
  index: z.number().optional(),
  codec_type: z.string().optional(),
  codec_name: z.string().optional(),
  width: z.number().optional(),
  height: z.number().optional(),
  avg_frame_rate: z.string().optional(),
  r_frame_rate: z.string().optional(),
  duration: numeric,
  // Optional extras never make a readable video unreadable: an odd shape reads as absent.
  disposition: z.object({ attached_pic: z.number().optional() }).optional().catch(undefined),
  tags: z.record(z.string(), z.string()).optional().catch(undefined),
  side_data_list: z
    .array(z.object({ rotation: z.number().optional() }))
    .optional()
    .catch(undefined),
});
const probeOutput = z.object({
  streams: z.array(probeStream).default([]),
  format: z
    .object({
      format_name: z.string().optional(),
      duration: numeric,
      bit_rate: numeric,
      tags: z.record(z.string(), z.string()).optional().catch(undefined),
    })
    .optional(),
});
type ProbeStream = z.infer<typeof probeStream>;

const positiveNumber = (value: string | number | undefined): number | undefined => {
  if (value === undefined) return undefined;
  const parsed = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(parsed) && parsed > 0 ? parsed : undefined;
};

/** Matroska writes stream durations as tags: `00:00:03.007000000`. */
const durationTag = (tags: Record<string, string> | undefined): number | undefined => {
  const match = /^(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec(tags?.DURATION ?? '');
  if (!match) return undefined;
  return positiveNumber(Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3]));
};

const frameRate = (ratio: string | undefined): number | undefined => {
  const match = /^(\d+)\/(\d+)$/.exec(ratio ?? '');
  if (!match) return undefined;
  const rate = Number(match[1]) / Number(match[2]);
  return Number.isFinite(rate) && rate > 0 ? Math.round(rate * 1000) / 1000 : undefined;
};

/** Degrees from the display matrix (ffprobe ≥ 5) or the legacy `rotate` tag (older ffprobe). */
const rotationOf = (stream: ProbeStream): number => {
  const fromMatrix = stream.side_data_list?.find((entry) => entry.rotation !== undefined)?.rotation;
  const degrees = fromMatrix ?? Number(stream.tags?.rotate ?? 0);
  return Number.isFinite(degrees) ? degrees : 0;
};

/**
 * ffprobe names the demuxer (`mov,mp4,m4a,3gp,3g2,mj2`, `matroska,webm`), not the file type:
 * the MP4 family is told apart by its `ftyp` major brand and Matroska from WebM by the EBML
 * DocType, read from the first bytes of the file.
 */
const containerOf = async (path: string, formatName: string, tags: Record<string, string> | undefined) => {
  if (formatName.split(',').includes('matroska')) {
    return (await readDocType(path)) === 'webm' ? 'webm' : 'matroska';
  }
  const brand = (tags?.major_brand ?? '').trim().toLowerCase();
  if (brand === '' || brand === 'qt') return 'mov';
  if (brand.startsWith('3g2')) return '3g2';
  if (brand.startsWith('3g')) return '3gp';
  if (brand.startsWith('mj')) return 'mj2';
  return 'mp4';
};

const EBML_DOCTYPE_ID = Buffer.from([0x42, 0x82]);

const readDocType = async (path: string): Promise<string | undefined> => {
  const handle = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(64), 0, 64, 0);
    const header = buffer.subarray(0, bytesRead);
    const at = header.indexOf(EBML_DOCTYPE_ID);
    const sizeByte = header[at + 2];
    // A one-byte EBML size (0x80 | length) is what every muxer writes for "webm"/"matroska".
    if (at < 0 || sizeByte === undefined || (sizeByte & 0x80) === 0) return undefined;
    const length = sizeByte & 0x7f;
    return header.subarray(at + 3, at + 3 + length).toString('latin1');
  } finally {
    await handle.close();
  }
};

const probeFailure = (error: unknown, path: string): unknown => {
  if (error instanceof BinaryExitError) {
    const exhausted = outOfMemoryError(error);
    if (exhausted) return exhausted;
  }
  if (error instanceof BinaryOutputTooLargeError) {
    // Only a file with absurdly many streams or huge metadata tags makes ffprobe say this much.
    return new PermanentMediaError('Media::Corrupt', 'the file carries too much metadata to be a video', {
      cause: error,
    });
  }
  if (!(error instanceof BinaryExitError) || error.signal !== null) return error;
  const refused = unsupportedFormatError(error);
  if (refused) return refused;
  const reason = summariseStderr(error.stderrTail, path);
  return new PermanentMediaError(
    'Media::Corrupt',
    `the file could not be read as a video${reason ? ` (${reason})` : ''}`,
    { cause: error },
  );
};

/** ffprobe's arguments for one local file: the container and every stream, as JSON. */
export const probeArgs = (path: string): string[] => {
  const input = hardenedInputArgs(path);
  return [
    ...FFPROBE_BASE_ARGS,
    ...DECODE_BOUND_ARGS,
    // ffprobe decodes a few frames of each stream to fill in what headers leave out: one thread each.
    ...['-threads', '1'],
    ...input.options,
    ...['-show_format', '-show_streams', '-of', 'json', input.url],
  ];
};

/**
 * The duration to report and to check the cap against. A container's own claim (`mvhd`, Matroska's
 * Segment `Duration`) is a header field anyone can patch: a 3 s WebM whose Segment says 3000 s
 * probes as 3000 s. When the container claims more than twice the longest stream plus a second,
 * the stream wins: the MP4 sample tables' span (`stts`, where the packets end), else ffprobe's
 * stream durations (Matroska's per-track `DURATION` tags, which FFmpeg's muxer writes from the
 * packets). Audio running on past the video stays within that margin, so it still counts. A
 * container claiming less than its streams loses too, so no header shortens a video under the cap.
 */
export const realDuration = (
  container: number | undefined,
  streams: readonly (number | undefined)[],
  sampleDuration: number | undefined,
): number | undefined => {
  const known = streams.filter((value): value is number => value !== undefined);
  const stream = sampleDuration ?? (known.length > 0 ? Math.max(...known) : undefined);
  if (container === undefined || stream === undefined) return container ?? stream;
  if (container > 2 * stream + 1) return stream;
  // A container claiming less than its streams hold (a 3 h clip whose mvhd says 3 s) is not believed
  // either: the duration cap is checked against the longer of the two.
  return Math.max(container, stream);
};

/**
 * Reads a local video's metadata with ffprobe's JSON output. Throws PermanentMediaError with
 * `Media::Corrupt` when the file cannot be parsed (or has no usable duration or dimensions),
 * `Media::UnsupportedFormat` when it is a container outside the allow-list (playlists included),
 * and `Media::NoVideoStream` when it holds no picture stream (audio only, or only cover art).
 * A timeout or a crash of ffprobe is rethrown as is, so the job can be retried.
 */
export const probeVideo = async (path: string, options: ProbeOptions): Promise<VideoMetadata> => {
  let headers = options.headers;
  if (!('headers' in options)) {
    headers = await readContainerHeaders(path);
    if (headers) assertWithinContainerLimits(headers, options.containerLimits);
  }
  let stdout: Buffer;
  try {
    ({ stdout } = await runBinary(options.ffprobePath, probeArgs(path), {
      timeoutMs: options.timeoutMs,
      ...(options.memoryLimitBytes !== undefined ? { memory: memoryCeiling(options.memoryLimitBytes) } : {}),
    }));
  } catch (error) {
    throw probeFailure(error, path);
  }

  let json: unknown;
  try {
    json = JSON.parse(stdout.toString('utf8'));
  } catch (cause) {
    throw new PermanentMediaError('Media::Corrupt', 'the file could not be read as a video', { cause });
  }
  const parsed = probeOutput.safeParse(json);
  const formatName = parsed.success ? parsed.data.format?.format_name : undefined;
  if (!parsed.success || !formatName) {
    throw new PermanentMediaError('Media::Corrupt', 'the file could not be read as a video');
  }
  const { streams, format } = parsed.data;

  const video = streams.find(
    (stream) => stream.codec_type === 'video' && stream.disposition?.attached_pic !== 1,
  );
  if (!video) {
    throw new PermanentMediaError(
      'Media::NoVideoStream',
      'the file has no video stream (audio only or cover art only)',
    );
  }
  const width = positiveNumber(video.width);
  const height = positiveNumber(video.height);
  if (!video.codec_name || width === undefined || height === undefined) {
    throw new PermanentMediaError('Media::Corrupt', 'the video stream has no decodable codec or dimensions');
  }
  const duration = realDuration(
    positiveNumber(format?.duration),
    streams
      .filter((stream) => stream.disposition?.attached_pic !== 1)
      .map((stream) => positiveNumber(stream.duration) ?? durationTag(stream.tags)),
    headers?.sampleDuration,
  );
  if (duration === undefined) {
    throw new PermanentMediaError('Media::Corrupt', 'the duration of the video could not be determined');
  }

  const quarterTurns = Math.round(rotationOf(video) / 90);
  const sideways = Math.abs(quarterTurns) % 2 === 1;
  const audio = streams.find((stream) => stream.codec_type === 'audio' && stream.codec_name);

  const metadata: VideoMetadata = {
    width: sideways ? height : width,
    height: sideways ? width : height,
    duration,
    codec: video.codec_name,
    container: await containerOf(path, formatName, format?.tags),
  };
  const fps = frameRate(video.avg_frame_rate) ?? frameRate(video.r_frame_rate);
  if (fps !== undefined) metadata.frame_rate = fps;
  const bitrate = positiveNumber(format?.bit_rate);
  if (bitrate !== undefined) metadata.bitrate = Math.round(bitrate);
  if (audio?.codec_name) metadata.audio_codec = audio.codec_name;
  return metadata;
};
