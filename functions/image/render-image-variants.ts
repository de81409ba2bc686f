import sharp, { type FailOnOptions, type Sharp, type SharpOptions } from 'sharp';
import { PermanentMediaError } from '#shared/errors';
import type { ImageVariantSpec } from '#shared/presets';

export type OutputFormat = ImageVariantSpec['format'];

export type RenderedVariant = {
  name: string;
  width: number;
  height: number;
  format: OutputFormat;
  /** Size of `data`, in bytes. */
  bytes: number;
  contentType: string;
  /** File extension without the dot, e.g. `jpg`. */
  extension: string;
  data: Buffer;
};

export type RenderedImage = {
  /** Displayed dimensions (after EXIF orientation) and the decoder's name (`avif` for AV1-coded HEIF). */
  original: { width: number; height: number; format: string };
  variants: RenderedVariant[];
};

/**
 * Upload bytes are untrusted and libvips sniffs the loader from the bytes, not from the declared type,
 * so a file sent as image/jpeg can still reach any loader libvips ships: SVG (an XML document that
 * librsvg renders, with entity expansion and external references), PDF, ImageMagick, FITS, CSV/matrix
 * text, its own .vips format and more. Every loader is attack surface (sharp < 0.35 inherited libvips
 * CVEs in GIF, TIFF and VIPS loaders), so we block the whole VipsForeignLoad family and unblock only the
 * buffer loaders for the formats presets can accept. UltraHDR JPEGs stay on jpegload (uhdrload is not
 * unblocked): they decode as their SDR base image. The block is process-wide libvips state, set once at
 * module load; raw pixel input (sharp(buffer, { raw })) is not a loader and is unaffected.
 */
const ALLOWED_LOADERS = [
  'VipsForeignLoadJpegBuffer',
  'VipsForeignLoadPngBuffer',
  'VipsForeignLoadWebpBuffer',
  'VipsForeignLoadHeifBuffer',
  'VipsForeignLoadNsgifBuffer',
  'VipsForeignLoadTiffBuffer',
];
sharp.block({ operation: ['VipsForeignLoad'] });
sharp.unblock({ operation: ALLOWED_LOADERS });

/** Decoder names (sharp's `metadata().format`) we accept; the loader block above is the real gate. */
const ACCEPTED_FORMATS = new Set(['jpeg', 'png', 'webp', 'heif', 'gif', 'tiff']);
const ACCEPTED_LIST = 'JPEG, PNG, WebP, AVIF, GIF or TIFF';

/**
 * `error` refuses truncated files and decoder errors. `warning` would also refuse recoverable libjpeg
 * warnings such as "N extraneous bytes before marker", which real cameras and phones produce, so
 * perfectly viewable photos would fail; `truncated` would let other decoder errors through.
 */
const FAIL_ON = 'error' satisfies FailOnOptions;

/**
 * Above this, the decoded intermediate (held in memory as raw pixels) costs more memory than decoding
 * once saves CPU, so each variant gets its own streaming pipeline instead. Today's presets need at most
 * 1600×1600×4 bytes (10 MB); only variants of about 4000 px and more reach this.
 */
const MAX_INTERMEDIATE_BYTES = 64 * 1024 * 1024;

const OUTPUT_TYPES: Record<OutputFormat, { contentType: string; extension: string }> = {
  jpeg: { contentType: 'image/jpeg', extension: 'jpg' },
  webp: { contentType: 'image/webp', extension: 'webp' },
  avif: { contentType: 'image/avif', extension: 'avif' },
  png: { contentType: 'image/png', extension: 'png' },
};

type Size = { width: number; height: number };

/**
 * Renders every variant of one uploaded image: EXIF orientation applied, metadata stripped (no EXIF,
 * GPS, XMP or ICC; colours are converted to sRGB), always re-encoded, first frame only for animations.
 *
 * The input is decoded once, at the shrink-on-load scale the most demanding variant needs (libjpeg
 * decodes straight to 1/2, 1/4 or 1/8 scale, libwebp to any scale), into raw pixels at least as large
 * as every variant on both axes; each variant is then resized from those pixels and encoded
 * concurrently. `inside` fits the box without enlarging; `cover` fills the box exactly (enlarging a
 * smaller original) and crops with sharp's attention strategy, which keeps the most salient region
 * (skin, saturation, edges).
 *
 * @throws PermanentMediaError `Media::TooManyPixels`, `Media::Corrupt` or `Media::Unsupported` when the
 *   file can never be processed; anything else (out of memory, say) propagates as it is.
 */
export const renderImageVariants = async (
  input: Buffer,
  variants: readonly ImageVariantSpec[],
  options: { maxPixels: number },
): Promise<RenderedImage> => {
  const { maxPixels } = options;
  if (!Number.isInteger(maxPixels) || maxPixels <= 0) {
    throw new RangeError(`maxPixels must be a positive integer, got ${maxPixels}`);
  }
  const sourceOptions: SharpOptions = {
    failOn: FAIL_ON,
    limitInputPixels: maxPixels,
    autoOrient: true,
    pages: 1,
    page: 0,
  };

  const original = await readHeader(input, maxPixels);
  const targets = variants.map((spec) => ({ spec, size: targetSize(original, spec) }));
  const intermediate = intermediateSize(original, variants);
  const result = (rendered: RenderedVariant[]): RenderedImage => ({
    original: { width: original.width, height: original.height, format: original.format },
    variants: rendered,
  });

  if (variants.length <= 1 || intermediate.width * intermediate.height * 4 > MAX_INTERMEDIATE_BYTES) {
    const rendered: RenderedVariant[] = [];
    // One at a time: this path exists to bound memory, and a single variant has nothing to overlap with.
    for (const { spec, size } of targets) {
      const pipeline = sharp(input, sourceOptions);
      rendered.push(await asMediaError(input, encodeVariant(pipeline, original, spec, size)));
    }
    return result(rendered);
  }

  let decode = sharp(input, sourceOptions);
  if (!sameSize(intermediate, original)) {
    decode = decode.resize(intermediate.width, intermediate.height, { fit: 'fill' });
  }
  const { data, info } = await asMediaError(
    input,
    decode.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true }),
  );
  const raw = { width: info.width, height: info.height, channels: rawChannels(info.channels) };
  return result(
    await Promise.all(
      targets.map(({ spec, size }) =>
        // Our own pixels, already checked against maxPixels: no loader and no pixel cap involved.
        encodeVariant(sharp(data, { raw, limitInputPixels: false }), raw, spec, size),
      ),
    ),
  );
};

type Header = Size & { format: string };

/** Reads dimensions and format from the header alone, so that refusals say what they refuse. */
const readHeader = async (input: Buffer, maxPixels: number): Promise<Header> => {
  if (input.length === 0) {
    throw new PermanentMediaError('Media::Corrupt', 'the file is empty');
  }
  // limitInputPixels: false here so that an oversized image is reported with its dimensions below.
  const metadata = await asMediaError(
    input,
    sharp(input, { failOn: FAIL_ON, limitInputPixels: false, pages: 1, page: 0 }).metadata(),
  );
  if (!ACCEPTED_FORMATS.has(metadata.format)) throw unsupported();
  // libheif also opens HEIC, but this libvips build has no HEVC decoder: say so before decoding.
  if (metadata.format === 'heif' && metadata.compression !== 'av1') {
    throw new PermanentMediaError(
      'Media::Unsupported',
      `HEIC images are not supported; convert the image to JPEG or AVIF (accepted: ${ACCEPTED_LIST})`,
    );
  }
  const { width, height } = metadata.autoOrient;
  if (width * height > maxPixels) {
    throw new PermanentMediaError(
      'Media::TooManyPixels',
      `the image is ${width}×${height} pixels (${megapixels(width * height)}); the limit is ${megapixels(maxPixels)}`,
    );
  }
  return { width, height, format: metadata.format === 'heif' ? 'avif' : metadata.format };
};

/** The output size a variant gets when rendered from the original. */
const targetSize = (original: Size, spec: ImageVariantSpec): Size => {
  if (spec.fit === 'cover') return { width: spec.width, height: spec.height };
  const scale = Math.min(spec.width / original.width, spec.height / original.height, 1);
  return {
    width: Math.max(1, Math.round(original.width * scale)),
    height: Math.max(1, Math.round(original.height * scale)),
  };
};

/**
 * The smallest uniform scaling of the original from which every variant can be rendered without
 * enlarging it first: for `inside`, the variant's own scale; for `cover`, the scale at which the
 * original covers the box on both axes (so the cropped axis keeps all the pixels it needs). Rounding
 * `n × scale` never drops below a variant's integer size, so the largest variant is the intermediate
 * itself (or a crop of it) and every smaller one is a plain downscale.
 */
const intermediateSize = (original: Size, variants: readonly ImageVariantSpec[]): Size => {
  const needed = variants.map((spec) => {
    const horizontal = spec.width / original.width;
    const vertical = spec.height / original.height;
    return spec.fit === 'cover' ? Math.max(horizontal, vertical) : Math.min(horizontal, vertical);
  });
  const scale = Math.min(1, Math.max(0, ...needed));
  if (scale === 1) return original;
  return {
    width: Math.max(1, Math.round(original.width * scale)),
    height: Math.max(1, Math.round(original.height * scale)),
  };
};

const encodeVariant = async (
  source: Sharp,
  sourceSize: Size,
  spec: ImageVariantSpec,
  size: Size,
): Promise<RenderedVariant> => {
  let pipeline = source;
  if (!sameSize(sourceSize, size)) {
    // `size` was computed from the original, so `fill` here is `inside` without a second rounding.
    pipeline =
      spec.fit === 'cover'
        ? pipeline.resize(size.width, size.height, { fit: 'cover', position: sharp.strategy.attention })
        : pipeline.resize(size.width, size.height, { fit: 'fill' });
  }
  const { data, info } = await encoder(pipeline, spec).toBuffer({ resolveWithObject: true });
  return {
    name: spec.name,
    width: info.width,
    height: info.height,
    format: spec.format,
    bytes: data.length,
    ...OUTPUT_TYPES[spec.format],
    data,
  };
};

const encoder = (pipeline: Sharp, spec: ImageVariantSpec): Sharp => {
  switch (spec.format) {
    case 'jpeg':
      // JPEG has no alpha: composite transparency onto white rather than onto whatever colour it hides.
      return pipeline.flatten({ background: '#ffffff' }).jpeg({ quality: spec.quality });
    case 'webp':
      return pipeline.webp({ quality: spec.quality });
    case 'avif':
      return pipeline.avif({ quality: spec.quality });
    case 'png':
      // Lossless: `quality` does not apply.
      return pipeline.png();
  }
};

/** libvips messages of a loader that gave up on the bytes, as opposed to the process running out of something. */
const CORRUPT_PATTERNS = [
  /^Input buffer has corrupt header/,
  /^VipsJpeg: /m,
  /^vipspng: /m,
  /^gifload/m,
  /^webp: /m,
  /^webp2vips: /m,
  /^heif: /m,
  /^source: bad seek/m,
  /^tiff2vips: /m,
  /^TIFF\w+: /m,
  /Warning treated as error/,
];

const asMediaError = async <T>(input: Buffer, work: Promise<T>): Promise<T> => {
  try {
    return await work;
  } catch (error) {
    throw toMediaError(input, error);
  }
};

const toMediaError = (input: Buffer, error: unknown): unknown => {
  if (!(error instanceof Error)) return error;
  const message = error.message;
  if (/memory/i.test(message)) return error;
  if (/exceeds pixel limit/.test(message)) {
    return new PermanentMediaError(
      'Media::TooManyPixels',
      'the image has more pixels than the limit allows',
      {
        cause: error,
      },
    );
  }
  // A TIFF cut short loses the directory at its end and is no longer recognised as TIFF at all.
  if (/unsupported image format/.test(message))
    return looksAccepted(input) ? corrupt(error) : unsupported(error);
  if (/^heif: Unsupported (feature|codec)/m.test(message)) return unsupported(error);
  if (CORRUPT_PATTERNS.some((pattern) => pattern.test(message))) return corrupt(error);
  return error;
};

const corrupt = (cause: unknown): PermanentMediaError =>
  new PermanentMediaError('Media::Corrupt', 'the image is truncated or corrupt and cannot be read', {
    cause,
  });

const unsupported = (cause?: unknown): PermanentMediaError =>
  new PermanentMediaError(
    'Media::Unsupported',
    `the file is not an image in a format we accept (${ACCEPTED_LIST})`,
    cause === undefined ? undefined : { cause },
  );

/** Magic bytes of the accepted formats, to tell a damaged accepted file from a foreign one. */
const looksAccepted = (input: Buffer): boolean => {
  const ascii = (start: number, end: number) => input.toString('latin1', start, end);
  return (
    input.subarray(0, 3).equals(Buffer.from([0xff, 0xd8, 0xff])) ||
    input.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) ||
    ['GIF87a', 'GIF89a'].includes(ascii(0, 6)) ||
    (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') ||
    ['II*\0', 'MM\0*', 'II+\0', 'MM\0+'].includes(ascii(0, 4)) ||
    (ascii(4, 8) === 'ftyp' && ['avif', 'avis', 'mif1', 'msf1'].includes(ascii(8, 12)))
  );
};

const megapixels = (pixels: number): string => {
  const value = pixels / 1_000_000;
  return `${Number(value.toPrecision(value >= 1 ? 3 : 2))} MP`;
};

const sameSize = (a: Size, b: Size): boolean => a.width === b.width && a.height === b.height;

const rawChannels = (channels: number): 1 | 2 | 3 | 4 => {
  if (channels === 1 || channels === 2 || channels === 3 || channels === 4) return channels;
  throw new Error(`unexpected channel count ${channels} in decoded image`);
};
