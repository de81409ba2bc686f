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

/**
 * An uncompressed RGB TIFF laid out as ImageMagick writes it (`convert -size 300x300 gradient:red-blue
 * -compress none t.tif`): the 8-byte header, then the pixels, then the first IFD, so that the IFD sits
 * far past the prefix a magic-byte sniffer reads. A red-to-blue vertical gradient, one strip.
 */
export const makeTrailingIfdTiff = (
  width = 300,
  height = 300,
  { bigEndian = false }: { bigEndian?: boolean } = {},
): Buffer => {
  const pixelBytes = width * height * 3;
  const ifdOffset = 8 + pixelBytes + (pixelBytes % 2); // IFDs start on a word boundary
  // [tag, type (3 SHORT, 4 LONG), count, value or offset]; BitsPerSample's three SHORTs follow the IFD.
  const entries: [number, number, number, number][] = [
    [256, 4, 1, width], // ImageWidth
    [257, 4, 1, height], // ImageLength
    [258, 3, 3, 0], // BitsPerSample: 8, 8, 8 (at bitsOffset)
    [259, 3, 1, 1], // Compression: none
    [262, 3, 1, 2], // PhotometricInterpretation: RGB
    [273, 4, 1, 8], // StripOffsets
    [277, 3, 1, 3], // SamplesPerPixel
    [278, 4, 1, height], // RowsPerStrip
    [279, 4, 1, pixelBytes], // StripByteCounts
    [284, 3, 1, 1], // PlanarConfiguration: chunky
  ];
  const ifdLength = 2 + entries.length * 12 + 4;
  const bitsOffset = ifdOffset + ifdLength;
  const file = Buffer.alloc(bitsOffset + 6);
  const u16 = (value: number, at: number) =>
    bigEndian ? file.writeUInt16BE(value, at) : file.writeUInt16LE(value, at);
  const u32 = (value: number, at: number) =>
    bigEndian ? file.writeUInt32BE(value, at) : file.writeUInt32LE(value, at);

  file.write(bigEndian ? 'MM' : 'II', 0, 'latin1');
  u16(42, 2);
  u32(ifdOffset, 4);
  for (let y = 0; y < height; y++) {
    const red = Math.round(255 * (1 - y / Math.max(1, height - 1)));
    for (let x = 0; x < width; x++) file.set([red, 0, 255 - red], 8 + (y * width + x) * 3);
  }
  u16(entries.length, ifdOffset);
  entries.forEach(([tag, type, count, value], index) => {
    const at = ifdOffset + 2 + index * 12;
    u16(tag, at);
    u16(type, at + 2);
    u32(count, at + 4);
    if (tag === 258) u32(bitsOffset, at + 8);
    // A SHORT value sits in the first two bytes of the value field, whatever the byte order.
    else if (type === 3) u16(value, at + 8);
    else u32(value, at + 8);
  });
  u32(0, ifdOffset + 2 + entries.length * 12); // no next IFD
  for (let sample = 0; sample < 3; sample++) u16(8, bitsOffset + sample * 2);
  return file;
};
