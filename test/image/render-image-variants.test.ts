import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { PermanentMediaError } from '#shared/errors';
import { findPreset, type ImageVariantSpec } from '#shared/presets';
import { renderImageVariants } from '../../functions/image/render-image-variants.ts';

const maxPixels = 100_000_000;

const presetVariants = (name: string): ImageVariantSpec[] => {
  const variants = findPreset(name)?.image?.variants;
  if (!variants) throw new Error(`preset ${name} has no image variants`);
  return variants;
};

const variant = (spec: Partial<ImageVariantSpec> & Pick<ImageVariantSpec, 'name'>): ImageVariantSpec => ({
  width: 300,
  height: 300,
  fit: 'inside',
  format: 'jpeg',
  quality: 80,
  ...spec,
});

/**
 * A photograph stand-in: colour gradients with sensor-like noise, which JPEG cannot flatten away, so
 * that decoding costs what a 12 MP photo costs and resampling errors would show. Generated in JS
 * because libvips' noise and blend operations take seconds at this size.
 */
const photographicJpeg = (width: number, height: number): Promise<Buffer> => {
  const pixels = new Uint8ClampedArray(width * height * 3);
  const wave = Float64Array.from({ length: width + height }, (_, i) => 128 + 100 * Math.sin(i / 150));
  let seed = 0x2545f491;
  for (let y = 0, offset = 0; y < height; y++) {
    const green = (y * 255) / height;
    for (let x = 0; x < width; x++, offset += 3) {
      // xorshift32: Math.random() is several times slower here.
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      const noise = (seed & 31) - 16;
      pixels[offset] = (x * 255) / width + noise;
      pixels[offset + 1] = green + noise;
      pixels[offset + 2] = (wave[x + y] ?? 0) + noise;
    }
  }
  return sharp(Buffer.from(pixels.buffer), { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 85, optimizeCoding: false })
    .toBuffer();
};

const metadataOf = (data: Buffer) => sharp(data).metadata();

const pixelAt = async (data: Buffer, x: number, y: number): Promise<number[]> => {
  const { data: pixels, info } = await sharp(data).raw().toBuffer({ resolveWithObject: true });
  const offset = (y * info.width + x) * info.channels;
  return [...pixels.subarray(offset, offset + info.channels)];
};

/** Peak signal-to-noise ratio of two same-sized images, in dB: above 40 the difference is invisible. */
const psnr = async (a: Buffer, b: Buffer): Promise<number> => {
  const [left, right] = await Promise.all([a, b].map((data) => sharp(data).removeAlpha().raw().toBuffer()));
  if (!left || !right || left.length !== right.length) throw new Error('images differ in size');
  let squared = 0;
  for (let i = 0; i < left.length; i++) squared += ((left[i] ?? 0) - (right[i] ?? 0)) ** 2;
  return 10 * Math.log10(255 ** 2 / (squared / left.length));
};

const failureOf = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => new Error('expected the render to fail, but it succeeded'),
    (error: unknown) => error,
  );

let photo: Buffer;

beforeAll(async () => {
  photo = await photographicJpeg(4000, 3000);
});

describe('renderImageVariants with the presets', () => {
  it('renders the default preset as JPEGs that fit inside 150, 800 and 1600 px with the original aspect ratio', async () => {
    // Act
    const rendered = await renderImageVariants(photo, presetVariants('default'), { maxPixels });

    // Assess
    expect(rendered.original).toEqual({ width: 4000, height: 3000, format: 'jpeg' });
    expect(rendered.variants.map(({ name, width, height }) => ({ name, width, height }))).toEqual([
      { name: 'thumb', width: 150, height: 113 },
      { name: 'medium', width: 800, height: 600 },
      { name: 'large', width: 1600, height: 1200 },
    ]);
    for (const output of rendered.variants) {
      expect(output).toMatchObject({ format: 'jpeg', contentType: 'image/jpeg', extension: 'jpg' });
      expect(output.bytes).toBe(output.data.length);
      const metadata = await metadataOf(output.data);
      expect(metadata).toMatchObject({ format: 'jpeg', width: output.width, height: output.height });
    }
  });

  it('does not enlarge an original smaller than the boxes', async () => {
    // Prepare
    const small = await sharp({ create: { width: 120, height: 90, channels: 3, background: '#3366aa' } })
      .png()
      .toBuffer();

    // Act
    const rendered = await renderImageVariants(small, presetVariants('default'), { maxPixels });

    // Assess
    expect(rendered.variants.map(({ width, height }) => `${width}×${height}`)).toEqual([
      '120×90',
      '120×90',
      '120×90',
    ]);
  });

  it('renders square-webp as a 400×400 WebP crop and a 1200 px WebP', async () => {
    // Act
    const rendered = await renderImageVariants(photo, presetVariants('square-webp'), { maxPixels });

    // Assess
    expect(
      rendered.variants.map(({ name, width, height, format }) => ({ name, width, height, format })),
    ).toEqual([
      { name: 'square', width: 400, height: 400, format: 'webp' },
      { name: 'large', width: 1200, height: 900, format: 'webp' },
    ]);
    for (const output of rendered.variants) {
      expect(output).toMatchObject({
        contentType: 'image/webp',
        extension: 'webp',
        bytes: output.data.length,
      });
      expect(await metadataOf(output.data)).toMatchObject({
        format: 'webp',
        width: output.width,
        height: output.height,
      });
    }
  });

  it('renders avatar as AVIF squares of 64 and 256 px', async () => {
    // Act
    const rendered = await renderImageVariants(photo, presetVariants('avatar'), { maxPixels });

    // Assess
    expect(rendered.variants.map(({ name, width, height }) => `${name} ${width}×${height}`)).toEqual([
      'small 64×64',
      'large 256×256',
    ]);
    for (const output of rendered.variants) {
      expect(output).toMatchObject({ format: 'avif', contentType: 'image/avif', extension: 'avif' });
      // libvips names the AVIF container by its family: HEIF, coded with AV1.
      expect(await metadataOf(output.data)).toMatchObject({ format: 'heif', compression: 'av1' });
    }
  });

  it('enlarges a small original to fill a cover box exactly', async () => {
    // Prepare
    const small = await sharp({ create: { width: 50, height: 40, channels: 3, background: '#aa3366' } })
      .png()
      .toBuffer();

    // Act
    const rendered = await renderImageVariants(small, presetVariants('avatar'), { maxPixels });

    // Assess
    expect(rendered.variants.map(({ width, height }) => `${width}×${height}`)).toEqual(['64×64', '256×256']);
  });
});

describe('renderImageVariants quality', () => {
  it('derives smaller variants without visible loss against resizing the original directly', async () => {
    // Prepare: lossless output, so that only the resampling differs.
    const variants = [
      variant({ name: 'large', width: 1000, height: 1000, format: 'png' }),
      variant({ name: 'small', width: 500, height: 500, format: 'png' }),
    ];
    const direct = await sharp(photo).resize(500, 375, { fit: 'fill' }).png().toBuffer();

    // Act
    const rendered = await renderImageVariants(photo, variants, { maxPixels });

    // Assess
    const small = rendered.variants.find((output) => output.name === 'small');
    expect(small).toMatchObject({ width: 500, height: 375 });
    expect(await psnr(small?.data ?? Buffer.alloc(0), direct)).toBeGreaterThan(40);
  });

  it('keeps full detail on the cropped axis of a cover variant that needs more pixels than the others', async () => {
    // Prepare: a wide strip needs the original at 0.3 scale, although the other variant needs only 0.1.
    const variants = [
      variant({ name: 'strip', width: 1200, height: 100, fit: 'cover', format: 'png' }),
      variant({ name: 'thumb', width: 400, height: 400, format: 'png' }),
    ];
    const direct = await sharp(photo)
      .resize(1200, 100, { fit: 'cover', position: sharp.strategy.attention })
      .png()
      .toBuffer();

    // Act
    const rendered = await renderImageVariants(photo, variants, { maxPixels });

    // Assess
    const strip = rendered.variants.find((output) => output.name === 'strip');
    expect(strip).toMatchObject({ width: 1200, height: 100 });
    expect(await psnr(strip?.data ?? Buffer.alloc(0), direct)).toBeGreaterThan(40);
  });
});

describe('renderImageVariants orientation, metadata and transparency', () => {
  let rotatedWithGps: Buffer;

  beforeAll(async () => {
    // Stored landscape 600×400, red on the left and blue on the right; EXIF orientation 6 means "rotate
    // 90° clockwise to display", so it is shown as a 400×600 portrait, red on top and blue below.
    const halves = await sharp({ create: { width: 300, height: 400, channels: 3, background: '#0000ff' } })
      .png()
      .toBuffer();
    rotatedWithGps = await sharp({ create: { width: 600, height: 400, channels: 3, background: '#ff0000' } })
      .composite([{ input: halves, left: 300, top: 0 }])
      .withExif({
        IFD0: { Make: 'TestCam', Model: 'Field Unit' },
        IFD3: {
          GPSLatitudeRef: 'N',
          GPSLatitude: '51/1 30/1 3230/100',
          GPSLongitudeRef: 'W',
          GPSLongitude: '0/1 7/1 4366/100',
        },
      })
      .withXmp(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>',
      )
      .withMetadata({ orientation: 6 })
      .jpeg()
      .toBuffer();
  });

  it('applies EXIF orientation, in the intermediate and in the single-pipeline path alike', async () => {
    // Prepare
    expect(await metadataOf(rotatedWithGps)).toMatchObject({ width: 600, height: 400, orientation: 6 });

    // Act
    const several = await renderImageVariants(rotatedWithGps, presetVariants('default'), { maxPixels });
    const single = await renderImageVariants(rotatedWithGps, [variant({ name: 'only' })], { maxPixels });

    // Assess
    expect(several.original).toEqual({ width: 400, height: 600, format: 'jpeg' });
    const medium = several.variants.find((output) => output.name === 'medium');
    expect(medium).toMatchObject({ width: 400, height: 600 });
    expect(single.variants[0]).toMatchObject({ width: 200, height: 300 });
    for (const output of [medium, single.variants[0]]) {
      const data = output?.data ?? Buffer.alloc(0);
      const { width = 0, height = 0 } = await metadataOf(data);
      const [top, bottom] = await Promise.all([
        pixelAt(data, width / 2, 10),
        pixelAt(data, width / 2, height - 10),
      ]);
      expect(top?.[0]).toBeGreaterThan(200);
      expect(bottom?.[2]).toBeGreaterThan(200);
    }
  });

  it('strips EXIF, GPS and XMP from every output format', async () => {
    // Prepare
    const input = await metadataOf(rotatedWithGps);
    expect(input.exif).toBeDefined();
    expect(input.xmp).toBeDefined();
    const variants = (['jpeg', 'webp', 'avif', 'png'] as const).map((format) =>
      variant({ name: format, width: 200, height: 200, format }),
    );

    // Act
    const rendered = await renderImageVariants(rotatedWithGps, variants, { maxPixels });

    // Assess
    for (const output of rendered.variants) {
      const metadata = await metadataOf(output.data);
      expect(metadata.exif, output.name).toBeUndefined();
      expect(metadata.xmp, output.name).toBeUndefined();
      expect(metadata.orientation, output.name).toBeUndefined();
    }
  });

  it('flattens transparency onto white for JPEG and keeps it for WebP', async () => {
    // Prepare: transparent all over but for an opaque green square in the middle.
    const square = await sharp({ create: { width: 200, height: 200, channels: 4, background: '#00ff00ff' } })
      .png()
      .toBuffer();
    const withAlpha = await sharp({
      create: { width: 400, height: 400, channels: 4, background: '#00000000' },
    })
      .composite([{ input: square, left: 100, top: 100 }])
      .png()
      .toBuffer();
    const variants = [
      variant({ name: 'opaque', width: 200, height: 200, format: 'jpeg' }),
      variant({ name: 'transparent', width: 200, height: 200, format: 'webp' }),
    ];

    // Act
    const rendered = await renderImageVariants(withAlpha, variants, { maxPixels });

    // Assess
    const [jpeg, webp] = rendered.variants.map((output) => output.data);
    expect(await metadataOf(jpeg ?? Buffer.alloc(0))).toMatchObject({ format: 'jpeg', hasAlpha: false });
    expect(await pixelAt(jpeg ?? Buffer.alloc(0), 5, 5)).toEqual([255, 255, 255]);
    expect(await metadataOf(webp ?? Buffer.alloc(0))).toMatchObject({ format: 'webp', hasAlpha: true });
    expect((await pixelAt(webp ?? Buffer.alloc(0), 5, 5))[3]).toBe(0);
    expect((await pixelAt(webp ?? Buffer.alloc(0), 100, 100))[3]).toBe(255);
  });

  it('renders the first frame of an animated GIF as a still image', async () => {
    // Prepare: three 64×48 frames, red, green and blue.
    const frame = 64 * 48 * 3;
    const frames = Buffer.alloc(frame * 3);
    for (let index = 0; index < 3; index++) {
      for (let pixel = 0; pixel < 64 * 48; pixel++) frames[index * frame + pixel * 3 + index] = 255;
    }
    const gif = await sharp(frames, { raw: { width: 64, height: 48 * 3, channels: 3, pageHeight: 48 } })
      .gif()
      .toBuffer();
    expect(await metadataOf(gif)).toMatchObject({ pages: 3 });

    // Act
    const rendered = await renderImageVariants(gif, presetVariants('square-webp'), { maxPixels });

    // Assess
    expect(rendered.original).toEqual({ width: 64, height: 48, format: 'gif' });
    const large = rendered.variants.find((output) => output.name === 'large')?.data ?? Buffer.alloc(0);
    const metadata = await metadataOf(large);
    expect(metadata).toMatchObject({ width: 64, height: 48 });
    expect(metadata.pages ?? 1).toBe(1);
    const [red = 0, green = 0, blue = 0] = await pixelAt(large, 32, 24);
    expect(red).toBeGreaterThan(240);
    expect(green + blue).toBeLessThan(16);
  });
});

describe('renderImageVariants refusals', () => {
  const variants = [
    variant({ name: 'thumb', width: 100, height: 100 }),
    variant({ name: 'big', width: 800, height: 800 }),
  ];

  it('refuses an image over the pixel cap, saying its size and the cap', async () => {
    // Act
    const error = await failureOf(renderImageVariants(photo, variants, { maxPixels: 1_000_000 }));

    // Assess
    expect(error).toBeInstanceOf(PermanentMediaError);
    expect(error).toMatchObject({
      code: 'Media::TooManyPixels',
      message: 'the image is 4000×3000 pixels (12 MP); the limit is 1 MP',
    });
  });

  it('refuses a truncated JPEG as corrupt', async () => {
    // Prepare
    const truncated = photo.subarray(0, Math.floor(photo.length * 0.6));

    // Act
    const error = await failureOf(renderImageVariants(truncated, variants, { maxPixels }));

    // Assess
    expect(error).toBeInstanceOf(PermanentMediaError);
    expect(error).toMatchObject({ code: 'Media::Corrupt' });
  });

  it('refuses a truncated TIFF as corrupt, although libvips no longer recognises it', async () => {
    // Prepare: uncompressed TIFF keeps its directory at the end, which truncation removes.
    const tiff = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#123456' } })
      .tiff()
      .toBuffer();

    // Act
    const error = await failureOf(
      renderImageVariants(tiff.subarray(0, tiff.length / 2), variants, { maxPixels }),
    );

    // Assess
    expect(error).toMatchObject({ code: 'Media::Corrupt' });
  });

  it('refuses an empty file as corrupt', async () => {
    // Act
    const error = await failureOf(renderImageVariants(Buffer.alloc(0), variants, { maxPixels }));

    // Assess
    expect(error).toMatchObject({ code: 'Media::Corrupt', message: 'the file is empty' });
  });

  it('accepts a JPEG with a recoverable decoder warning (extraneous bytes before a marker)', async () => {
    // Prepare: phones and cameras write such files; failOn 'warning' would refuse them.
    const startOfScan = photo.indexOf(Buffer.from([0xff, 0xda]));
    const noisy = Buffer.concat([
      photo.subarray(0, startOfScan),
      Buffer.from([1, 2, 3]),
      photo.subarray(startOfScan),
    ]);

    // Act
    const rendered = await renderImageVariants(noisy, variants, { maxPixels });

    // Assess
    expect(rendered.variants.map(({ width, height }) => `${width}×${height}`)).toEqual(['100×75', '800×600']);
  });

  it.each([
    ['a text file', Buffer.from('name,size\nholiday.jpg,123\n')],
    [
      'an SVG document',
      Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><rect width="100" height="100" fill="red"/></svg>',
      ),
    ],
    [
      'a PDF document',
      Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n'),
    ],
    ['a vips image', Buffer.concat([Buffer.from([0x08, 0xf2, 0xa6, 0xb6]), Buffer.alloc(60)])],
  ])('refuses %s as unsupported', async (_, input) => {
    // sharp ships librsvg, so only the loader allow-list keeps the SVG out.
    // Act
    const error = await failureOf(renderImageVariants(input, variants, { maxPixels }));

    // Assess
    expect(error).toBeInstanceOf(PermanentMediaError);
    expect(error).toMatchObject({
      code: 'Media::Unsupported',
      message: 'the file is not an image in a format we accept (JPEG, PNG, WebP, AVIF, GIF or TIFF)',
    });
  });
});
