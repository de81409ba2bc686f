import { describe, expect, it } from 'vitest';
import {
  bar,
  describeCreatedKey,
  describeJobList,
  describeKeys,
  describeRotation,
  formatBytes,
  formatTimestamp,
  lineProgress,
  painter,
  renderTable,
} from '../../cli/render.ts';

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

  it('lists jobs as a table, marks duplicates, and says so when there are none', () => {
    const page = {
      items: [
        {
          id: 'a1',
          status: 'failed',
          preset: 'default',
          file_name: 'notes.jpg',
          size: 1700,
          created_at: '2026-12-03T10:04:05.123Z',
          duplicate_of: null,
        },
        {
          id: 'b2',
          status: 'done',
          preset: 'thumbs',
          file_name: 'harbour.jpg',
          size: 3 * 1024 * 1024,
          created_at: '2026-12-02T09:00:00.000Z',
          duplicate_of: 'c3',
        },
      ],
      next_cursor: null,
    };

    expect(describeJobList(page, 'media-pipeline list').split('\n')).toEqual([
      'ID  STATUS            PRESET   FILE                   CREATED',
      '──  ────────────────  ───────  ─────────────────────  ────────────────────',
      'a1  failed            default  notes.jpg (1.7 KiB)    2026-12-03 10:04:05Z',
      'b2  done (duplicate)  thumbs   harbour.jpg (3.0 MiB)  2026-12-02 09:00:00Z',
      '',
    ]);
    expect(describeJobList({ items: [], next_cursor: null }, 'media-pipeline list')).toBe('No jobs.\n');
    expect(formatTimestamp('not a time')).toBe('not a time');
  });

  it('prints a new key last, after the new tenant’s webhook secret', () => {
    const created = { key: 'mpk_abc_def', key_id: 'abc', tenant: 'acme' };

    const withSecret = describeCreatedKey({ ...created, webhook_secret: 'whsec_xyz' }, 'stack Media');
    const without = describeCreatedKey(created, 'stack Media');

    expect(withSecret.trimEnd().split('\n').at(-1)).toBe('mpk_abc_def');
    expect(withSecret).toContain('\n  whsec_xyz\n');
    expect(withSecret.split('\n')[0]).toBe('Created API key abc for tenant acme on stack Media.');
    expect(without.trimEnd().split('\n').at(-1)).toBe('mpk_abc_def');
    expect(without).not.toContain('whsec_');
  });

  it('lists keys with their revocation, and says how to start a rotation’s second step', () => {
    const keys = describeKeys([
      { key_id: 'k1', tenant: 'acme', created_at: '2026-12-01T00:00:00.000Z' },
      {
        key_id: 'k2',
        tenant: 'default',
        created_at: '2026-12-02T00:00:00.000Z',
        revoked_at: '2026-12-03T00:00:00.000Z',
      },
    ]);

    expect(keys.split('\n').slice(2, 4)).toEqual([
      'k1      acme     2026-12-01 00:00:00Z  -',
      'k2      default  2026-12-02 00:00:00Z  2026-12-03 00:00:00Z',
    ]);
    expect(describeRotation('acme', ['whsec_new', 'whsec_old'], false)).toMatch(
      /new: +whsec_new\n {2}previous: whsec_old\n.*--tenant acme --finish/,
    );
    expect(describeRotation('acme', ['whsec_new'], true)).toBe(
      "Tenant acme's webhooks are now signed with one secret:\n  whsec_new\n",
    );
  });
});
