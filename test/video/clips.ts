import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ffmpegInstaller from '@ffmpeg-installer/ffmpeg';
import ffprobeInstaller from '@ffprobe-installer/ffprobe';

/**
 * Test clips made on the spot with the installer's 2018 ffmpeg (it has libx264, aac, libvpx-vp9
 * and libopus). testsrc2 changes from frame to frame, so posters at different seconds differ.
 * x264 runs at ultrafast/CRF 40: the 5 s 1080p clip takes about 1.2 s to make on two cores.
 */
export const ffmpegPath = ffmpegInstaller.path;
export const ffprobePath = ffprobeInstaller.path;

const run = promisify(execFile);

const ffmpeg = async (args: string[]): Promise<void> => {
  await run(ffmpegPath, ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', ...args]);
};

const h264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '40', '-pix_fmt', 'yuv420p'];
const testsrc = (size: string, seconds: number, rate = 30) => [
  '-f',
  'lavfi',
  '-i',
  `testsrc2=size=${size}:rate=${rate}:duration=${seconds}`,
];
const sine = (seconds: number) => [
  '-f',
  'lavfi',
  '-i',
  `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
];

type Maker = (dir: string, file: string) => Promise<void>;

const makers = {
  /** 5 s, 1920×1080, 30 fps, H.264 with a keyframe every second, AAC audio. */
  'landscape-5s.mp4': (dir, file) =>
    ffmpeg([
      ...testsrc('1920x1080', 5),
      ...sine(5),
      ...h264,
      '-g',
      '30',
      '-c:a',
      'aac',
      '-shortest',
      join(dir, file),
    ]),
  /** 5 s at 640×360 with audio: for tests that need a duration, not a size. */
  'small-5s.mp4': (dir, file) =>
    ffmpeg([...testsrc('640x360', 5), ...sine(5), ...h264, '-c:a', 'aac', '-shortest', join(dir, file)]),
  /** 1 s, 320×240, no audio. */
  'short-1s.mp4': (dir, file) => ffmpeg([...testsrc('320x240', 1), ...h264, join(dir, file)]),
  /** 1 s of video and 1.6 s of audio: the container outlasts its last video frame. */
  'audio-outlasts-video.mp4': (dir, file) =>
    ffmpeg([...testsrc('320x240', 1), ...sine(1.6), ...h264, '-c:a', 'aac', join(dir, file)]),
  /** 3 s VP9 + Opus WebM. */
  'webm-3s.webm': (dir, file) =>
    ffmpeg([
      ...testsrc('320x240', 3, 25),
      ...sine(3),
      ...['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-c:a', 'libopus', '-shortest'],
      join(dir, file),
    ]),
  /** Natively portrait: 360×640. */
  'portrait.mp4': (dir, file) => ffmpeg([...testsrc('360x640', 1), ...h264, join(dir, file)]),
  /**
   * Stored 320×180 with a 90° display matrix, as phones write portrait video. The 2018 ffmpeg
   * drops a `rotate` tag while encoding, so the tag is set on a stream copy.
   */
  'rotated.mp4': async (dir, file) => {
    const plain = join(dir, `plain-${file}`);
    await ffmpeg([...testsrc('320x180', 1), ...h264, plain]);
    await ffmpeg(['-i', plain, '-c', 'copy', '-metadata:s:v:0', 'rotate=90', join(dir, file)]);
  },
  /** 320×240 stored, 4:3 sample aspect ratio: displayed as 427×240. */
  'anamorphic.mp4': (dir, file) =>
    ffmpeg([...testsrc('320x240', 1), '-vf', 'setsar=4/3', ...h264, join(dir, file)]),
  /** AAC audio only, in an MP4 (m4a) container. */
  'audio-only.m4a': (dir, file) => ffmpeg([...sine(1), '-c:a', 'aac', join(dir, file)]),
  /** The first 40 KB of an MP4 whose moov atom is at the end: unreadable. */
  'truncated.mp4': async (dir, file) => {
    const whole = join(dir, `whole-${file}`);
    await ffmpeg([...testsrc('320x240', 2), ...h264, whole]);
    const source = await open(whole, 'r');
    try {
      const { buffer, bytesRead } = await source.read(Buffer.alloc(40_000), 0, 40_000, 0);
      await writeFile(join(dir, file), buffer.subarray(0, bytesRead));
    } finally {
      await source.close();
    }
  },
  'text.mp4': (dir, file) => writeFile(join(dir, file), 'this is not a video\njust some text\n'),
  /** A concat playlist named like an upload, pointing at another local file (a relative path passes `safe`). */
  'concat-playlist.mp4': async (dir, file) => {
    await makeOnce(dir, 'short-1s.mp4');
    await writeFile(join(dir, file), "ffconcat version 1.0\nfile 'short-1s.mp4'\n");
  },
  /** An HLS playlist whose only segment is another local file. */
  'local-playlist.m3u8': async (dir, file) => {
    await makeOnce(dir, 'short-1s.mp4');
    await ffmpeg(['-i', join(dir, 'short-1s.mp4'), '-c', 'copy', '-f', 'mpegts', join(dir, 'segment.ts')]);
    await writeFile(
      join(dir, file),
      '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:1.0,\nsegment.ts\n#EXT-X-ENDLIST\n',
    );
  },
  /** The same playlist under an upload's name: the 2023 ffprobe no longer detects HLS by content alone. */
  'local-playlist.mp4': async (dir, file) => {
    await makeOnce(dir, 'local-playlist.m3u8');
    await copyFile(join(dir, 'local-playlist.m3u8'), join(dir, file));
  },
} satisfies Record<string, Maker>;

export type ClipName = keyof typeof makers;

/** Clips that others are built from (playlists reference short-1s.mp4) are made once per dir. */
async function makeOnce(dir: string, name: ClipName): Promise<void> {
  if (!existsSync(join(dir, name))) await makers[name](dir, name);
}

export interface ClipSet {
  dir: string;
  path: (name: ClipName) => string;
  cleanup: () => Promise<void>;
}

/** Makes the named clips in a fresh temp dir, in sequence (the machine has two cores). */
export const makeClips = async (names: readonly ClipName[]): Promise<ClipSet> => {
  const dir = await mkdtemp(join(tmpdir(), 'video-test-'));
  for (const name of names) await makeOnce(dir, name);
  return {
    dir,
    path: (name) => {
      if (!names.includes(name)) throw new Error(`clip ${name} was not made for this file`);
      return join(dir, name);
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
};

/** An HLS playlist whose segment is an http URL. */
export const writeRemotePlaylist = async (dir: string, file: string, url: string): Promise<string> => {
  const path = join(dir, file);
  await writeFile(
    path,
    `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:1.0,\n${url}\n#EXT-X-ENDLIST\n`,
  );
  return path;
};
