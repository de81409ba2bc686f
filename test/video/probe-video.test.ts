import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentMediaError } from '../../functions/shared/errors.ts';
import { probeVideo, realDuration } from '../../functions/video/probe-video.ts';
import { BinaryTimeoutError, BinaryUnavailableError, runBinary } from '../../functions/video/run-binary.ts';
import { type ClipSet, ffprobePath, makeClips, writeRemotePlaylist } from './clips.ts';
import { type HostileClipSet, makeHostileClips } from './hostile-clips.ts';

const options = { ffprobePath, timeoutMs: 20_000 };

const refusal = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => {
      throw new Error('expected a refusal');
    },
    (error: unknown) => error,
  );

describe('probeVideo', () => {
  let clips: ClipSet;
  beforeAll(async () => {
    clips = await makeClips([
      'landscape-5s.mp4',
      'webm-3s.webm',
      'portrait.mp4',
      'rotated.mp4',
      'anamorphic.mp4',
      'audio-only.m4a',
      'truncated.mp4',
      'text.mp4',
      'concat-playlist.mp4',
      'local-playlist.m3u8',
      'local-playlist.mp4',
    ]);
  });
  afterAll(async () => {
    await clips?.cleanup();
  });

  it('reads size, duration, codecs, frame rate, bit rate and container of an MP4', async () => {
    // Act
    const metadata = await probeVideo(clips.path('landscape-5s.mp4'), options);

    // Assess
    expect(metadata).toMatchObject({
      width: 1920,
      height: 1080,
      codec: 'h264',
      frame_rate: 30,
      audio_codec: 'aac',
      container: 'mp4',
    });
    expect(metadata.duration).toBeCloseTo(5, 1);
    expect(metadata.bitrate).toBeGreaterThan(0);
    expect(Number.isInteger(metadata.bitrate)).toBe(true);
  });

  it('tells WebM from Matroska and reads VP9 and Opus', async () => {
    // Act
    const metadata = await probeVideo(clips.path('webm-3s.webm'), options);

    // Assess
    expect(metadata).toMatchObject({
      width: 320,
      height: 240,
      codec: 'vp9',
      audio_codec: 'opus',
      frame_rate: 25,
      container: 'webm',
    });
    expect(metadata.duration).toBeCloseTo(3, 1);
  });

  it('reports a natively portrait video as portrait, without audio', async () => {
    // Act
    const metadata = await probeVideo(clips.path('portrait.mp4'), options);

    // Assess
    expect(metadata).toMatchObject({ width: 360, height: 640 });
    expect(metadata).not.toHaveProperty('audio_codec');
  });

  it('applies a 90° display matrix, as phones store portrait video', async () => {
    // Act
    const metadata = await probeVideo(clips.path('rotated.mp4'), options);

    // Assess: stored 320×180, displayed 180×320.
    expect(metadata).toMatchObject({ width: 180, height: 320 });
  });

  it('reports stored dimensions for anamorphic video', async () => {
    // Act / Assess
    expect(await probeVideo(clips.path('anamorphic.mp4'), options)).toMatchObject({
      width: 320,
      height: 240,
    });
  });

  it('refuses an audio-only file with Media::NoVideoStream', async () => {
    // Act
    const error = await refusal(probeVideo(clips.path('audio-only.m4a'), options));

    // Assess
    expect(error).toBeInstanceOf(PermanentMediaError);
    expect(error).toMatchObject({ code: 'Media::NoVideoStream' });
  });

  it.each([
    ['truncated.mp4', /moov atom not found/],
    ['text.mp4', /could not be read as a video/],
  ] as const)('refuses %s with Media::Corrupt and a readable reason', async (name, reason) => {
    // Act
    const error = await refusal(probeVideo(clips.path(name), options));

    // Assess
    expect(error).toBeInstanceOf(PermanentMediaError);
    expect(error).toMatchObject({ code: 'Media::Corrupt' });
    expect((error as Error).message).toMatch(reason);
    expect((error as Error).message).not.toContain(clips.dir);
  });

  describe('crafted playlists', () => {
    it('would be followed to another local file without the hardening (control)', async () => {
      // Act: the same ffprobe, without the allow-lists.
      const { stdout } = await runBinary(
        ffprobePath,
        [
          '-v',
          'error',
          '-show_entries',
          'format=format_name',
          '-of',
          'json',
          clips.path('concat-playlist.mp4'),
        ],
        { timeoutMs: 20_000 },
      );

      // Assess
      expect(JSON.parse(stdout.toString())).toEqual({ format: { format_name: 'concat' } });
    });

    it('refuses a concat playlist named .mp4 with Media::UnsupportedFormat', async () => {
      // Act
      const error = await refusal(probeVideo(clips.path('concat-playlist.mp4'), options));

      // Assess
      expect(error).toBeInstanceOf(PermanentMediaError);
      expect(error).toMatchObject({
        code: 'Media::UnsupportedFormat',
        message: 'the file is a concat playlist; only MP4/QuickTime and Matroska/WebM videos are accepted',
      });
    });

    it('refuses an HLS playlist that points at a local segment', async () => {
      // Act
      const error = await refusal(probeVideo(clips.path('local-playlist.m3u8'), options));

      // Assess
      expect(error).toMatchObject({
        code: 'Media::UnsupportedFormat',
        message: expect.stringMatching(/hls playlist/),
      });
    });

    it('refuses an HLS playlist under an upload name', async () => {
      // Act: the 2023 ffprobe does not take a .mp4 for HLS and finds no moov atom instead.
      const error = await refusal(probeVideo(clips.path('local-playlist.mp4'), options));

      // Assess
      expect(error).toBeInstanceOf(PermanentMediaError);
      expect(['Media::UnsupportedFormat', 'Media::Corrupt']).toContain((error as PermanentMediaError).code);
    });

    describe('pointing at an http URL', () => {
      let server: Server;
      let requests: string[];
      beforeAll(async () => {
        requests = [];
        server = createServer((request, response) => {
          requests.push(request.url ?? '');
          response.writeHead(404).end();
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      });
      afterAll(async () => {
        await new Promise((resolve) => server.close(resolve));
      });

      it.each(['remote.m3u8', 'remote.mp4'])('refuses %s without making a request', async (file) => {
        // Prepare
        const { port } = server.address() as AddressInfo;
        const playlist = await writeRemotePlaylist(clips.dir, file, `http://127.0.0.1:${port}/secret.ts`);

        // Act
        const error = await refusal(probeVideo(playlist, options));

        // Assess
        expect(error).toBeInstanceOf(PermanentMediaError);
        expect(requests).toEqual([]);
      });
    });
  });

  it('rejects with a timeout error when ffprobe outlives its budget', async () => {
    // Act
    const error = await refusal(probeVideo(clips.path('landscape-5s.mp4'), { ffprobePath, timeoutMs: 1 }));

    // Assess: not permanent, so the job is retried.
    expect(error).toBeInstanceOf(BinaryTimeoutError);
    expect(error).not.toBeInstanceOf(PermanentMediaError);
    expect((error as Error).message).toBe('ffprobe did not finish within 1 ms and was killed');
  });

  it('rejects with a clear error when ffprobe is missing', async () => {
    // Act
    const error = await refusal(
      probeVideo(clips.path('landscape-5s.mp4'), { ffprobePath: '/nonexistent/ffprobe', timeoutMs: 1_000 }),
    );

    // Assess
    expect(error).toBeInstanceOf(BinaryUnavailableError);
    expect(error).toMatchObject({ code: 'Media::ToolUnavailable' });
  });
});

describe('realDuration', () => {
  it.each([
    ['the container when streams agree', 5.02, [5, 4.98], undefined, 5.02],
    ['the container when audio runs on past the video', 1.6, [1, 1.6], undefined, 1.6],
    ['the container within twice the stream plus a second', 7, [3], undefined, 7],
    ['the longest stream over a container claiming 3000 s', 3000, [3.007, 3.008], undefined, 3.008],
    ['the sample tables over patched mvhd and mdhd', 3000, [3000, 3000], 3.02, 3.02],
    ['the stream when the container says nothing', undefined, [4], undefined, 4],
    ['the container when no stream says anything', 12, [undefined], undefined, 12],
    [
      'the stream over a container claiming far less (a 3 h clip whose mvhd says 3 s)',
      3,
      [10_800],
      undefined,
      10_800,
    ],
    ['the sample tables over a container claiming less', 3, [3], 10_800, 10_800],
  ])('takes %s', (_label, container, streams, samples, expected) => {
    // Act / Assess
    expect(realDuration(container, streams, samples)).toBe(expected);
  });
});

describe('probeVideo on patched durations', () => {
  let clips: HostileClipSet;
  beforeAll(async () => {
    clips = await makeHostileClips(['patched-3000s.mp4', 'patched-3000s.webm', 'huge-24.mp4']);
  });
  afterAll(async () => {
    await clips?.cleanup();
  });

  it.each(['patched-3000s.mp4', 'patched-3000s.webm'] as const)(
    'reports the 3 s the streams span in %s, not the 3000 s its container claims',
    async (name) => {
      // Act
      const metadata = await probeVideo(clips.path(name), options);

      // Assess
      expect(metadata.duration).toBeGreaterThan(2.9);
      expect(metadata.duration).toBeLessThan(3.1);
    },
  );

  it('refuses 24 streams of 8192×8192 from the headers, before ffprobe starts', async () => {
    // Act: a missing ffprobe shows it never ran.
    const error = await refusal(
      probeVideo(clips.path('huge-24.mp4'), { ffprobePath: '/nonexistent/ffprobe', timeoutMs: 1_000 }),
    );

    // Assess
    expect(error).toBeInstanceOf(PermanentMediaError);
    expect(error).toMatchObject({
      code: 'Media::TooComplex',
      message: 'the file has 24 streams; the limit is 16',
    });
  });
});
