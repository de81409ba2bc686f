import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';

const require = createRequire(import.meta.url);
export const ffmpegPath: string = require('@ffmpeg-installer/ffmpeg').path;
export const ffprobePath: string = require('@ffprobe-installer/ffprobe').path;

/**
 * A photographic-ish JPEG (noise over a gradient, so it compresses like a photo and not like a flat
 * colour). `seed` changes the bytes, so that two calls with different seeds are different files.
 */
export const makeJpeg = async (width: number, height: number, seed = 0): Promise<Buffer> => {
  const noise = await sharp({
    create: {
      width,
      height,
      channels: 3,
      background: { r: 0, g: 0, b: 0 },
      noise: { type: 'gaussian', mean: 128 + (seed % 50), sigma: 40 },
    },
  })
    .png()
    .toBuffer();
  return sharp(noise).jpeg({ quality: 85 }).toBuffer();
};

export const makePng = async (width: number, height: number, alpha = true): Promise<Buffer> =>
  sharp({
    create: {
      width,
      height,
      channels: alpha ? 4 : 3,
      background: { r: 200, g: 30, b: 90, alpha: alpha ? 0.5 : 1 },
    },
  })
    .png()
    .toBuffer();

/**
 * An H.264 + AAC MP4 made by the same ffmpeg build the video function ships. With `bitrateMbps` the
 * video is constant-bitrate, padded with filler data, so the file has about `seconds × bitrateMbps / 8`
 * MB whatever the picture: a quick way to a large file (32 Mbit/s for 4 s is about 16 MB in 0.7 s).
 */
export const makeMp4 = async (
  seconds: number,
  size = '320x240',
  options: { bitrateMbps?: number } = {},
): Promise<Buffer> => {
  const rate = options.bitrateMbps ? `${options.bitrateMbps}M` : undefined;
  const constantBitrate = rate
    ? ['-b:v', rate, '-minrate', rate, '-maxrate', rate, '-bufsize', rate, '-x264-params', 'nal-hrd=cbr']
    : [];
  const dir = await mkdtemp(join(tmpdir(), 'media-'));
  const out = join(dir, 'clip.mp4');
  try {
    await promisify(execFile)(ffmpegPath, [
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      'lavfi',
      '-i',
      `testsrc2=size=${size}:rate=25:duration=${seconds}`,
      '-f',
      'lavfi',
      '-i',
      `sine=frequency=440:duration=${seconds}`,
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-pix_fmt',
      'yuv420p',
      ...constantBitrate,
      '-c:a',
      'aac',
      '-shortest',
      '-movflags',
      '+faststart',
      out,
    ]);
    return await readFile(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

/** Containers the video function takes, as ffmpeg's muxers name them. */
export type VideoContainer = 'mp4' | 'mov' | 'matroska' | 'webm';

/**
 * A short testsrc2 clip in `container`, with the codec a real file of that kind carries: H.264 in
 * MP4, QuickTime and Matroska (`-f mov` writes the `qt  ` brand, `-f matroska` the "matroska" EBML
 * doc type), VP8 in WebM (VP9 works too and takes three times as long to encode).
 */
export const makeClip = async (
  container: VideoContainer,
  { seconds = 2, size = '160x120' } = {},
): Promise<Buffer> => {
  const codec =
    container === 'webm'
      ? ['-c:v', 'libvpx', '-b:v', '200k']
      : ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'];
  const dir = await mkdtemp(join(tmpdir(), 'media-'));
  const out = join(dir, `clip.${container}`);
  try {
    await promisify(execFile)(ffmpegPath, [
      '-hide_banner',
      '-nostdin',
      '-loglevel',
      'error',
      '-f',
      'lavfi',
      '-i',
      `testsrc2=size=${size}:rate=10:duration=${seconds}`,
      ...codec,
      '-f',
      container,
      out,
    ]);
    return await readFile(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

/** Still-image formats sharp writes, as the media types presets accept. */
export const SHARP_IMAGE_TYPES = {
  'image/jpeg': 'jpeg',
  'image/png': 'png',
  'image/webp': 'webp',
  'image/avif': 'avif',
  'image/gif': 'gif',
  'image/tiff': 'tiff',
} as const;

/** A small picture (a gradient, so encoders have something to do) in any format sharp writes. */
export const makeImage = async (
  type: keyof typeof SHARP_IMAGE_TYPES,
  width = 96,
  height = 64,
): Promise<Buffer> => {
  const gradient = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      gradient.set([Math.round((255 * x) / width), 64, Math.round((255 * y) / height)], (y * width + x) * 3);
    }
  }
  return sharp(gradient, { raw: { width, height, channels: 3 } })
    .toFormat(SHARP_IMAGE_TYPES[type])
    .toBuffer();
};

/**
 * Whether the libvips in sharp decodes HEIC (HEVC-coded HEIF). sharp's prebuilt libvips reads only the
 * AV1 flavour of HEIF (AVIF): its heif loader lists `.avif` alone, and writing HEVC fails
 * "Unsupported compression". `undefined` when it does; otherwise the reason, for a skipped test.
 */
export const heicUnsupportedReason = (): string | undefined => {
  const suffixes: readonly string[] = sharp.format.heif?.input.fileSuffix ?? [];
  return suffixes.includes('.heic')
    ? undefined
    : `sharp ${sharp.versions.sharp}'s libvips ${sharp.versions.vips} reads HEIF only as ${suffixes.join(', ') || 'nothing'} (no HEVC decoder), so HEIC is not accepted and cannot be made here`;
};
