import { h } from './dom.ts';
import { formatBitrate, formatBytes, formatDimensions, formatDuration, formatFrameRate } from './format.ts';

/**
 * What a done job shows: its image variants, or its video poster with the metadata. The job's `result`
 * arrives as JSON: each field is checked before use, and anything unexpected is left out rather than
 * shown as "undefined".
 */

export interface JobOutputs {
  file_name: string;
  result: Record<string, unknown> | null;
  result_urls: Record<string, string> | null;
}

const numberOf = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? value : undefined;
const textOf = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : undefined;

interface Variant {
  name: string;
  width: number;
  height: number;
  format: string;
  bytes: number | undefined;
}

const variantsOf = (result: Record<string, unknown>): Variant[] | undefined => {
  if (!Array.isArray(result.variants)) return undefined;
  return result.variants.flatMap((item: unknown): Variant[] => {
    if (typeof item !== 'object' || item === null) return [];
    const record = item as Record<string, unknown>;
    const name = textOf(record.name);
    const width = numberOf(record.width);
    const height = numberOf(record.height);
    if (!name || width === undefined || height === undefined) return [];
    return [{ name, width, height, format: textOf(record.format) ?? '', bytes: numberOf(record.bytes) }];
  });
};

/** A picture that opens full size in a new tab; its size is reserved before it loads. */
const picture = (url: string, alt: string, width: number, height: number, caption: (Node | string)[]) =>
  h(
    'figure',
    { class: 'output' },
    h(
      'a',
      { href: url, target: '_blank', rel: 'noopener noreferrer', class: 'output-link' },
      h('img', { src: url, alt, width, height, decoding: 'async' }),
    ),
    h('figcaption', {}, ...caption),
  );

const imageResults = (job: JobOutputs, result: Record<string, unknown>, variants: Variant[]) => {
  const urls = job.result_urls ?? {};
  const width = numberOf(result.width);
  const height = numberOf(result.height);
  const format = textOf(result.format)?.toUpperCase();
  const summary =
    width !== undefined && height !== undefined
      ? `Original ${formatDimensions(width, height)}${format ? ` ${format}` : ''} · ${variants.length} variant${variants.length === 1 ? '' : 's'}`
      : `${variants.length} variant${variants.length === 1 ? '' : 's'}`;
  return h(
    'div',
    { class: 'results' },
    h('p', { class: 'results-summary' }, summary),
    h(
      'ul',
      { class: 'outputs', 'aria-label': `Variants of ${job.file_name}` },
      ...variants.map((variant) => {
        const url = urls[variant.name];
        const size = formatDimensions(variant.width, variant.height);
        const details = [
          size,
          variant.format.toUpperCase(),
          variant.bytes !== undefined ? formatBytes(variant.bytes) : '',
        ]
          .filter(Boolean)
          .join(' · ');
        const caption = [h('strong', {}, variant.name), ` ${details}`];
        return h(
          'li',
          {},
          url
            ? picture(
                url,
                `${variant.name} variant of ${job.file_name}, ${size}`,
                variant.width,
                variant.height,
                caption,
              )
            : h('p', {}, ...caption, ' (no link)'),
        );
      }),
    ),
  );
};

const videoResults = (job: JobOutputs, result: Record<string, unknown>) => {
  const posterUrl = job.result_urls?.poster;
  const width = numberOf(result.width);
  const height = numberOf(result.height);
  const posterWidth = numberOf(result.poster_width);
  const posterHeight = numberOf(result.poster_height);
  const posterAt = numberOf(result.poster_at_second);
  const duration = numberOf(result.duration);
  const frameRate = numberOf(result.frame_rate);
  const bitrate = numberOf(result.bitrate);

  const rows: [string, string | undefined][] = [
    ['Duration', duration !== undefined ? formatDuration(duration) : undefined],
    ['Resolution', width !== undefined && height !== undefined ? formatDimensions(width, height) : undefined],
    ['Video codec', textOf(result.codec)],
    ['Frame rate', frameRate !== undefined ? formatFrameRate(frameRate) : undefined],
    ['Bit rate', bitrate !== undefined ? formatBitrate(bitrate) : undefined],
    ['Audio codec', textOf(result.audio_codec) ?? 'none'],
    ['Container', textOf(result.container)],
  ];
  const posterSize =
    posterWidth !== undefined && posterHeight !== undefined
      ? formatDimensions(posterWidth, posterHeight)
      : '';
  const posterCaption = [
    h('strong', {}, 'poster'),
    ` ${[posterSize, posterAt !== undefined ? `at ${posterAt} s` : ''].filter(Boolean).join(' ')}`,
  ];
  return h(
    'div',
    { class: 'results results-video' },
    posterUrl && posterWidth !== undefined && posterHeight !== undefined
      ? picture(
          posterUrl,
          `Poster of ${job.file_name}${posterAt !== undefined ? ` at ${posterAt} s` : ''}`,
          posterWidth,
          posterHeight,
          posterCaption,
        )
      : null,
    h(
      'dl',
      { class: 'metadata', 'aria-label': `Video metadata of ${job.file_name}` },
      ...rows.flatMap(([term, value]) =>
        value === undefined ? [] : [h('dt', {}, term), h('dd', {}, value)],
      ),
    ),
  );
};

/** The outputs of a done job, or a note when its result has a shape the page does not know. */
export const renderResults = (job: JobOutputs): HTMLElement => {
  const result = job.result;
  if (!result) return h('p', { class: 'results-summary' }, 'Done, with no outputs to show.');
  const variants = variantsOf(result);
  if (variants) return imageResults(job, result, variants);
  if ('poster' in result) return videoResults(job, result);
  return h('p', { class: 'results-summary' }, 'Done.');
};
