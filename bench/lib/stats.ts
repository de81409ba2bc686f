/** Summaries of repeated measurements: the machines are noisy, so every figure is a median with its range. */

export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

const sorted = (values: readonly number[]): number[] => [...values].sort((a, b) => a - b);

/** Nearest-rank percentile (p in 0–100) of a non-empty list. */
export const percentile = (values: readonly number[], p: number): number => {
  if (values.length === 0) return Number.NaN;
  const ordered = sorted(values);
  const rank = Math.ceil((p / 100) * ordered.length);
  return ordered[Math.min(ordered.length - 1, Math.max(0, rank - 1))] as number;
};

export const median = (values: readonly number[]): number => {
  if (values.length === 0) return Number.NaN;
  const ordered = sorted(values);
  const middle = Math.floor(ordered.length / 2);
  return ordered.length % 2 === 1
    ? (ordered[middle] as number)
    : ((ordered[middle - 1] as number) + (ordered[middle] as number)) / 2;
};

export const summarize = (values: readonly number[]): Summary => ({
  median: median(values),
  min: values.length ? Math.min(...values) : Number.NaN,
  max: values.length ? Math.max(...values) : Number.NaN,
  n: values.length,
});

/** `123 (110–140)`: median and range, with the given number of decimals. */
export const formatSummary = (summary: Summary, decimals = 0): string => {
  if (!Number.isFinite(summary.median)) return '–';
  const value = (x: number) => x.toFixed(decimals);
  return summary.n > 1
    ? `${value(summary.median)} (${value(summary.min)}–${value(summary.max)})`
    : value(summary.median);
};

export const formatNumber = (value: number | undefined, decimals = 0): string =>
  value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(decimals);

export const formatRatio = (value: number | undefined): string =>
  value === undefined || !Number.isFinite(value) ? '–' : `${value.toFixed(2)}×`;

export const formatBytes = (bytes: number): string => {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(0)} KiB`;
  return `${bytes} B`;
};
