import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Each folder under functions/ is one room: a Lambda's handler and domain modules (api, ingest, image,
 * …), the processing code its two processors share, or what every function shares. Rooms reach each
 * other through the package's subpath aliases (#shared/*, #processing/*, #ingest/*), never by a
 * relative path into another room's folder.
 */
const FUNCTIONS = resolve(import.meta.dirname, '../../functions');

const sourceFiles = (directory: string): string[] =>
  readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });

const roomOf = (path: string): string | undefined => {
  const inside = relative(FUNCTIONS, path);
  return inside.startsWith('..') ? undefined : inside.split(sep)[0];
};

const IMPORT =
  /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

const crossings = (): string[] =>
  sourceFiles(FUNCTIONS).flatMap((file) => {
    const source = readFileSync(file, 'utf8');
    return [...source.matchAll(IMPORT)]
      .map((match) => match[1] ?? match[2] ?? '')
      .filter((specifier) => specifier.startsWith('.'))
      .filter((specifier) => {
        const target = roomOf(resolve(dirname(file), specifier));
        return target !== undefined && target !== roomOf(file);
      })
      .map((specifier) => `${relative(FUNCTIONS, file)} imports ${specifier}`);
  });

describe('functions/ module boundaries', () => {
  it('has no relative import from one function folder into another', () => {
    expect(crossings()).toEqual([]);
  });

  it('finds a crossing when there is one', () => {
    const sample = "import { ingestUpload } from '../ingest/ingest-upload.ts';";
    const [match] = [...sample.matchAll(IMPORT)];
    const target = roomOf(resolve(FUNCTIONS, 'api', match?.[1] ?? ''));
    expect(target).toBe('ingest');
  });
});
