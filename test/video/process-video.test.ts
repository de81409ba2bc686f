import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentMediaError } from '../../functions/shared/errors.ts';
import { findPreset, type PosterSpec } from '../../functions/shared/presets.ts';
import { processVideo } from '../../functions/video/process-video.ts';
import { BinaryTimeoutError } from '../../functions/video/run-binary.ts';
import { type ClipSet, ffmpegPath, ffprobePath, makeClips } from './clips.ts';
import { type HostileClipSet, makeHostileClips } from './hostile-clips.ts';

const posterOf = (presetName: string): PosterSpec => {
  const poster = findPreset(presetName)?.video?.poster;
  if (!poster) throw new Error(`preset ${presetName} has no poster`);
  return poster;
};

const options = { ffmpegPath, ffprobePath, maxDurationSeconds: 3600, timeoutMs: 20_000 };

describe('processVideo', () => {
  let clips: ClipSet;
  beforeAll(async () => {
    clips = await makeClips(['small-5s.mp4', 'short-1s.mp4', 'audio-only.m4a', 'text.mp4']);
  });
  afterAll(async () => {
    await clips?.cleanup();
  });

  it('returns the metadata and the preset poster', async () => {
    // Act: square-webp asks for a 640 px JPEG at second 3.
    const { metadata, poster } = await processVideo(
      clips.path('small-5s.mp4'),
      posterOf('square-webp'),
      options,
    );

    // Assess
    expect(metadata).toMatchObject({
      width: 640,
      height: 360,
      codec: 'h264',
      audio_codec: 'aac',
      container: 'mp4',
    });
    expect(metadata.duration).toBeCloseTo(5, 1);
    expect(poster).toMatchObject({ width: 640, height: 360, format: 'jpeg', at_second: 3 });
    expect(await sharp(poster.data).metadata()).toMatchObject({ format: 'jpeg', width: 640, height: 360 });
  });

  it('takes the poster again at the clamped second when the clip ends before the preset asks', async () => {
    // Act: the default preset asks for second 1 of a 1 s clip; the early run (started with the probe) is dropped.
    const { metadata, poster } = await processVideo(clips.path('short-1s.mp4'), posterOf('default'), options);

    // Assess
    expect(metadata.duration).toBeCloseTo(1, 1);
    expect(poster.at_second).toBe(0.5);
    expect(await sharp(poster.data).metadata()).toMatchObject({ format: 'jpeg', width: 320, height: 240 });
  });

  it('refuses a video over the duration cap, naming both durations', async () => {
    // Act
    const error = await processVideo(clips.path('small-5s.mp4'), posterOf('default'), {
      ...options,
      maxDurationSeconds: 2,
    }).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(PermanentMediaError);
    expect(error).toMatchObject({ code: 'Media::TooLong' });
    expect((error as Error).message).toMatch(/^the video lasts 5(\.0\d)? s, longer than the 2 s allowed$/);
  });

  it('passes on the probe refusal of a file without video', async () => {
    // Act
    const error = await processVideo(clips.path('audio-only.m4a'), posterOf('default'), options).catch(
      (caught: unknown) => caught,
    );

    // Assess
    expect(error).toBeInstanceOf(PermanentMediaError);
    expect(error).toMatchObject({ code: 'Media::NoVideoStream' });
  });

  it("passes on the probe's refusal of a file that is not a video, not the poster run's failure", async () => {
    // Act
    const error = await processVideo(clips.path('text.mp4'), posterOf('default'), options).catch(
      (caught: unknown) => caught,
    );

    // Assess
    expect(error).toBeInstanceOf(PermanentMediaError);
    expect(error).toMatchObject({ code: 'Media::Corrupt' });
    expect((error as Error).message).toMatch(/could not be read as a video/);
    expect((error as Error).message).not.toMatch(/poster/);
  });

  it('spends one budget on probe and poster together', async () => {
    // Act
    const error = await processVideo(clips.path('small-5s.mp4'), posterOf('default'), {
      ...options,
      timeoutMs: 5,
    }).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(BinaryTimeoutError);
    expect(error).not.toBeInstanceOf(PermanentMediaError);
  });
});

describe('processVideo on hostile files', () => {
  let clips: HostileClipSet;
  beforeAll(async () => {
    clips = await makeHostileClips(['patched-3000s.webm', 'huge-1.mp4']);
  });
  afterAll(async () => {
    await clips?.cleanup();
  });

  it('checks the duration cap against the real duration, not a patched header', async () => {
    // Act: the container claims 3000 s, the cap is 60 s, the streams span 3 s.
    const { metadata } = await processVideo(clips.path('patched-3000s.webm'), posterOf('default'), {
      ...options,
      maxDurationSeconds: 60,
    });

    // Assess
    expect(metadata.duration).toBeLessThan(3.1);
  });

  it('refuses an 8192×8192 picture before ffprobe or ffmpeg starts', async () => {
    // Act: missing binaries show neither ran.
    const error = await processVideo(clips.path('huge-1.mp4'), posterOf('default'), {
      ...options,
      ffmpegPath: '/nonexistent/ffmpeg',
      ffprobePath: '/nonexistent/ffprobe',
    }).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(PermanentMediaError);
    expect(error).toMatchObject({
      code: 'Media::TooComplex',
      message: 'the video is 67.1 MP; the limit is 35.4 MP (8192×4320)',
    });
  });
});
