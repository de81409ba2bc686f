/** How the page words sizes, times and rates. Binary units, named as such (README: "4 MiB"). */

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

export const formatBytes = (bytes: number): string => {
  if (!Number.isFinite(bytes) || bytes < 0) return '–';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 || Number.isInteger(value) ? 0 : 1;
  return `${value.toFixed(digits)} ${BYTE_UNITS[unit]}`;
};

/** `0:07`, `3:25`, `1:02:03`. */
export const formatDuration = (seconds: number): string => {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  const total = Math.round(seconds);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = String(total % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${rest}` : `${minutes}:${rest}`;
};

/** A limit in words: `1 hour`, `90 minutes`, `45 seconds`. */
export const formatSpan = (seconds: number): string => {
  const plural = (count: number, unit: string) => `${count} ${unit}${count === 1 ? '' : 's'}`;
  if (seconds >= 3600 && seconds % 3600 === 0) return plural(seconds / 3600, 'hour');
  if (seconds >= 60 && seconds % 60 === 0) return plural(seconds / 60, 'minute');
  return plural(seconds, 'second');
};

/** Bits per second, in kbit/s or Mbit/s (decimal, as bit rates always are). */
export const formatBitrate = (bitsPerSecond: number): string =>
  bitsPerSecond >= 1_000_000
    ? `${(bitsPerSecond / 1_000_000).toFixed(1)} Mbit/s`
    : `${Math.round(bitsPerSecond / 1000)} kbit/s`;

export const formatFrameRate = (fps: number): string =>
  `${Number.isInteger(fps) ? fps : fps.toFixed(2).replace(/0$/, '')} fps`;

export const formatDimensions = (width: number, height: number): string => `${width} × ${height}`;

/** `42%` of an upload; 100% only once every byte is sent. */
export const formatPercent = (sent: number, total: number): string => {
  if (total <= 0) return '0%';
  const percent = Math.floor((sent / total) * 100);
  return `${sent >= total ? 100 : Math.min(percent, 99)}%`;
};
