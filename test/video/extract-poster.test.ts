import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentMediaError } from '../../functions/shared/errors.ts';
import { findPreset, type PosterSpec } from '../../functions/shared/presets.ts';
import {
  clampPosterSecond,
  extractPoster,
  imageDimensions,
  mjpegQscale,
  posterArgs,
} from '../../functions/video/extract-poster.ts';
import { BinaryTimeoutError, runBinary } from '../../functions/video/run-binary.ts';
import { type ClipSet, ffmpegPath, makeClips } from './clips.ts';

const defaultPoster = (): PosterSpec => {
  const poster = findPreset('default')?.video?.poster;
  if (!poster) throw new Error('the default preset has no poster');
  return poster;
};

const options = (duration: number) => ({ ffmpegPath, duration, timeoutMs: 20_000 });

/** Mean absolute difference of two same-sized images' RGB pixels, 0–255. */
const meanDifference = async (a: Buffer, b: Buffer): Promise<number> => {
  const [left, right] = (await Promise.all(
    [a, b].map((image) => sharp(image).removeAlpha().raw().toBuffer()),
  )) as [Buffer, Buffer];
  let total = 0;
  for (let index = 0; index < left.length; index += 1) {
    total += Math.abs((left[index] ?? 0) - (right[index] ?? 0));
  }
  return total / left.length;
};

describe('clampPosterSecond', () => {
  it.each([
    [1, 5, 1],
    [3, 5, 3],
    [30, 10, 9.5],
    [3, 1, 0.5],
    [3, 0.2, 0.1],
    [-2, 5, 0],
    [3, Number.NaN, 3],
    [2.0004, Number.POSITIVE_INFINITY, 2],
    [2.0004, 5, 2],
  ])('takes second %d of a %d s video at %d', (requested, duration, expected) => {
    // Act / Assess
    expect(clampPosterSecond(requested, duration)).toBe(expected);
  });
});

describe('mjpegQscale', () => {
  it.each([
    [100, 1],
    [95, 3],
    [85, 8],
    [80, 10],
    [50, 25],
    [1, 31],
  ])('maps quality %d to qscale %d', (quality, qscale) => {
    // Act / Assess
    expect(mjpegQscale(quality)).toBe(qscale);
  });
});

describe('posterArgs', () => {
  it('seeks on the input, bounds probing, allocations and threads, and opens it through the allow-lists only', () => {
    // Act
    const args = posterArgs('/tmp/job/input', { at_second: 1, width: 1280, format: 'jpeg', quality: 85 }, 1);

    // Assess
    expect(args).toEqual([
      '-hide_banner',
      '-nostdin',
      '-loglevel',
      'error',
      '-max_alloc',
      '268435456',
      '-probesize',
      '5000000',
      '-analyzeduration',
      '5000000',
      '-protocol_whitelist',
      'file',
      '-format_whitelist',
      'mov,mp4,m4a,3gp,3g2,mj2,matroska,webm',
      '-threads',
      '2',
      '-ss',
      '1.000',
      '-i',
      'file:/tmp/job/input',
      '-map',
      '0:V:0',
      '-frames:v',
      '1',
      '-vf',
      'scale=w=min(1280\\,round(iw*sar)):h=max(2\\,trunc(ow/dar/2)*2),setsar=1',
      '-c:v',
      'mjpeg',
      '-qmin',
      '1',
      '-q:v',
      '8',
      '-f',
      'image2pipe',
      'pipe:1',
    ]);
  });
});

describe('extractPoster', () => {
  let clips: ClipSet;
  beforeAll(async () => {
    clips = await makeClips([
      'landscape-5s.mp4',
      'short-1s.mp4',
      'audio-outlasts-video.mp4',
      'webm-3s.webm',
      'rotated.mp4',
      'anamorphic.mp4',
      'text.mp4',
      'concat-playlist.mp4',
      'local-playlist.mp4',
    ]);
  });
  afterAll(async () => {
    await clips?.cleanup();
  });

  it('makes a JPEG of the preset width with the video aspect ratio', async () => {
    // Act
    const poster = await extractPoster(clips.path('landscape-5s.mp4'), defaultPoster(), options(5));

    // Assess
    const image = await sharp(poster.data).metadata();
    expect(image).toMatchObject({ format: 'jpeg', width: 1280, height: 720 });
    expect(poster).toMatchObject({
      width: 1280,
      height: 720,
      format: 'jpeg',
      contentType: 'image/jpeg',
      extension: 'jpg',
      at_second: 1,
    });
  });

  it('takes the exact frame at the second asked for, not just the nearest keyframe', async () => {
    // Prepare: the 2.5 s frame lies between keyframes (every second). Output seeking decodes every
    // frame up to the position, so its result is the reference.
    const spec: PosterSpec = { at_second: 2.5, width: 320, format: 'jpeg', quality: 80 };
    const args = posterArgs(clips.path('landscape-5s.mp4'), spec, 0);
    const inputIndex = args.indexOf('-i');
    const outputSeeking = [...args.slice(0, inputIndex + 2), '-ss', '2.5', ...args.slice(inputIndex + 2)];

    // Act
    const poster = await extractPoster(clips.path('landscape-5s.mp4'), spec, options(5));
    const reference = await runBinary(ffmpegPath, outputSeeking, { timeoutMs: 20_000 });

    // Assess
    expect(poster.data.equals(reference.stdout)).toBe(true);
  });

  it('gives different pictures at seconds 1 and 3', async () => {
    // Prepare
    const small: PosterSpec = { at_second: 1, width: 320, format: 'jpeg', quality: 80 };

    // Act
    const first = await extractPoster(clips.path('landscape-5s.mp4'), small, options(5));
    const again = await extractPoster(clips.path('landscape-5s.mp4'), small, options(5));
    const later = await extractPoster(clips.path('landscape-5s.mp4'), { ...small, at_second: 3 }, options(5));

    // Assess: deterministic for one second (difference 0), clearly different between seconds
    // (about 4.8 of 255 on average: most of testsrc2 stays put, its moving parts do not).
    expect(first.data.equals(again.data)).toBe(true);
    expect(later.at_second).toBe(3);
    expect(await meanDifference(first.data, later.data)).toBeGreaterThan(2);
  });

  it('makes WebP posters', async () => {
    // Act
    const poster = await extractPoster(
      clips.path('webm-3s.webm'),
      { at_second: 1, width: 160, format: 'webp', quality: 70 },
      options(3),
    );

    // Assess
    expect(await sharp(poster.data).metadata()).toMatchObject({ format: 'webp', width: 160, height: 120 });
    expect(poster).toMatchObject({ width: 160, height: 120, contentType: 'image/webp', extension: 'webp' });
  });

  it('clamps a second past the end of a short clip', async () => {
    // Act
    const poster = await extractPoster(
      clips.path('short-1s.mp4'),
      { ...defaultPoster(), at_second: 3 },
      options(1),
    );

    // Assess: never enlarged past the 320 px source.
    expect(poster.at_second).toBe(0.5);
    expect(await sharp(poster.data).metadata()).toMatchObject({ format: 'jpeg', width: 320, height: 240 });
  });

  it('falls back to the first frame when the audio outlasts the video', async () => {
    // Prepare: the container says 1.6 s, the last video frame is at 0.97 s.
    const duration = 1.6;

    // Act
    const poster = await extractPoster(
      clips.path('audio-outlasts-video.mp4'),
      { ...defaultPoster(), at_second: 3 },
      options(duration),
    );

    // Assess
    expect(poster.at_second).toBe(0);
    expect(poster.data.length).toBeGreaterThan(0);
  });

  it('applies the rotation of portrait phone video', async () => {
    // Act
    const poster = await extractPoster(clips.path('rotated.mp4'), defaultPoster(), options(1));

    // Assess: stored 320×180 with a 90° matrix.
    expect(await sharp(poster.data).metadata()).toMatchObject({ width: 180, height: 320 });
  });

  it('applies the sample aspect ratio of anamorphic video', async () => {
    // Act
    const poster = await extractPoster(clips.path('anamorphic.mp4'), defaultPoster(), options(1));

    // Assess: 320×240 at 4:3 pixels displays as 427×240.
    expect(poster).toMatchObject({ width: 427, height: 240 });
  });

  it('refuses a file that is not a video with a PermanentMediaError', async () => {
    // Act
    const error = await extractPoster(clips.path('text.mp4'), defaultPoster(), options(5)).catch(
      (caught: unknown) => caught,
    );

    // Assess
    expect(error).toBeInstanceOf(PermanentMediaError);
    expect(error).toMatchObject({ code: 'Media::Corrupt' });
  });

  it.each(['concat-playlist.mp4', 'local-playlist.mp4'] as const)(
    'refuses %s, which the 2018 ffmpeg would otherwise follow to another local file',
    async (name) => {
      // Prepare: control, the same ffmpeg without the allow-lists renders the referenced clip.
      const unhardened = await runBinary(
        ffmpegPath,
        [
          ...['-nostdin', '-v', 'error', '-i', clips.path(name)],
          ...['-frames:v', '1', '-c:v', 'mjpeg', '-f', 'image2pipe', 'pipe:1'],
        ],
        { timeoutMs: 20_000 },
      );
      expect(unhardened.stdout.length).toBeGreaterThan(0);

      // Act
      const error = await extractPoster(clips.path(name), defaultPoster(), options(1)).catch(
        (caught: unknown) => caught,
      );

      // Assess
      expect(error).toBeInstanceOf(PermanentMediaError);
      expect(error).toMatchObject({ code: 'Media::UnsupportedFormat' });
    },
  );

  it('rejects with a timeout error when ffmpeg outlives its budget', async () => {
    // Act
    const error = await extractPoster(clips.path('landscape-5s.mp4'), defaultPoster(), {
      ffmpegPath,
      duration: 5,
      timeoutMs: 5,
    }).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(BinaryTimeoutError);
    expect((error as Error).message).toBe('ffmpeg did not finish within 5 ms and was killed');
  });
});

describe('imageDimensions', () => {
  it('reads JPEG and WebP headers and rejects anything else', async () => {
    // Prepare
    const base = sharp({ create: { width: 33, height: 17, channels: 3, background: '#808080' } });
    const jpeg = await base.clone().jpeg().toBuffer();
    const webp = await base.clone().webp().toBuffer();
    const lossless = await base.clone().webp({ lossless: true }).toBuffer();

    // Act / Assess
    expect(imageDimensions(jpeg, 'jpeg')).toEqual({ width: 33, height: 17 });
    expect(imageDimensions(webp, 'webp')).toEqual({ width: 33, height: 17 });
    expect(imageDimensions(lossless, 'webp')).toEqual({ width: 33, height: 17 });
    expect(imageDimensions(Buffer.from('not an image'), 'jpeg')).toBeUndefined();
    expect(imageDimensions(jpeg, 'webp')).toBeUndefined();
  });
});
