import { execFile } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { FFMPEG_PATH, INPUTS_DIR } from './tools.ts';

/**
 * Generated inputs, made once and kept in bench/results/inputs (a fresh clone makes them on its first
 * run). The generators are deterministic where it matters (seeded noise), and a version in every
 * file name retires old files when a generator changes.
 */
const VERSION = 'v1';

const cached = async (name: string, make: (path: string) => Promise<void>): Promise<string> => {
  await mkdir(INPUTS_DIR, { recursive: true });
  const path = join(INPUTS_DIR, name);
  if (existsSync(path)) return path;
  const partial = `${path}.partial`;
  await rm(partial, { force: true });
  await make(partial);
  await rename(partial, path);
  return path;
};

/** xorshift32: the same pixels on every machine. */
const noiseSource = (seed: number) => {
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 4294967296;
  };
  // Sum of four uniforms: close enough to a normal distribution for texture, and cheap.
  return () => (next() + next() + next() + next() - 2) * 1.732;
};

/** One channel of smooth noise: random values on a grid `cell` pixels apart, upscaled with a cubic kernel. */
const noiseLayer = async (
  width: number,
  height: number,
  cell: number,
  sigma: number,
  seed: number,
): Promise<Buffer> => {
  const gauss = noiseSource(seed);
  const gridWidth = Math.max(2, Math.ceil(width / cell));
  const gridHeight = Math.max(2, Math.ceil(height / cell));
  const grid = Buffer.alloc(gridWidth * gridHeight);
  for (let i = 0; i < grid.length; i++) grid[i] = Math.max(0, Math.min(255, 128 + gauss() * sigma));
  if (cell === 1) return grid;
  return sharp(grid, { raw: { width: gridWidth, height: gridHeight, channels: 1 } })
    .resize(width, height, { kernel: 'cubic', fit: 'fill' })
    .extractChannel(0)
    .raw()
    .toBuffer();
};

/**
 * Photo-like pixels: large soft shapes, mid-size blobs with hard edges, low-frequency colour and fine
 * grain, so that JPEG spends its bits as on a camera photo (about 0.35 bytes per pixel at quality 90)
 * rather than on flat colour (too cheap) or pure noise (far too expensive).
 */
const photoPixels = async (width: number, height: number, seed: number): Promise<Buffer> => {
  const [large, blobs, edges, grain, red, blue] = await Promise.all([
    noiseLayer(width, height, 400, 60, seed + 1),
    noiseLayer(width, height, 60, 45, seed + 2),
    noiseLayer(width, height, 25, 60, seed + 3),
    noiseLayer(width, height, 1, 8, seed + 4),
    noiseLayer(width, height, 500, 50, seed + 5),
    noiseLayer(width, height, 300, 50, seed + 6),
  ]);
  const pixels = Buffer.alloc(width * height * 3);
  const at = (layer: Buffer, index: number) => (layer[index] as number) - 128;
  for (let i = 0, p = 0; i < width * height; i++, p += 3) {
    const edge = at(edges, i) > 22 ? 30 : at(edges, i) < -28 ? -25 : 0;
    const luma = 128 + at(large, i) + at(blobs, i) * 0.8 + edge + at(grain, i);
    const u = at(red, i) * 0.9;
    const v = at(blue, i) * 0.9;
    pixels[p] = Math.max(0, Math.min(255, luma + u));
    pixels[p + 1] = Math.max(0, Math.min(255, luma - 0.4 * u - 0.4 * v));
    pixels[p + 2] = Math.max(0, Math.min(255, luma + v));
  }
  return pixels;
};

/** A camera-like JPEG: quality 90, 4:2:0 chroma, no EXIF orientation. */
export const photoJpeg = (width: number, height: number): Promise<string> =>
  cached(`photo-${width}x${height}-${VERSION}.jpg`, async (path) => {
    const pixels = await photoPixels(width, height, width * 31 + height);
    await sharp(pixels, { raw: { width, height, channels: 3 } })
      .jpeg({ quality: 90 })
      .toFile(path);
  });

/** The same kind of pixels as a PNG with an alpha channel (opaque in the middle, fading out to the edges). */
export const alphaPng = (width: number, height: number): Promise<string> =>
  cached(`alpha-${width}x${height}-${VERSION}.png`, async (path) => {
    const pixels = await photoPixels(width, height, width * 17 + height);
    const alpha = Buffer.alloc(width * height);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const dx = (2 * x) / width - 1;
        const dy = (2 * y) / height - 1;
        alpha[y * width + x] = Math.max(0, Math.min(255, Math.round(255 * (1.4 - Math.hypot(dx, dy)))));
      }
    }
    await sharp(pixels, { raw: { width, height, channels: 3 } })
      .joinChannel(alpha, { raw: { width, height, channels: 1 } })
      .png()
      .toFile(path);
  });

/** A tiny JPEG: running a command-line tool on it times the tool's start-up. */
export const tinyJpeg = (): Promise<string> =>
  cached(`tiny-16x16-${VERSION}.jpg`, async (path) => {
    await sharp({ create: { width: 16, height: 16, channels: 3, background: '#808080' } })
      .jpeg()
      .toFile(path);
  });

export interface ClipSpec {
  width: number;
  height: number;
  seconds: number;
  /** Video bitrate, as a phone would record this size. */
  bitrate: string;
  /** x264 preset: veryfast for the measured clips, ultrafast where only the code path matters (--quick). */
  preset?: 'veryfast' | 'ultrafast';
}

/**
 * An H.264 High profile + AAC MP4 at 30 fps with a keyframe every 2 s (phones write 1–2 s GOPs),
 * made by the installer's ffmpeg, the same build the video function runs.
 */
export const h264Clip = (clip: ClipSpec): Promise<string> =>
  cached(
    `clip-${clip.width}x${clip.height}-${clip.seconds}s-${clip.bitrate}-${VERSION}.mp4`,
    async (path) => {
      const size = `${clip.width}x${clip.height}`;
      await promisify(execFile)(
        FFMPEG_PATH,
        [
          ...['-hide_banner', '-nostdin', '-loglevel', 'error', '-y'],
          ...['-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=30:duration=${clip.seconds}`],
          ...['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${clip.seconds}`],
          ...[
            '-c:v',
            'libx264',
            '-preset',
            'veryfast',
            '-b:v',
            clip.bitrate,
            '-g',
            '60',
            '-pix_fmt',
            'yuv420p',
          ],
          ...['-c:a', 'aac', '-b:a', '128k', '-shortest', '-movflags', '+faststart', '-f', 'mp4', path],
        ],
        { maxBuffer: 16 * 1024 * 1024 },
      );
    },
  );

/** Random bytes (incompressible, so no layer below can shortcut them). */
export const randomFile = (mebibytes: number): Promise<string> =>
  cached(`random-${mebibytes}MiB-${VERSION}.bin`, async (path) => {
    const handle = await open(path, 'w');
    try {
      const block = Buffer.allocUnsafe(8 * 1024 * 1024);
      for (let written = 0; written < mebibytes * 1024 * 1024; written += block.length) {
        randomFillSync(block);
        await handle.write(block, 0, Math.min(block.length, mebibytes * 1024 * 1024 - written));
      }
    } finally {
      await handle.close();
    }
  });

/**
 * The same JPEG with a comment segment naming `index` right after the start-of-image marker: different
 * bytes (so a new file_hash, not a duplicate) that decode to the same pixels at the same cost.
 */
export const withComment = (jpeg: Buffer, index: number): Buffer => {
  const text = Buffer.from(`bench ${index}`, 'latin1');
  const header = Buffer.from([0xff, 0xfe, 0, 0]);
  header.writeUInt16BE(text.length + 2, 2);
  return Buffer.concat([jpeg.subarray(0, 2), header, text, jpeg.subarray(2)]);
};

export const writeInput = async (name: string, data: Buffer): Promise<string> =>
  cached(name, async (path) => writeFile(path, data));
