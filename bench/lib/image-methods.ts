import sharp, { type Sharp } from 'sharp';
import { renderImageVariants } from '../../functions/image/render-image-variants.ts';
import { type ImageVariantSpec, presetsConfig } from '../../functions/shared/presets.ts';

/** The image function's setting: every input is a new file, libvips' operation cache only holds memory. */
sharp.cache(false);

export type OutputFormat = 'jpeg' | 'webp';

const defaultPreset = presetsConfig.presets.default;
if (!defaultPreset?.image) throw new Error('presets.json has no "default" preset with image variants');

/** The default preset's variants (thumb, medium, large), in JPEG as shipped or re-targeted to WebP. */
export const defaultVariants = (format: OutputFormat): ImageVariantSpec[] =>
  (defaultPreset.image?.variants ?? []).map((variant) => ({ ...variant, format }));

/** The project's code path: decode once at the shrink-on-load scale, derive every variant. */
export const renderProject = (input: Buffer, variants: readonly ImageVariantSpec[]) =>
  renderImageVariants(input, variants, { maxPixels: presetsConfig.limits.image_max_pixels });

const encode = (pipeline: Sharp, variant: ImageVariantSpec): Sharp =>
  variant.format === 'jpeg'
    ? pipeline.flatten({ background: '#ffffff' }).jpeg({ quality: variant.quality })
    : pipeline.webp({ quality: variant.quality });

/** What one writes first with sharp: one full pipeline per variant, each decoding the input again. */
export const threePipelines = (input: Buffer, variants: readonly ImageVariantSpec[]) =>
  Promise.all(
    variants.map((variant) =>
      encode(
        sharp(input, { failOn: 'error', autoOrient: true }).resize(variant.width, variant.height, {
          fit: 'inside',
          withoutEnlargement: true,
        }),
        variant,
      ).toBuffer(),
    ),
  );

type Size = { width: number; height: number };

/** Where the largest `inside` variant lands (the size renderImageVariants decodes to). */
export const largestTarget = (original: Size, variants: readonly ImageVariantSpec[]): Size => {
  const scale = Math.min(
    1,
    Math.max(...variants.map((v) => Math.min(v.width / original.width, v.height / original.height))),
  );
  return {
    width: Math.max(1, Math.round(original.width * scale)),
    height: Math.max(1, Math.round(original.height * scale)),
  };
};

/** libjpeg's DCT scaling: the largest of 1/8, 1/4, 1/2 that still covers `target` (libjpeg rounds up). */
export const shrinkOnLoadFactor = (original: Size, target: Size): number => {
  for (const factor of [8, 4, 2]) {
    if (
      Math.ceil(original.width / factor) >= target.width &&
      Math.ceil(original.height / factor) >= target.height
    ) {
      return factor;
    }
  }
  return 1;
};

export interface FloorProbe {
  factor: number;
  /** jpegload at 1/factor, then a small reduce, to raw. */
  decodeAndReduce: () => Promise<unknown>;
  /** The same reduce from pixels already in memory: subtracted, it leaves the decode alone. */
  reduceOnly: () => Promise<unknown>;
}

/**
 * The decode floor, timed with sharp. sharp gives no direct way to call jpegload with `shrink`, and it
 * halves its shrink-on-load whenever the integer part of the shrink equals the factor (its guard against
 * libjpeg rounding, lovell/sharp#3066): asking for exactly 1/2 decodes at full size. Asking for
 * 1/(factor + 1) does load at 1/factor, followed by a reduce of (factor + 1)/factor; the same reduce
 * from pixels in memory is timed too, and the difference is the decode.
 */
export const floorProbe = async (input: Buffer, original: Size, target: Size): Promise<FloorProbe> => {
  const factor = shrinkOnLoadFactor(original, target);
  if (factor === 1) {
    return {
      factor,
      decodeAndReduce: () => sharp(input).raw().toBuffer(),
      reduceOnly: async () => undefined,
    };
  }
  const reduced = {
    width: Math.floor(original.width / (factor + 1)),
    height: Math.floor(original.height / (factor + 1)),
  };
  const loaded = {
    width: Math.ceil(original.width / factor),
    height: Math.ceil(original.height / factor),
  };
  const { data, info } = await sharp(input)
    .resize(loaded.width, loaded.height, { fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const raw = { width: info.width, height: info.height, channels: info.channels as 1 | 2 | 3 | 4 };
  return {
    factor,
    decodeAndReduce: () =>
      sharp(input).resize(reduced.width, reduced.height, { fit: 'fill' }).raw().toBuffer(),
    reduceOnly: () =>
      sharp(data, { raw }).resize(reduced.width, reduced.height, { fit: 'fill' }).raw().toBuffer(),
  };
};

/** renderImageVariants' first step alone: decode (with whatever shrink-on-load sharp grants) to the largest variant. */
export const decodeToIntermediate = (input: Buffer, target: Size) =>
  sharp(input, { failOn: 'error', autoOrient: true })
    .resize(target.width, target.height, { fit: 'fill' })
    .raw()
    .toBuffer();

export const imageSize = async (input: Buffer): Promise<Size> => {
  const metadata = await sharp(input).metadata();
  return metadata.autoOrient;
};
