import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

const IMPORT =
  /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Every relative import under `root` that leaves its own folder for another folder of `root`. */
const crossings = (root: string): string[] => {
  const roomOf = (path: string): string | undefined => {
    const inside = relative(root, path);
    return inside.startsWith('..') ? undefined : inside.split(sep)[0];
  };
  return sourceFiles(root).flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(IMPORT)]
      .map((match) => match[1] ?? match[2] ?? '')
      .filter((specifier) => specifier.startsWith('.'))
      .filter((specifier) => {
        const target = roomOf(resolve(dirname(file), specifier));
        return target !== undefined && target !== roomOf(file);
      })
      .map((specifier) => `${relative(root, file)} imports ${specifier}`),
  );
};

describe('functions/ module boundaries', () => {
  it('has no relative import from one function folder into another', () => {
    expect(crossings(FUNCTIONS)).toEqual([]);
  });

  it('finds a crossing, static or dynamic, and lets imports within a folder and out of functions/ be', () => {
    // Prepare: a tree with one of each
    const root = mkdtempSync(join(tmpdir(), 'rooms-'));
    try {
      for (const room of ['api', 'ingest']) mkdirSync(join(root, room));
      writeFileSync(
        join(root, 'api', 'handler.ts'),
        [
          "import { ingestUpload } from '../ingest/ingest-upload.ts';",
          "import { routes } from './routes.ts';",
          "import presets from '../../presets.json' with { type: 'json' };",
          "const later = await import('../ingest/digest-upload.ts');",
        ].join('\n'),
      );
      writeFileSync(join(root, 'ingest', 'ingest-upload.ts'), "export * from './digest-upload.ts';\n");

      // Act / Assess
      expect(crossings(root)).toEqual([
        'api/handler.ts imports ../ingest/ingest-upload.ts',
        'api/handler.ts imports ../ingest/digest-upload.ts',
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
