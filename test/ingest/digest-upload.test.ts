import { fileTypeFromBuffer } from 'file-type';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { digestUpload, sniffMediaType } from '#ingest/digest-upload';
import {
  canonicalMediaType,
  IMAGE_TYPES,
  MEDIA_TYPE_ALIASES,
  presetsConfig,
  VIDEO_TYPES,
} from '#shared/presets';
import {
  heicUnsupportedReason,
  makeClip,
  makeImage,
  makeTrailingIfdTiff,
  SHARP_IMAGE_TYPES,
  type VideoContainer,
} from '#test/media';

/** The bytes as an object body arrives, in chunks of `size`. */
async function* chunked(bytes: Buffer, size: number): AsyncIterable<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size);
}

const sniff = async (bytes: Buffer, chunkSize = 64 * 1024) =>
  sniffMediaType(await digestUpload(chunked(bytes, chunkSize)));

/** An ISO BMFF file type box with its major and compatible brands, and a little padding after it. */
const ftyp = (major: string, compatible: string[]) => {
  const box = Buffer.alloc(16 + 4 * compatible.length);
  box.writeUInt32BE(box.length, 0);
  box.write(`ftyp${major}`, 4, 'latin1');
  for (const [index, brand] of compatible.entries()) box.write(brand, 16 + 4 * index, 'latin1');
  return Buffer.concat([box, Buffer.alloc(64)]);
};

describe('sniffMediaType', () => {
  const clips: Array<[VideoContainer, string, string]> = [
    ['mp4', 'video/mp4', 'video/mp4'],
    ['mov', 'video/quicktime', 'video/quicktime'],
    ['webm', 'video/webm', 'video/webm'],
    ['matroska', 'video/matroska', 'video/x-matroska'],
  ];

  it.each(clips)('names a real %s clip as presets do', async (container, fileTypeSays, expected) => {
    const bytes = await makeClip(container, { seconds: 1 });

    expect((await fileTypeFromBuffer(bytes))?.mime).toBe(fileTypeSays);
    expect(await sniff(bytes)).toBe(expected);
  });

  it.each(Object.keys(SHARP_IMAGE_TYPES) as Array<keyof typeof SHARP_IMAGE_TYPES>)(
    'names a real %s image as presets do',
    async (type) => {
      expect(await sniff(await makeImage(type))).toBe(type);
    },
  );

  it('maps every alias to a type the pipeline processes, and the presets accept only types it sniffs', () => {
    const processed: readonly string[] = [...IMAGE_TYPES, ...VIDEO_TYPES];

    expect(Object.values(MEDIA_TYPE_ALIASES).every((type) => processed.includes(type))).toBe(true);
    expect(canonicalMediaType('video/matroska')).toBe('video/x-matroska');
    expect(canonicalMediaType('video/x-m4v')).toBe('video/mp4');
    expect(canonicalMediaType('image/apng')).toBe('image/png');
    expect(canonicalMediaType('image/jpeg')).toBe('image/jpeg');
    for (const preset of Object.values(presetsConfig.presets)) {
      expect(preset.accept.every((type) => processed.includes(type))).toBe(true);
    }
  });

  it('takes HEIF whose brands say AV1 as AVIF, and leaves HEIC and other HEIF as they are (refused by ingest)', async () => {
    expect(await sniff(ftyp('mif1', ['mif1', 'miaf', 'avif']))).toBe('image/avif');
    expect(await sniff(ftyp('mif1', ['mif1', 'heic']))).toBe('image/heif');
    expect(await sniff(ftyp('heic', ['mif1', 'heic']))).toBe('image/heic');
  });

  it('knows whether the image function can decode HEIC, from sharp itself', () => {
    const reason = heicUnsupportedReason();
    const readsHeic = (sharp.format.heif?.input.fileSuffix ?? []).includes('.heic');

    expect(reason === undefined).toBe(readsHeic);
    // What ingest does with a HEIC either way: it is not a type presets can name.
    expect((IMAGE_TYPES as readonly string[]).includes('image/heic')).toBe(false);
  });

  describe('a TIFF whose first IFD follows its pixels (ImageMagick -compress none)', () => {
    it.each([
      ['little-endian', false],
      ['big-endian', true],
    ])('is image/tiff when %s, whatever the chunks it streams in', async (_order, bigEndian) => {
      // Prepare: 270,000 bytes of pixels put the IFD four times past the sniffed prefix
      const tiff = makeTrailingIfdTiff(300, 300, { bigEndian });

      // Act
      const [whole, inSmallChunks, inOddChunks] = await Promise.all([
        sniff(tiff),
        sniff(tiff, 1000),
        sniff(tiff, 7),
      ]);

      // Assess: file-type alone gives up; ingest does not; libvips reads it as the picture it is
      expect(await fileTypeFromBuffer(tiff.subarray(0, 64 * 1024))).toBeUndefined();
      expect([whole, inSmallChunks, inOddChunks]).toEqual(['image/tiff', 'image/tiff', 'image/tiff']);
      const { info } = await sharp(tiff).raw().toBuffer({ resolveWithObject: true });
      expect(info).toMatchObject({ width: 300, height: 300, channels: 3 });
    });

    it('keeps the prefix and the bytes from the IFD on, not the file', async () => {
      const tiff = makeTrailingIfdTiff(300, 300);
      const ifdOffset = tiff.readUInt32LE(4);

      const digest = await digestUpload(chunked(tiff, 4096));

      expect(digest.head.length).toBe(64 * 1024);
      expect(digest.tiffIfd).toEqual(tiff.subarray(ifdOffset));
      expect(ifdOffset).toBeGreaterThan(4 * 64 * 1024);
    });

    it('is nothing known when the IFD offset points past the end of the file', async () => {
      const tiff = makeTrailingIfdTiff(300, 300);
      tiff.writeUInt32LE(tiff.length + 10, 4);

      expect(await sniff(tiff)).toBeUndefined();
    });

    it('is nothing known when the bytes at the IFD offset are no image directory', async () => {
      const fake = Buffer.concat([
        Buffer.from('II*\0', 'latin1'),
        Buffer.alloc(4),
        Buffer.alloc(100_000, 'x'),
      ]);
      fake.writeUInt32LE(90_000, 4);

      expect(await sniff(fake)).toBeUndefined();
    });
  });
});
