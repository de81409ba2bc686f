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
