import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ffmpegPath } from './clips.ts';

/**
 * Files made to exhaust ffprobe and ffmpeg, built here with the installer's ffmpeg (issue 9, item 6).
 * The streams are copies of one encoded frame (`-map` of the same input many times, `-c copy`), so
 * they cost one encode: the 8192×8192 H.264 frame about 1.8 s on two cores, the rest milliseconds.
 */
const run = promisify(execFile);
const ffmpeg = (args: string[]) =>
  run(ffmpegPath, ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', ...args], {
    maxBuffer: 1024 * 1024,
  });

const oneFrame = (size: string, out: string) =>
  ffmpeg([
    ...['-f', 'lavfi', '-i', `color=c=gray:s=${size}:d=0.04:r=25`],
    ...['-frames:v', '1', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', out],
  ]);

const copies = (input: string, count: number, out: string) =>
  ffmpeg(['-i', input, ...Array.from({ length: count }, () => ['-map', '0:v:0']).flat(), '-c', 'copy', out]);

const clip = (size: string, seconds: number, out: string, codec: string[], audio: string[]) =>
  ffmpeg([
    ...['-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=25:duration=${seconds}`],
    ...['-f', 'lavfi', '-i', `sine=frequency=440:duration=${seconds}`],
    ...codec,
    ...audio,
    '-shortest',
    out,
  ]);

const x264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'];

const makers = {
  /** One 8192×8192 frame: 67 MP, over the 8192×4320 pixel cap though within the side cap. */
  'huge-1.mp4': (dir: string, out: string) => oneFrame('8192x8192', join(dir, out)),
  /** The file: 24 streams of 8192×8192 in 4.75 MB (ffprobe alone reached 3.9 GB). */
  'huge-24.mp4': async (dir: string, out: string) => {
    await makeOnce(dir, 'huge-1.mp4');
    await copies(join(dir, 'huge-1.mp4'), 24, join(dir, out));
  },
  /** 1000 streams of 16×16 (ffprobe reached 1.5 GB). */
  'tiny-1000.mp4': async (dir: string, out: string) => {
    await oneFrame('16x16', join(dir, 'tiny-1.mp4'));
    await copies(join(dir, 'tiny-1.mp4'), 1000, join(dir, out));
  },
  /** 30 streams of 16×16 in Matroska. */
  'tiny-30.mkv': async (dir: string, out: string) => {
    await oneFrame('16x16', join(dir, 'tiny-1.mp4'));
    await copies(join(dir, 'tiny-1.mp4'), 30, join(dir, out));
  },
  /** 3 s, 320×240 H.264 + AAC, `moov` first. */
  'plain-3s.mp4': (dir: string, out: string) =>
    clip('320x240', 3, join(dir, out), x264, ['-c:a', 'aac', '-movflags', '+faststart']),
  /** The same with `mvhd` and every `mdhd` patched to claim 3000 s; the sample tables still span 3 s. */
  'patched-3000s.mp4': async (dir: string, out: string) => {
    await makeOnce(dir, 'plain-3s.mp4');
    const bytes = await readFile(join(dir, 'plain-3s.mp4'));
    for (const box of ['mvhd', 'mdhd']) {
      for (let at = bytes.indexOf(box); at >= 0; at = bytes.indexOf(box, at + 4)) {
        // Version 0 full box: version+flags, creation, modification, timescale, duration.
        const timescale = bytes.readUInt32BE(at + 4 + 12);
        bytes.writeUInt32BE(Math.min(0xffffffff, 3000 * timescale), at + 4 + 16);
      }
    }
    await writeFile(join(dir, out), bytes);
  },
  /** 3 s VP9 + Opus WebM. */
  'plain-3s.webm': (dir: string, out: string) =>
    clip(
      '320x240',
      3,
      join(dir, out),
      ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8'],
      ['-c:a', 'libopus'],
    ),
  /** The same with the Segment Info `Duration` (a float) patched to claim 3000 s. */
  'patched-3000s.webm': async (dir: string, out: string) => {
    await makeOnce(dir, 'plain-3s.webm');
    const bytes = await readFile(join(dir, 'plain-3s.webm'));
    const at = bytes.indexOf(Buffer.from([0x44, 0x89]));
    // The muxer writes the Duration as an 8-byte double in TimecodeScale units (ms by default).
    if (at < 0 || bytes[at + 2] !== 0x88) throw new Error('no 8-byte Duration element found');
    bytes.writeDoubleBE(3_000_000, at + 3);
    await writeFile(join(dir, out), bytes);
  },
  /** 2 s 1920×1080 H.264 + AAC: what a legitimate upload looks like. */
  'hd-2s.mp4': (dir: string, out: string) => clip('1920x1080', 2, join(dir, out), x264, ['-c:a', 'aac']),
};

export type HostileClip = keyof typeof makers;

const made = new Map<string, Set<string>>();
async function makeOnce(dir: string, name: HostileClip): Promise<void> {
  const done = made.get(dir) ?? new Set<string>();
  made.set(dir, done);
  if (done.has(name)) return;
  await makers[name](dir, name);
  done.add(name);
}

export interface HostileClipSet {
  dir: string;
  path: (name: HostileClip) => string;
  cleanup: () => Promise<void>;
}

/** Makes the named files in a fresh temp dir, one after the other (two cores). */
export const makeHostileClips = async (names: readonly HostileClip[]): Promise<HostileClipSet> => {
  const dir = await mkdtemp(join(tmpdir(), 'hostile-video-'));
  for (const name of names) await makeOnce(dir, name);
  return {
    dir,
    path: (name) => {
      if (!names.includes(name)) throw new Error(`${name} was not made for this file`);
      return join(dir, name);
    },
    cleanup: async () => {
      made.delete(dir);
      await rm(dir, { recursive: true, force: true });
    },
  };
};
