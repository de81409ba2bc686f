import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentMediaError } from '../../functions/shared/errors.ts';
import {
  assertWithinContainerLimits,
  type ContainerHeaders,
  DEFAULT_CONTAINER_LIMITS,
  readContainerHeaders,
} from '../../functions/video/container-headers.ts';
import { type HostileClipSet, makeHostileClips } from './hostile-clips.ts';

const refusal = (check: () => void): unknown => {
  try {
    check();
  } catch (error) {
    return error;
  }
  throw new Error('expected a refusal');
};

describe('readContainerHeaders', () => {
  let clips: HostileClipSet;
  beforeAll(async () => {
    clips = await makeHostileClips([
      'huge-1.mp4',
      'huge-24.mp4',
      'tiny-1000.mp4',
      'tiny-30.mkv',
      'plain-3s.mp4',
      'patched-3000s.mp4',
      'plain-3s.webm',
      'patched-3000s.webm',
    ]);
  });
  afterAll(async () => {
    await clips?.cleanup();
  });

  it('counts the tracks and reads the video size of a plain MP4, with both durations', async () => {
    // Act
    const headers = await readContainerHeaders(clips.path('plain-3s.mp4'));

    // Assess
    expect(headers).toMatchObject({ family: 'mp4', tracks: 2, videoTracks: [{ width: 320, height: 240 }] });
    expect(headers?.declaredDuration).toBeCloseTo(3, 1);
    expect(headers?.sampleDuration).toBeCloseTo(3, 1);
  });

  it('reads the Tracks of a WebM', async () => {
    // Act
    const headers = await readContainerHeaders(clips.path('plain-3s.webm'));

    // Assess
    expect(headers).toMatchObject({
      family: 'matroska',
      tracks: 2,
      videoTracks: [{ width: 320, height: 240 }],
    });
    expect(headers?.declaredDuration).toBeCloseTo(3, 1);
  });

  it.each([
    ['huge-24.mp4', 24, 8192],
    ['tiny-1000.mp4', 1000, 16],
    ['tiny-30.mkv', 30, 16],
  ] as const)('counts every stream of %s', async (name, tracks, side) => {
    // Act
    const headers = await readContainerHeaders(clips.path(name));

    // Assess
    expect(headers?.tracks).toBe(tracks);
    expect(headers?.videoTracks).toHaveLength(tracks);
    expect(headers?.videoTracks[0]).toEqual({ width: side, height: side });
  });

  it('sees through a patched mvhd and mdhd: the sample tables still span 3 s', async () => {
    // Act
    const headers = await readContainerHeaders(clips.path('patched-3000s.mp4'));

    // Assess
    expect(headers?.declaredDuration).toBeCloseTo(3000, 0);
    expect(headers?.sampleDuration).toBeCloseTo(3, 1);
  });

  it('reads a patched Matroska Duration as it claims', async () => {
    // Act / Assess
    expect((await readContainerHeaders(clips.path('patched-3000s.webm')))?.declaredDuration).toBeCloseTo(
      3000,
      0,
    );
  });

  it.each([
    ['text', Buffer.from('this is not a video\n')],
    ['an empty file', Buffer.alloc(0)],
    ['an MP4 without moov', Buffer.from('0000001466747970697336d0000000006d646174', 'hex')],
    ['a box claiming more than the file', Buffer.from('ffffff00667479706d703432', 'hex')],
    ['a 64-bit size of zero', Buffer.from('00000001667479700000000000000000', 'hex')],
    ['an EBML header alone', Buffer.from('1a45dfa3840000000042', 'hex')],
    ['a Segment of unknown size with no Tracks', Buffer.from('1a45dfa380185380670100000000000000', 'hex')],
  ])('answers undefined for %s instead of throwing', async (label, bytes) => {
    // Prepare
    const file = join(clips.dir, `${label.replaceAll(' ', '-')}.bin`);
    await writeFile(file, bytes);

    // Act / Assess
    expect(await readContainerHeaders(file)).toBeUndefined();
  });
});

describe('assertWithinContainerLimits', () => {
  const headers = (tracks: number, sizes: [number, number][]): ContainerHeaders => ({
    family: 'mp4',
    tracks,
    videoTracks: sizes.map(([width, height]) => ({ width, height })),
  });

  it.each([
    ['1080p with audio', headers(2, [[1920, 1080]])],
    ['8K UHD', headers(2, [[7680, 4320]])],
    ['DCI 8K', headers(1, [[8192, 4320]])],
    ['a phone clip with metadata tracks', headers(6, [[3840, 2160]])],
    ['16 streams', headers(16, [[1280, 720]])],
  ])('accepts %s', (_label, within) => {
    // Act / Assess
    expect(() => assertWithinContainerLimits(within)).not.toThrow();
  });

  it.each([
    [headers(24, Array(24).fill([8192, 8192])), 'the file has 24 streams; the limit is 16'],
    [headers(1000, Array(1000).fill([16, 16])), 'the file has 1000 streams; the limit is 16'],
    [headers(1, [[16384, 256]]), 'a video stream is 16384×256; the limit is 8192 pixels per side'],
    [headers(1, [[8192, 8192]]), 'the video is 67.1 MP; the limit is 35.4 MP (8192×4320)'],
    [
      headers(3, [
        [3840, 2160],
        [7680, 4320],
        [640, 480],
      ]),
      'the 3 video streams add up to 41.8 MP; the limit is 35.4 MP (8192×4320)',
    ],
  ])('refuses %o with Media::TooComplex: %s', (over, message) => {
    // Act
    const error = refusal(() => assertWithinContainerLimits(over));

    // Assess
    expect(error).toBeInstanceOf(PermanentMediaError);
    expect(error).toMatchObject({ code: 'Media::TooComplex', message });
  });

  it('takes other limits', () => {
    // Act
    const error = refusal(() =>
      assertWithinContainerLimits(headers(3, [[320, 240]]), { ...DEFAULT_CONTAINER_LIMITS, maxStreams: 2 }),
    );

    // Assess
    expect(error).toMatchObject({ message: 'the file has 3 streams; the limit is 2' });
  });
});
