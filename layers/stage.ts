/**
 * Stages the Lambda layers' contents from node_modules at synth time, so that no binary is ever
 * committed: `layers/<name>/build/` is git-ignored and rebuilt (cheaply: unchanged files are
 * skipped) whenever the CDK app runs.
 */
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's root, which holds node_modules and layers/. */
const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export const DEFAULT_NODE_MODULES = join(PROJECT_ROOT, 'node_modules');
export const FFMPEG_LAYER_BUILD = join(PROJECT_ROOT, 'layers', 'ffmpeg', 'build');
export const SHARP_LAYER_BUILD = join(PROJECT_ROOT, 'layers', 'sharp', 'build');

/** Lambda runs the code as a non-root user: binaries must be executable by others too. */
const EXECUTABLE = 0o755;

/** The platform the functions run on (x86_64 Lambda, Amazon Linux 2023, glibc). */
const LAMBDA_PLATFORM = { os: 'linux', cpu: 'x64', libc: 'glibc' } as const;

export class LayerStagingError extends Error {}

export interface StageOptions {
  /**
   * The node_modules directory to take the packages from (a folder named node_modules: packages
   * are resolved from it the way Node resolves them).
   * @default the project's node_modules
   */
  readonly nodeModulesDir?: string;
  /**
   * Where to stage the layer; its contents become the layer's /opt.
   * @default layers/<name>/build
   */
  readonly outDir?: string;
}

export interface StagedLayer {
  /** The directory to hand to `Code.fromAsset`. */
  readonly directory: string;
  /** Name and version of every package the layer was staged from, sorted by name. */
  readonly packages: readonly { readonly name: string; readonly version: string }[];
  /** Files that were (re)copied in this run; empty when everything was up to date. */
  readonly copied: readonly string[];
}

/** One file of a layer: where it comes from, where it goes (relative to the layer root), its mode. */
interface LayerFile {
  readonly source: string;
  readonly target: string;
  readonly mode: number;
}

interface PackageManifest {
  readonly name: string;
  readonly version: string;
  readonly dependencies?: Record<string, string>;
  readonly optionalDependencies?: Record<string, string>;
  readonly os?: readonly string[];
  readonly cpu?: readonly string[];
  readonly libc?: readonly string[];
}

const readManifest = (packageDir: string): PackageManifest =>
  JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as PackageManifest;

/**
 * Stages the ffmpeg layer: `bin/ffmpeg` and `bin/ffprobe` (they land in /opt/bin), copied from the
 * installer packages' linux-x64 builds with mode 0755. npm does not run the installers' own
 * `chmod` here, and that chmod only sets u+x anyway: ffprobe arrives 0744, which the Lambda user
 * cannot execute.
 */
export const stageFfmpegLayer = (options: StageOptions = {}): StagedLayer => {
  const nodeModules = options.nodeModulesDir ?? DEFAULT_NODE_MODULES;
  const outDir = options.outDir ?? FFMPEG_LAYER_BUILD;
  const binaries = [
    { pkg: '@ffmpeg-installer/linux-x64', file: 'ffmpeg' },
    { pkg: '@ffprobe-installer/linux-x64', file: 'ffprobe' },
  ];
  const missing = binaries.filter(({ pkg, file }) => !existsSync(join(nodeModules, pkg, file)));
  if (missing.length > 0) {
    throw new LayerStagingError(
      `ffmpeg layer: ${missing.map(({ pkg, file }) => `${pkg}/${file}`).join(' and ')} not found in ${nodeModules}. ` +
        'Lambda runs linux-x64 binaries; install them with ' +
        '`npm install --os=linux --cpu=x64 @ffmpeg-installer/ffmpeg @ffprobe-installer/ffprobe`.',
    );
  }
  const files = binaries.map(({ pkg, file }) => ({
    source: join(nodeModules, pkg, file),
    target: join('bin', file),
    mode: EXECUTABLE,
  }));
  const packages = binaries.map(({ pkg }) => {
    const { name, version } = readManifest(join(nodeModules, pkg));
    return { name, version };
  });
  return { directory: outDir, packages, copied: syncLayer(outDir, files) };
};

/**
 * Stages the sharp layer: `nodejs/node_modules/` (which Lambda puts on NODE_PATH as
 * /opt/nodejs/node_modules) with sharp and its runtime dependency closure for linux-x64 glibc. The
 * closure follows `dependencies` and the `optionalDependencies` that are installed and fit the
 * Lambda platform, so a macOS deployer's darwin binaries stay out of the layer.
 */
export const stageSharpLayer = (options: StageOptions = {}): StagedLayer => {
  const nodeModules = options.nodeModulesDir ?? DEFAULT_NODE_MODULES;
  const outDir = options.outDir ?? SHARP_LAYER_BUILD;
  const closure = dependencyClosure('sharp', nodeModules);
  const required = ['sharp', '@img/sharp-linux-x64', '@img/sharp-libvips-linux-x64'];
  const absent = required.filter((name) => !closure.some((pkg) => pkg.name === name));
  if (absent.length > 0) {
    throw new LayerStagingError(
      `sharp layer: ${absent.join(', ')} not installed in ${nodeModules}. Lambda runs linux-x64 (glibc); ` +
        'install the Linux binaries next to yours with `npm install --os=linux --cpu=x64 sharp`.',
    );
  }
  const files = closure.flatMap((pkg) =>
    listFiles(pkg.dir).map((file) => ({
      source: file.path,
      target: join('nodejs', 'node_modules', relative(nodeModules, file.path)),
      // Readable by everyone (the Lambda user is not the owner); execute bits kept as shipped.
      mode: (file.mode & 0o777) | 0o444,
    })),
  );
  const packages = closure.map(({ name, version }) => ({ name, version }));
  return { directory: outDir, packages, copied: syncLayer(outDir, files) };
};

interface InstalledPackage {
  readonly name: string;
  readonly version: string;
  readonly dir: string;
}

/** The installed packages `root` needs at run time, resolved the way Node resolves them. */
const dependencyClosure = (root: string, nodeModules: string): InstalledPackage[] => {
  const found = new Map<string, InstalledPackage>();
  const visit = (name: string, fromDir: string, optional: boolean): void => {
    const dir = resolvePackageDir(name, fromDir, nodeModules);
    if (dir === undefined) {
      if (optional) return;
      throw new LayerStagingError(`sharp layer: ${name} (needed from ${fromDir}) is not installed`);
    }
    if (found.has(dir)) return;
    const manifest = readManifest(dir);
    if (!fitsLambda(manifest)) return;
    found.set(dir, { name: manifest.name, version: manifest.version, dir });
    for (const dep of Object.keys(manifest.dependencies ?? {})) visit(dep, dir, false);
    for (const dep of Object.keys(manifest.optionalDependencies ?? {})) visit(dep, dir, true);
  };
  visit(root, dirname(nodeModules), true);
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
};

/**
 * Node's lookup: `<dir>/node_modules/<name>` from the requiring package's folder upwards, stopping
 * at the folder that holds the root node_modules.
 */
const resolvePackageDir = (name: string, fromDir: string, nodeModules: string): string | undefined => {
  const top = dirname(nodeModules);
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === top || dir === dirname(dir)) return undefined;
  }
};

const fitsLambda = ({ os, cpu, libc }: PackageManifest): boolean =>
  (os === undefined || os.includes(LAMBDA_PLATFORM.os)) &&
  (cpu === undefined || cpu.includes(LAMBDA_PLATFORM.cpu)) &&
  (libc === undefined || libc.includes(LAMBDA_PLATFORM.libc));

/** Every file of a package, leaving out nested node_modules (their packages are staged on their own). */
const listFiles = (dir: string): { path: string; mode: number }[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : listFiles(path);
    if (entry.isFile()) return [{ path, mode: statSync(path).mode }];
    return [];
  });

/**
 * Makes `outDir` hold exactly `files`: copies a file only when the staged copy is missing, differs
 * in size, is older than its source or has another mode, and removes what no longer belongs.
 * Returns the targets that were copied.
 */
const syncLayer = (outDir: string, files: readonly LayerFile[]): string[] => {
  const copied: string[] = [];
  for (const file of files) {
    const target = join(outDir, file.target);
    if (!isUpToDate(file, target)) {
      mkdirSync(dirname(target), { recursive: true, mode: EXECUTABLE });
      rmSync(target, { force: true });
      copyFileSync(file.source, target);
      copied.push(file.target);
    }
    if ((statSync(target).mode & 0o777) !== file.mode) chmodSync(target, file.mode);
  }
  removeStrays(outDir, new Set(files.map((file) => join(outDir, file.target))));
  return copied;
};

const isUpToDate = (file: LayerFile, target: string): boolean => {
  if (!existsSync(target)) return false;
  const source = statSync(file.source);
  const staged = statSync(target);
  return staged.isFile() && staged.size === source.size && staged.mtimeMs >= source.mtimeMs;
};

/** Deletes files under `dir` that are not `keep`, and the directories that end up empty. */
const removeStrays = (dir: string, keep: ReadonlySet<string>): void => {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      removeStrays(path, keep);
      if (readdirSync(path).length === 0) rmSync(path, { recursive: true });
    } else if (!keep.has(path)) {
      rmSync(path, { force: true });
    }
  }
};
