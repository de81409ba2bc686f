/** What a section hands back: tables for people, targets with their verdict, raw numbers for the JSON. */

export const SECTION_NAMES = ['image', 'video', 'hash', 'api', 'pipeline', 'cold'] as const;
export type SectionName = (typeof SECTION_NAMES)[number];

export interface Table {
  title: string;
  columns: string[];
  rows: string[][];
  notes?: string[];
}

export type TargetStatus = 'met' | 'not met' | 'not evaluated';

export interface TargetResult {
  id: string;
  /** The wording of the target. */
  target: string;
  /** What was measured, as a sentence fragment with the numbers. */
  measured: string;
  status: TargetStatus;
  /** Why it is missed (or why it could not be evaluated); for a met target, what a reader should still know. */
  cause?: string;
}

export interface SectionResult {
  name: SectionName;
  title: string;
  tables: Table[];
  notes: string[];
  targets: TargetResult[];
  /** Every measured number, for latest.json. */
  data: Record<string, unknown>;
  durationMs: number;
}

const cellWidth = (text: string): number => [...text].length;

/** A table as aligned plain text, for the terminal. */
export const renderText = (table: Table): string => {
  const widths = table.columns.map((column, index) =>
    Math.max(cellWidth(column), ...table.rows.map((row) => cellWidth(row[index] ?? ''))),
  );
  const line = (cells: string[]) =>
    cells.map((cell, index) => cell + ' '.repeat((widths[index] ?? 0) - cellWidth(cell))).join('  ');
  return [
    table.title,
    line(table.columns),
    line(widths.map((width) => '─'.repeat(width))),
    ...table.rows.map((row) => line(row)),
    ...(table.notes ?? []).map((note) => `  ${note}`),
  ].join('\n');
};

const escapeCell = (text: string): string => text.replace(/\|/g, '\\|');

/** A table as GitHub Markdown. */
export const renderMarkdown = (table: Table): string =>
  [
    `**${table.title}**`,
    '',
    `| ${table.columns.map(escapeCell).join(' | ')} |`,
    `| ${table.columns.map(() => '---').join(' | ')} |`,
    ...table.rows.map((row) => `| ${row.map(escapeCell).join(' | ')} |`),
    ...(table.notes?.length ? ['', ...table.notes.map((note) => `- ${note}`)] : []),
  ].join('\n');
