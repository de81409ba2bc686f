import { describe, expect, it } from 'vitest';
import {
  formatBitrate,
  formatBytes,
  formatDuration,
  formatFrameRate,
  formatPercent,
  formatSpan,
} from '../../web/format.ts';

describe('the page’s wording of numbers', () => {
  it.each([
    [0, '0 B'],
    [999, '999 B'],
    [1536, '1.5 KiB'],
    [4 * 1024 * 1024, '4 MiB'],
    [52_428_800, '50 MiB'],
    [5_368_709_120, '5 GiB'],
    [123.4 * 1024 * 1024, '123 MiB'],
  ])('formatBytes(%d) is %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });

  it.each([
    [2.04, '0:02'],
    [205, '3:25'],
    [3723, '1:02:03'],
  ])('formatDuration(%d) is %s', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });

  it('words limits, rates and progress', () => {
    expect(formatSpan(3600)).toBe('1 hour');
    expect(formatSpan(5400)).toBe('90 minutes');
    expect(formatSpan(45)).toBe('45 seconds');
    expect(formatBitrate(1_234_567)).toBe('1.2 Mbit/s');
    expect(formatBitrate(96_000)).toBe('96 kbit/s');
    expect(formatFrameRate(25)).toBe('25 fps');
    expect(formatFrameRate(29.97)).toBe('29.97 fps');
    expect(formatFrameRate(23.976)).toBe('23.98 fps');
    // 100% only once every byte is sent.
    expect(formatPercent(999, 1000)).toBe('99%');
    expect(formatPercent(1000, 1000)).toBe('100%');
  });
});
