import { z } from 'zod';
import presetsFile from '../../presets.json' with { type: 'json' };
import { ConfigError } from './errors.ts';

/** Media types the pipeline can process at all; a preset accepts a subset. */
export const IMAGE_TYPES = [
  'image/jpeg',
  'image/png',
  'image/webp',
  'image/avif',
  'image/gif',
  'image/tiff',
] as const;
export const VIDEO_TYPES = ['video/mp4', 'video/quicktime', 'video/webm', 'video/x-matroska'] as const;
export type MediaType = (typeof IMAGE_TYPES)[number] | (typeof VIDEO_TYPES)[number];
export type MediaKind = 'image' | 'video';

export const mediaKindOf = (type: string): MediaKind | undefined => {
  if ((IMAGE_TYPES as readonly string[]).includes(type)) return 'image';
  if ((VIDEO_TYPES as readonly string[]).includes(type)) return 'video';
  return undefined;
};

const name = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'lowercase letters, digits, _ and -, at most 40');
const outputFormat = z.enum(['jpeg', 'webp', 'avif', 'png']);

const imageVariant = z.strictObject({
  name,
  width: z.number().int().min(1).max(8192),
  height: z.number().int().min(1).max(8192),
  /** inside: fit within the box keeping the aspect ratio, never enlarging; cover: fill the box and crop. */
  fit: z.enum(['inside', 'cover']),
  format: outputFormat,
  quality: z.number().int().min(1).max(100).default(80),
});

const poster = z.strictObject({
  at_second: z.number().min(0).max(86_400),
  width: z.number().int().min(16).max(4096),
  format: z.enum(['jpeg', 'webp']),
  quality: z.number().int().min(1).max(100).default(80),
});

const preset = z
  .strictObject({
    description: z.string().min(1),
    accept: z.array(z.enum([...IMAGE_TYPES, ...VIDEO_TYPES])).min(1),
    image: z.strictObject({ variants: z.array(imageVariant).min(1) }).optional(),
    video: z.strictObject({ poster }).optional(),
  })
  .superRefine((value, ctx) => {
    const kinds = new Set(value.accept.map((type) => mediaKindOf(type)));
    if (kinds.has('image') && !value.image) {
      ctx.addIssue({ code: 'custom', message: 'accepts images but has no "image" section' });
    }
    if (kinds.has('video') && !value.video) {
      ctx.addIssue({ code: 'custom', message: 'accepts videos but has no "video" section' });
    }
    const names = value.image?.variants.map((variant) => variant.name) ?? [];
    if (new Set(names).size !== names.length) {
      ctx.addIssue({ code: 'custom', message: 'variant names must be unique' });
    }
    if (names.includes('poster'))
      ctx.addIssue({ code: 'custom', message: '"poster" is reserved for videos' });
  });

export const presetsFileSchema = z.strictObject({
  limits: z.strictObject({
    image_max_bytes: z.number().int().positive(),
    video_max_bytes: z.number().int().positive(),
    image_max_pixels: z.number().int().positive(),
    video_max_duration_seconds: z.number().positive(),
  }),
  presets: z.record(name, preset).refine((all) => 'default' in all, 'a "default" preset is required'),
});

export type PresetsFile = z.infer<typeof presetsFileSchema>;
export type Preset = z.infer<typeof preset>;
export type ImageVariantSpec = z.infer<typeof imageVariant>;
export type PosterSpec = z.infer<typeof poster>;
export type MediaLimits = PresetsFile['limits'];

export const parsePresets = (raw: unknown): PresetsFile => {
  const parsed = presetsFileSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`presets.json is invalid: ${problems.join('; ')}`);
  }
  return parsed.data;
};

/** The presets every function shares, validated once when the module loads. */
export const presetsConfig: PresetsFile = parsePresets(presetsFile);

export const findPreset = (presetName: string): Preset | undefined =>
  Object.hasOwn(presetsConfig.presets, presetName) ? presetsConfig.presets[presetName] : undefined;

export const maxBytesFor = (kind: MediaKind, limits: MediaLimits = presetsConfig.limits): number =>
  kind === 'image' ? limits.image_max_bytes : limits.video_max_bytes;

/**
 * Every name the sniffer (file-type 21) gives a type the pipeline processes, mapped to the name presets
 * use; the API reads a declared `content_type` through the same table. The types file-type reports for
 * images and videos, and what becomes of them:
 *
 * - the presets' own names: image/jpeg, image/png, image/webp, image/avif, image/gif, image/tiff,
 *   video/mp4, video/quicktime, video/webm;
 * - aliases below: Matroska (file-type says `video/matroska`, presets the long-registered
 *   `video/x-matroska`), M4V (an MP4 brand), APNG (a PNG whose first frame every PNG decoder shows);
 * - image/heif with an AV1 brand is AVIF (see `heifAsAvif`); HEVC-coded HEIF and HEIC are refused:
 *   the image function's libvips (sharp's prebuilt build) has no HEVC decoder;
 * - everything else (3GP, AVI, MPEG, FLV, camera raw, BMP, JPEG 2000, JPEG XL, …) is not processed.
 */
export const MEDIA_TYPE_ALIASES: Readonly<Record<string, MediaType>> = {
  'video/matroska': 'video/x-matroska',
  'video/x-m4v': 'video/mp4',
  'image/apng': 'image/png',
};

/** The presets' name for a media type: `video/matroska` is `video/x-matroska`; others are unchanged. */
export const canonicalMediaType = (type: string): string => MEDIA_TYPE_ALIASES[type] ?? type;
