import { type MediaLimits, type PresetsFile, presetsConfig } from '#shared/presets';

export interface PresetView {
  name: string;
  description: string;
  accept: string[];
  image: { variants: NonNullable<PresetsFile['presets'][string]['image']>['variants'] } | null;
  video: { poster: NonNullable<PresetsFile['presets'][string]['video']>['poster'] } | null;
}

export interface PresetListing {
  presets: PresetView[];
  limits: MediaLimits & { direct_upload_max_bytes: number };
}

/** What a client needs to choose a preset and size its upload, straight from presets.json. */
export const listPresets = (
  options: { directUploadMaxBytes: number },
  presets: PresetsFile = presetsConfig,
): PresetListing => ({
  presets: Object.entries(presets.presets).map(([name, preset]) => ({
    name,
    description: preset.description,
    accept: [...preset.accept],
    image: preset.image ? { variants: preset.image.variants } : null,
    video: preset.video ? { poster: preset.video.poster } : null,
  })),
  limits: { ...presets.limits, direct_upload_max_bytes: options.directUploadMaxBytes },
});
