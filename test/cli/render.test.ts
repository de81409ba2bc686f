import { describe, expect, it } from 'vitest';
import { bar, formatBytes, lineProgress, painter, renderTable } from '../../cli/render.ts';

const collect = () => {
  const chunks: string[] = [];
  return { write: (text: string) => void chunks.push(text), text: () => chunks.join('') };
};

describe('CLI rendering', () => {
  it.each([
    [512, '512 B'],
    [1536, '1.5 KiB'],
    [20 * 1024 * 1024, '20.0 MiB'],
    [5 * 1024 ** 3, '5.0 GiB'],
  ])('formats %d bytes as %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });

  it('draws a bar of the given width, clamped', () => {
    expect(bar(0.5, 10)).toBe('[█████░░░░░]');
    expect(bar(2, 4)).toBe('[████]');
    expect(bar(Number.NaN, 4)).toBe('[░░░░]');
  });

  it('lays out a table whose cells may hold several lines', () => {
    const table = renderTable(
      ['FILE', 'STATUS', 'RESULT'],
      [
        ['a.jpg', 'done', 'thumb: http://x/1\nlarge: http://x/2'],
        ['long-name.mp4', 'failed', 'corrupt'],
      ],
    );

    expect(table.split('\n')).toEqual([
      'FILE           STATUS  RESULT',
      '─────────────  ──────  ─────────────────',
      'a.jpg          done    thumb: http://x/1',
      '                       large: http://x/2',
      'long-name.mp4  failed  corrupt',
      '',
    ]);
  });

  it('writes plain lines off a terminal: upload progress by quarters, each change once', () => {
    const out = collect();
    const view = lineProgress(out, ['clip.mp4']);

    for (const sent of [0, 10, 30, 60, 99, 100]) view.update(0, { kind: 'uploading', sent, total: 100 });
    view.update(0, { kind: 'job', status: 'queued' });
    view.update(0, { kind: 'job', status: 'queued' });
    view.update(0, { kind: 'finished', status: 'done' });

    expect(out.text().split('\n')).toEqual([
      'clip.mp4: uploading 0% of 100 B',
      'clip.mp4: uploading 25% of 100 B',
      'clip.mp4: uploading 50% of 100 B',
      'clip.mp4: uploading 75% of 100 B',
      'clip.mp4: uploading 100% of 100 B',
      'clip.mp4: queued',
      'clip.mp4: done',
      '',
    ]);
  });

  it('paints only on a terminal, and never with NO_COLOR', () => {
    expect(painter({ write() {}, isTTY: false }, {})('red', 'x')).toBe('x');
    expect(painter({ write() {}, isTTY: true }, { NO_COLOR: '1' })('red', 'x')).toBe('x');
    expect(painter({ write() {}, isTTY: true }, {})('red', 'x')).not.toBe('x');
  });
});
