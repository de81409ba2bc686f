import { styleText } from 'node:util';

/**
 * What the CLI draws: byte counts, progress bars redrawn in place on a terminal (plain lines when the
 * output is a file or a pipe), and the summary table. No dependency: a few ANSI sequences.
 */

type Style = Parameters<typeof styleText>[0];

export interface Output {
  write(text: string): void;
  isTTY?: boolean;
  columns?: number;
}

/** Colours only on a terminal, and never with NO_COLOR set (https://no-color.org). */
export const painter = (output: Output, env: NodeJS.ProcessEnv = process.env) => {
  const enabled = Boolean(output.isTTY) && !env.NO_COLOR && env.TERM !== 'dumb';
  // validateStream off: styleText would otherwise judge by process.stdout, not the stream written to.
  return (style: Style, text: string): string =>
    enabled ? styleText(style, text, { validateStream: false }) : text;
};

export const formatBytes = (bytes: number): string => {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
};

export const formatDuration = (ms: number): string =>
  ms < 60_000
    ? `${(ms / 1000).toFixed(1)} s`
    : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;

/** `[██████░░░░░░]` for a fraction from 0 to 1. */
export const bar = (fraction: number, width = 24): string => {
  const clamped = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const filled = Math.round(clamped * width);
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}]`;
};

/** Cuts text to `width` characters, with an ellipsis when it had to. */
export const truncate = (text: string, width: number): string =>
  text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;

/** `12.3 MiB/s`. */
export const formatRate = (bytesPerSecond: number): string => `${formatBytes(Math.round(bytesPerSecond))}/s`;

/** Time left, rounded up to what a person reads: `7 s`, `3 min 10 s`, `2 h 5 min`. */
export const formatEta = (seconds: number): string => {
  const s = Math.max(1, Math.ceil(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
};

/**
 * Upload speed over the last few seconds (a resume's parts found in storage jump the count at once,
 * and a retried part steps it back: neither is speed), and the time left at that speed.
 */
export class RateMeter {
  private samples: Array<{ at: number; sent: number }> = [];
  constructor(private readonly windowMs = 5_000) {}

  sample(sent: number, at: number): void {
    const last = this.samples.at(-1);
    // A step back (a part sent again) restarts the window rather than counting negative speed.
    if (last && sent < last.sent) this.samples = [];
    this.samples.push({ at, sent });
    while (this.samples.length > 2 && at - (this.samples[1]?.at ?? at) >= this.windowMs) this.samples.shift();
  }

  /** Bytes per second, once there is half a second to judge by. */
  rate(): number | undefined {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.at - first.at < 500) return undefined;
    return ((last.sent - first.sent) / (last.at - first.at)) * 1000;
  }

  /** `12.3 MiB/s, 7 s left`, or '' while too early to tell. */
  describe(sent: number, total: number): string {
    const rate = this.rate();
    if (rate === undefined) return '';
    if (rate <= 0) return 'stalled';
    return sent >= total ? formatRate(rate) : `${formatRate(rate)}, ${formatEta((total - sent) / rate)} left`;
  }
}

/**
 * The status a person reads: a job still `awaiting_upload` once its bytes are all sent is being
 * checked (ingest reads and hashes them), not waiting for anything from the user.
 */
export const displayStatus = (status: string, uploaded: boolean): string =>
  status === 'awaiting_upload' && uploaded ? 'checking' : status;

export type RowPhase =
  | { kind: 'waiting' }
  /** Hashing the file and creating its job: nothing sent yet, and the API may still refuse it. */
  | { kind: 'preparing' }
  | { kind: 'uploading'; sent: number; total: number; method?: string }
  | { kind: 'job'; status: string }
  | { kind: 'finished'; status: string; detail?: string };

export interface ProgressRow {
  label: string;
  phase: RowPhase;
  startedAt: number;
  meter: RateMeter;
}

const describe = (
  row: ProgressRow,
  now: number,
  paint: ReturnType<typeof painter>,
  barWidth = 24,
): string => {
  const { phase } = row;
  switch (phase.kind) {
    case 'waiting':
      return paint('dim', 'waiting');
    case 'preparing':
      return paint('dim', 'preparing');
    case 'uploading': {
      const percent = phase.total > 0 ? Math.floor((phase.sent / phase.total) * 100) : 100;
      const speed = row.meter.describe(phase.sent, phase.total);
      return `${bar(phase.sent / phase.total, barWidth)} ${String(percent).padStart(3)}%  ${formatBytes(phase.sent)} / ${formatBytes(phase.total)}${speed ? `  ${speed}` : ''}${phase.method === 'multipart' ? paint('dim', '  (parts)') : ''}`;
    }
    case 'job':
      return `${paint('cyan', phase.status)}  ${paint('dim', formatDuration(now - row.startedAt))}`;
    case 'finished': {
      const style: Style = phase.status === 'done' ? 'green' : phase.status === 'failed' ? 'red' : 'yellow';
      return `${paint(style, phase.status)}${phase.detail ? `  ${phase.detail}` : ''}`;
    }
  }
};

/** Receives every row's changes; draws them as the output allows. */
export interface ProgressView {
  update(index: number, phase: RowPhase): void;
  /** A line that stays (the job id of an upload that starts), above the rows being redrawn. */
  log(text: string): void;
  /** Draws the final state and lets the output go. */
  stop(): void;
}

/** On a terminal: one line per row, redrawn in place at most every 100 ms. */
export const terminalProgress = (output: Output, labels: string[], now = () => Date.now()): ProgressView => {
  const paint = painter(output);
  const width = Math.min(40, Math.max(...labels.map((label) => label.length), 8));
  const rows: ProgressRow[] = labels.map((label) => ({
    label,
    phase: { kind: 'waiting' },
    startedAt: now(),
    meter: new RateMeter(),
  }));
  let drawn = 0;
  let scheduled: ReturnType<typeof setTimeout> | undefined;
  const draw = (above = '') => {
    scheduled = undefined;
    // A line that wraps would break the redraw: the bar takes what the label and the numbers leave.
    const barWidth = Math.min(30, Math.max(8, (output.columns ?? 100) - width - 60));
    const lines = rows.map(
      (row) =>
        `${paint('bold', truncate(row.label, width).padEnd(width))}  ${describe(row, now(), paint, barWidth)}`,
    );
    // Up to the first line of the block, then each line cleared and written again (a lasting line
    // first, when there is one: the block moves down under it).
    output.write(
      `${drawn > 0 ? `\x1b[${drawn}A\r` : ''}${above ? `\x1b[2K${above}\n` : ''}${lines.map((line) => `\x1b[2K${line}\n`).join('')}`,
    );
    drawn = lines.length;
  };
  const ticker = setInterval(() => {
    if (rows.some((row) => row.phase.kind === 'job' || row.phase.kind === 'uploading')) draw();
  }, 500);
  ticker.unref?.();
  return {
    update(index, phase) {
      const row = rows[index];
      if (!row) return;
      if (phase.kind !== row.phase.kind) row.startedAt = now();
      if (phase.kind === 'uploading') row.meter.sample(phase.sent, now());
      row.phase = phase;
      scheduled ??= setTimeout(draw, 100);
    },
    log(text) {
      if (scheduled) clearTimeout(scheduled);
      draw(text);
    },
    stop() {
      clearInterval(ticker);
      if (scheduled) clearTimeout(scheduled);
      draw();
    },
  };
};

/**
 * Not a terminal: a line when something happens, upload progress in quarters with speed and time
 * left. A file's outcome is one word: its detail (an error) is in the summary on stdout, and both
 * often end up in the same log.
 */
export const lineProgress = (output: Output, labels: string[], now = () => Date.now()): ProgressView => {
  const last = labels.map(() => '');
  const meters = labels.map(() => new RateMeter());
  return {
    update(index, phase) {
      let line: string;
      switch (phase.kind) {
        case 'waiting':
        case 'preparing':
          return;
        case 'uploading': {
          meters[index]?.sample(phase.sent, now());
          const quarter = phase.total > 0 ? Math.floor((phase.sent / phase.total) * 4) * 25 : 100;
          line = `uploading ${quarter}% of ${formatBytes(phase.total)}`;
          if (line === last[index]) return;
          last[index] = line;
          const speed = quarter > 0 ? meters[index]?.describe(phase.sent, phase.total) : '';
          output.write(`${labels[index]}: ${line}${speed ? ` (${speed})` : ''}\n`);
          return;
        }
        case 'job':
          line = phase.status;
          break;
        case 'finished':
          line = phase.status;
          break;
      }
      if (line === last[index]) return;
      last[index] = line;
      output.write(`${labels[index]}: ${line}\n`);
    },
    log(text) {
      output.write(`${text}\n`);
    },
    stop() {},
  };
};

export const silentProgress: ProgressView = { update() {}, log() {}, stop() {} };

/**
 * A table with a header, columns as wide as their widest cell, and cells that may hold several lines
 * (a job's result URLs, one per line).
 */
export const renderTable = (
  header: string[],
  rows: string[][],
  paint: ReturnType<typeof painter> = (_style, text) => text,
): string => {
  const split = (cell: string) => cell.split('\n');
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.flatMap((row) => split(row[column] ?? '').map((line) => line.length))),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  // The rule stops short under a column of long URLs.
  const rule = widths.map((width) => '─'.repeat(Math.min(width, 40)));
  const out = [paint('bold', line(header)), paint('dim', line(rule))];
  for (const row of rows) {
    const height = Math.max(...row.map((cell) => split(cell).length));
    for (let i = 0; i < height; i++) out.push(line(row.map((cell) => split(cell)[i] ?? '')));
  }
  return `${out.join('\n')}\n`;
};

type Paint = ReturnType<typeof painter>;
const plain: Paint = (_style, text) => text;

/** What `list` shows of a job (client/api-types.ts JobView, narrowed to what the table needs). */
export interface ListedJob {
  id: string;
  status: string;
  preset: string;
  file_name: string;
  size: number;
  created_at: string;
  duplicate_of: string | null;
}

/** `2026-12-03T10:04:05.123Z` as `2026-12-03 10:04:05Z`: sortable, and short enough for a table. */
export const formatTimestamp = (iso: string): string => {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})/.exec(iso);
  return match ? `${match[1]} ${match[2]}Z` : iso;
};

/**
 * The jobs of one `list` page as a table, and how to ask for the next page. `again` is the command
 * line that asked for this one, without its cursor.
 */
export const describeJobList = (
  page: { items: ListedJob[]; next_cursor: string | null },
  again: string,
  paint: Paint = plain,
): string => {
  if (page.items.length === 0) return 'No jobs.\n';
  const table = renderTable(
    ['ID', 'STATUS', 'PRESET', 'FILE', 'CREATED'],
    page.items.map((job) => [
      job.id,
      job.duplicate_of ? `${job.status} (duplicate)` : job.status,
      job.preset,
      `${truncate(job.file_name, 40)} (${formatBytes(job.size)})`,
      formatTimestamp(job.created_at),
    ]),
    paint,
  );
  return page.next_cursor ? `${table}\nMore jobs: ${again} --cursor ${page.next_cursor}\n` : table;
};

/** A key just created: what it is for, the tenant's webhook secret when the tenant is new, the key LAST. */
export const describeCreatedKey = (
  created: { key: string; key_id: string; tenant: string; webhook_secret?: string | undefined },
  where: string,
): string => {
  const lines = [`Created API key ${created.key_id} for tenant ${created.tenant} on ${where}.`];
  if (created.webhook_secret) {
    lines.push(
      `The tenant is new: its webhooks are signed with this secret (keep it; \`keys rotate-secret\` replaces it):`,
      `  ${created.webhook_secret}`,
    );
  }
  lines.push(
    'Send the key as `Authorization: Bearer <key>` (CLI: --api-key or MEDIA_PIPELINE_API_KEY).',
    'It is shown only now: the table keeps its SHA-256, not the key. The key:',
    created.key,
  );
  return `${lines.join('\n')}\n`;
};

export const describeKeys = (
  keys: Array<{ key_id: string; tenant: string; created_at: string; revoked_at?: string | undefined }>,
  paint: Paint = plain,
): string =>
  keys.length === 0
    ? 'No keys yet: media-pipeline keys create --tenant NAME makes one.\n'
    : renderTable(
        ['KEY ID', 'TENANT', 'CREATED', 'REVOKED'],
        keys.map((key) => [
          key.key_id,
          key.tenant,
          formatTimestamp(key.created_at),
          key.revoked_at ? formatTimestamp(key.revoked_at) : '-',
        ]),
        paint,
      );

/** After `keys rotate-secret`: the secrets that now sign, and what to do next. */
export const describeRotation = (tenant: string, secrets: string[], finished: boolean): string => {
  const [newest, previous] = secrets;
  if (finished || !previous) {
    return `Tenant ${tenant}'s webhooks are now signed with one secret:\n  ${newest ?? '(none)'}\n`;
  }
  return (
    `Tenant ${tenant}'s webhooks are now signed with two secrets (two v1 signatures per delivery):\n` +
    `  new:      ${newest}\n` +
    `  previous: ${previous}\n` +
    `Move your receivers to the new secret, then: media-pipeline keys rotate-secret --tenant ${tenant} --finish\n`
  );
};

const record = (value: unknown): Record<string, unknown> | undefined =>
  value && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
const num = (value: unknown): number | undefined => (typeof value === 'number' ? value : undefined);
const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** `12.5 s`, `3 min 4 s`: a video's length. */
export const formatMediaDuration = (seconds: number): string =>
  seconds < 60
    ? `${Number(seconds.toFixed(1))} s`
    : `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;

/**
 * What a job made, one short line per output, without the presigned URLs (hundreds of characters
 * each) unless `urls` is given: an image's variants with their dimensions and size, a video's
 * duration, resolution and codec with its poster. A result of another shape lists its outputs' names.
 */
export const describeResult = (
  result: Record<string, unknown> | null,
  resultUrls: Record<string, string> | null,
  options: { urls?: boolean } = {},
): string[] => {
  const url = (name: string) => (options.urls && resultUrls?.[name] ? `  ${resultUrls[name]}` : '');
  const size = (width: unknown, height: unknown) =>
    num(width) !== undefined && num(height) !== undefined ? `${width}×${height}` : undefined;
  const variants = Array.isArray(result?.variants) ? result.variants.map(record) : undefined;
  if (result && variants) {
    return variants.flatMap((variant) => {
      const name = str(variant?.name);
      if (!name) return [];
      const bytes = num(variant?.bytes);
      const parts = [
        size(variant?.width, variant?.height),
        str(variant?.format),
        bytes === undefined ? undefined : formatBytes(bytes),
      ];
      return [`${name} ${parts.filter(Boolean).join(' ')}${url(name)}`];
    });
  }
  const duration = num(result?.duration);
  if (result && duration !== undefined) {
    const codec = [str(result.codec), str(result.audio_codec)].filter(Boolean).join(' + ');
    const lines = [
      [formatMediaDuration(duration), size(result.width, result.height), codec].filter(Boolean).join(', '),
    ];
    if (resultUrls?.poster || result.poster) {
      const poster = size(result.poster_width, result.poster_height);
      const at = num(result.poster_at_second);
      lines.push(
        `poster${poster ? ` ${poster}` : ''}${at === undefined ? '' : ` at ${at} s`}${url('poster')}`,
      );
    }
    return lines;
  }
  return Object.keys(resultUrls ?? {}).map((name) => `${name}${url(name)}`);
};
