import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  heicUnsupportedReason,
  makeClip,
  makeImage,
  makeTrailingIfdTiff,
  type VideoContainer,
} from '#test/media';
import { call, download, upload, waitForJob } from './client.ts';

interface Sample {
  name: string;
  /** What the presets accept: every one of the default preset's types has a sample here. */
  accepted: string;
  /** What the client declares; either name of a type is taken. */
  declared?: string;
  bytes: () => Promise<Buffer>;
  width: number;
  height: number;
}

const image = (type: Parameters<typeof makeImage>[0], extension: string): Sample => ({
  name: `photo.${extension}`,
  accepted: type,
  bytes: () => makeImage(type, 96, 64),
  width: 96,
  height: 64,
});

const clip = (container: VideoContainer, accepted: string, extension: string, declared?: string): Sample => ({
  name: `clip.${extension}`,
  accepted,
  declared,
  bytes: () => makeClip(container, { seconds: 2, size: '160x120' }),
  width: 160,
  height: 120,
});

/** A real file of each type, made here: sharp for the images, the installer's ffmpeg for the videos. */
const SAMPLES: Sample[] = [
  image('image/jpeg', 'jpg'),
  image('image/png', 'png'),
  image('image/webp', 'webp'),
  image('image/avif', 'avif'),
  image('image/gif', 'gif'),
  image('image/tiff', 'tif'),
  {
    name: 'imagemagick-uncompressed.tif',
    accepted: 'image/tiff',
    bytes: async () => makeTrailingIfdTiff(300, 300),
    width: 300,
    height: 300,
  },
  clip('mp4', 'video/mp4', 'mp4'),
  clip('mov', 'video/quicktime', 'mov'),
  clip('webm', 'video/webm', 'webm'),
  clip('matroska', 'video/x-matroska', 'mkv'),
  clip('matroska', 'video/x-matroska', 'mkv', 'video/matroska'),
];

const outputsOf = (accepted: string) =>
  accepted.startsWith('image/') ? ['large', 'medium', 'thumb'] : ['poster'];

describe('every type the default preset accepts, end to end', () => {
  it('has a sample for each accepted type', async () => {
    const { body } = await call<{ presets: Array<{ name: string; accept: string[] }> }>(
      'GET',
      '/api/presets/',
    );
    const accepted = body.presets.find((preset) => preset.name === 'default')?.accept;

    expect(accepted?.length).toBeGreaterThan(0);
    expect(new Set(SAMPLES.map((sample) => sample.accepted))).toEqual(new Set(accepted));
  });

  it('takes a real file of each through the presigned upload to done, with its outputs', async () => {
    // Prepare
    const files = await Promise.all(SAMPLES.map((sample) => sample.bytes()));

    // Act: all at once, so the suite pays for one pipeline run rather than twelve
    const jobs = await Promise.all(
      SAMPLES.map(async (sample, index) => {
        const bytes = files[index] as Buffer;
        const id = await upload(bytes, {
          file_name: sample.name,
          content_type: sample.declared ?? sample.accepted,
        });
        return waitForJob(id, ['done', 'failed'], 90_000);
      }),
    );

    // Assess
    for (const [index, sample] of SAMPLES.entries()) {
      const job = jobs[index];
      const label = `${sample.name} declared ${sample.declared ?? sample.accepted}`;
      expect.soft(job, label).toMatchObject({ status: 'done', error: null });
      expect.soft(job?.result, label).toMatchObject({ width: sample.width, height: sample.height });
      expect.soft(Object.keys(job?.result_urls ?? {}).sort(), label).toEqual(outputsOf(sample.accepted));
    }
    const poster = await download(
      jobs[SAMPLES.findIndex((s) => s.accepted === 'video/x-matroska')]?.result_urls?.poster ?? '',
    );
    expect(await sharp(poster).metadata()).toMatchObject({ format: 'jpeg', width: 160, height: 120 });
  });

  const heicReason = heicUnsupportedReason();
  it.skipIf(heicReason !== undefined)(
    `HEIC is ${heicReason ? `not accepted: ${heicReason}` : 'decoded by the image function, so presets should accept it'}`,
    async () => {
      const heic = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#c03' } })
        .heif({ compression: 'hevc' })
        .toBuffer();

      const job = await waitForJob(
        await upload(heic, { file_name: 'photo.heic', content_type: 'image/heic' }),
      );

      expect(job.status).toBe('done');
    },
  );
});
