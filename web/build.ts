/**
 * Builds the upload page at synth time, the way NodejsFunction bundles a function: esbuild bundles
 * `web/app.ts` (and the typed client it imports) into one browser module and minifies `web/app.css`;
 * `web/index.html` gets its references (script, style sheet, icon) suffixed with a content hash
 * (`app.js?v=…`), so that the web function can let browsers cache them for a year and a new deployment
 * still reaches them at once. The output goes to `web/build/` (git-ignored) and becomes part of the web
 * function's asset.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

const WEB_ROOT = dirname(fileURLToPath(import.meta.url));

export const WEB_PAGE_BUILD = join(WEB_ROOT, 'build');

/** Browsers the page is built for: ES2022 module scripts, which every evergreen browser since 2022 runs. */
export const WEB_PAGE_TARGET = ['es2022', 'chrome100', 'firefox100', 'safari15.4'];

export interface BuiltFile {
  /** `index.html`, `app.js`, `app.css` or `favicon.svg`. */
  readonly name: string;
  /** Absolute path of the built file. */
  readonly path: string;
  readonly bytes: number;
  /** The first 12 hex digits of the content's SHA-256: the `v` of the page's references. */
  readonly version: string;
}

export interface BuiltWebPage {
  readonly directory: string;
  readonly files: readonly BuiltFile[];
}

export class WebPageBuildError extends Error {}

const versionOf = (contents: Uint8Array | string): string =>
  createHash('sha256').update(contents).digest('hex').slice(0, 12);

/**
 * Writes `contents` unless the file already holds it, through a rename: parallel synths (the test
 * files run in several processes) write the same bytes, and none of them sees a half-written file.
 */
const writeIfChanged = (path: string, contents: Uint8Array | string): void => {
  try {
    if (readFileSync(path).equals(Buffer.from(contents))) return;
  } catch {
    // Not built yet.
  }
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, contents);
  renameSync(temporary, path);
};

/** Replaces the one reference `attribute="file"` in the HTML with its versioned form, or fails. */
const versionReference = (html: string, attribute: 'src' | 'href', file: string, version: string): string => {
  const reference = `${attribute}="${file}"`;
  const count = html.split(reference).length - 1;
  if (count !== 1) {
    throw new WebPageBuildError(`web/index.html must reference ${reference} exactly once (found ${count})`);
  }
  return html.replace(reference, `${attribute}="${file}?v=${version}"`);
};

export const buildWebPage = (options: { outDir?: string } = {}): BuiltWebPage => {
  const directory = resolve(options.outDir ?? WEB_PAGE_BUILD);
  const result = buildSync({
    absWorkingDir: resolve(WEB_ROOT, '..'),
    entryPoints: [
      { in: join(WEB_ROOT, 'app.ts'), out: 'app' },
      { in: join(WEB_ROOT, 'app.css'), out: 'app' },
    ],
    outdir: directory,
    write: false,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: WEB_PAGE_TARGET,
    minify: true,
    legalComments: 'none',
    charset: 'utf8',
    logLevel: 'silent',
  });
  if (result.errors.length > 0) {
    throw new WebPageBuildError(result.errors.map((error) => error.text).join('\n'));
  }
  const outputs = new Map(result.outputFiles.map((file) => [basename(file.path), file.contents]));
  const script = outputs.get('app.js');
  const styles = outputs.get('app.css');
  if (!script || !styles) {
    throw new WebPageBuildError(`esbuild wrote ${[...outputs.keys()].join(', ')}, not app.js and app.css`);
  }

  const icon = readFileSync(join(WEB_ROOT, 'favicon.svg'));
  let html = readFileSync(join(WEB_ROOT, 'index.html'), 'utf8');
  html = versionReference(html, 'src', 'app.js', versionOf(script));
  html = versionReference(html, 'href', 'app.css', versionOf(styles));
  html = versionReference(html, 'href', 'favicon.svg', versionOf(icon));

  mkdirSync(directory, { recursive: true });
  const files: BuiltFile[] = [];
  for (const [name, contents] of [
    ['index.html', html],
    ['app.js', script],
    ['app.css', styles],
    ['favicon.svg', icon],
  ] as const) {
    const path = join(directory, name);
    writeIfChanged(path, contents);
    files.push({ name, path, bytes: Buffer.byteLength(contents), version: versionOf(contents) });
  }
  return { directory, files };
};
