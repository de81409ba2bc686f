/**
 * Stages the Lambda layers' contents at synth time, so that no binary is ever committed:
 * `layers/<name>/build/<architecture>/` is git-ignored and rebuilt (cheaply: unchanged files are
 * skipped) whenever the CDK app runs. The binaries are those of the functions' architecture, whatever
 * machine synthesizes: a package of the target platform that node_modules lacks (npm installs only the
 * host's) is fetched from the registry at the version package-lock.json pins, its integrity checked,
 * into `layers/.cache/` (see {@link fetchLockedPackage}).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
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
/** Packages of another platform than the host's, fetched at the locked versions (git-ignored). */
export const PACKAGE_CACHE = join(PROJECT_ROOT, 'layers', '.cache');

/**
 * Bumped whenever staging changes what it writes in a way the files' contents do not show (modes,
 * layout): it salts the layers' asset hashes with {@link layerAssetSalt}.
 */
export const STAGING_VERSION = 2;

/** Lambda runs the code as a non-root user: binaries must be executable by others too. */
const EXECUTABLE = 0o755;

/** Lambda's instruction set architectures, as its API names them. */
export type LambdaArchitecture = 'arm64' | 'x86_64';

/** The platform the functions run on (Amazon Linux 2023, glibc), in npm's `os`/`cpu`/`libc` terms. */
interface NpmPlatform {
  readonly os: 'linux';
  readonly cpu: 'arm64' | 'x64';
  readonly libc: 'glibc';
}

export const lambdaPlatform = (architecture: LambdaArchitecture): NpmPlatform => ({
  os: 'linux',
  cpu: architecture === 'arm64' ? 'arm64' : 'x64',
  libc: 'glibc',
});

export class LayerStagingError extends Error {
  override readonly name = 'LayerStagingError';
}

/** Fetches `name@version` and extracts it so that `dest` is the package's root (holds its package.json). */
export type PackageFetcher = (spec: {
  readonly name: string;
  readonly version: string;
  readonly integrity: string | undefined;
  readonly dest: string;
}) => void;

export interface StageOptions {
  /** The functions' architecture: which platform's binaries to stage. */
  readonly architecture: LambdaArchitecture;
  /**
   * The node_modules directory to take the packages from (a folder named node_modules: packages
   * are resolved from it the way Node resolves them).
   * @default the project's node_modules
   */
  readonly nodeModulesDir?: string;
  /**
   * Where to stage the layer; its contents become the layer's /opt.
   * @default layers/<name>/build/<architecture>
   */
  readonly outDir?: string;
  /**
   * The lock file that pins the versions of packages fetched on demand.
   * @default the package-lock.json beside nodeModulesDir
   */
  readonly lockFile?: string;
  /**
   * Where packages fetched on demand are kept, one folder per `name@version`.
   * @default layers/.cache
   */
  readonly cacheDir?: string;
  /**
   * How a package missing from node_modules is fetched.
   * @default {@link fetchLockedPackage}: `npm pack` from the registry, integrity checked against the lock
   */
  readonly fetchPackage?: PackageFetcher;
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
 * installer packages' builds for the architecture (`@ffmpeg-installer/linux-<cpu>`,
 * `@ffprobe-installer/linux-<cpu>`) with mode 0755. npm does not run the installers' own `chmod`
 * here, and that chmod only sets u+x anyway: ffprobe arrives 0744 (x64) or 0644 (arm64), which the
 * Lambda user cannot execute.
 */
export const stageFfmpegLayer = (options: StageOptions): StagedLayer => {
  const nodeModules = options.nodeModulesDir ?? DEFAULT_NODE_MODULES;
  const outDir = options.outDir ?? join(FFMPEG_LAYER_BUILD, options.architecture);
  const { cpu } = lambdaPlatform(options.architecture);
  const binaries = [
    { pkg: `@ffmpeg-installer/linux-${cpu}`, file: 'ffmpeg' },
    { pkg: `@ffprobe-installer/linux-${cpu}`, file: 'ffprobe' },
  ];
  const located = binaries.map(({ pkg, file }) => {
    const dir = locatePackage(pkg, nodeModules, options);
    if (dir === undefined || !existsSync(join(dir, file))) {
      throw new LayerStagingError(
        `ffmpeg layer: ${pkg}/${file} not found in ${nodeModules}, and package-lock.json pins no version of ${pkg} to fetch. ` +
          `Lambda runs linux-${cpu} binaries here; install them with ` +
          `\`npm install --os=linux --cpu=${cpu} @ffmpeg-installer/ffmpeg @ffprobe-installer/ffprobe\`.`,
      );
    }
    return { dir, file };
  });
  const files = located.map(({ dir, file }) => ({
    source: join(dir, file),
    target: join('bin', file),
    mode: EXECUTABLE,
  }));
  const packages = located.map(({ dir }) => {
    const { name, version } = readManifest(dir);
    return { name, version };
  });
  return { directory: outDir, packages, copied: syncLayer(outDir, files) };
};

/**
 * Stages the sharp layer: `nodejs/node_modules/` (which Lambda puts on NODE_PATH as
 * /opt/nodejs/node_modules) with sharp and its runtime dependency closure for linux glibc on the
 * architecture. The closure follows `dependencies` and the `optionalDependencies` that fit the Lambda
 * platform (installed, or fetched at their locked versions), so a macOS deployer's darwin binaries
 * stay out of the layer and an x64 machine can stage arm64's.
 */
export const stageSharpLayer = (options: StageOptions): StagedLayer => {
  const nodeModules = options.nodeModulesDir ?? DEFAULT_NODE_MODULES;
  const outDir = options.outDir ?? join(SHARP_LAYER_BUILD, options.architecture);
  const platform = lambdaPlatform(options.architecture);
  const closure = dependencyClosure('sharp', nodeModules, options);
  const required = ['sharp', `@img/sharp-linux-${platform.cpu}`, `@img/sharp-libvips-linux-${platform.cpu}`];
  const absent = required.filter((name) => !closure.some((pkg) => pkg.name === name));
  if (absent.length > 0) {
    throw new LayerStagingError(
      `sharp layer: ${absent.join(', ')} neither installed in ${nodeModules} nor pinned by package-lock.json. ` +
        `Lambda runs linux-${platform.cpu} (glibc) here; install the Linux binaries next to yours with ` +
        `\`npm install --os=linux --cpu=${platform.cpu} sharp\`.`,
    );
  }
  const files = closure.flatMap((pkg) =>
    listFiles(pkg.dir).map((file) => ({
      source: file.path,
      target: join('nodejs', 'node_modules', pkg.installPath, relative(pkg.dir, file.path)),
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
  /** Where it goes under the layer's node_modules: as installed (`sharp/node_modules/x`), or its name. */
  readonly installPath: string;
}

/** The packages `root` needs at run time on the platform, resolved the way Node resolves them. */
const dependencyClosure = (root: string, nodeModules: string, options: StageOptions): InstalledPackage[] => {
  const platform = lambdaPlatform(options.architecture);
  const found = new Map<string, InstalledPackage>();
  const visit = (name: string, fromDir: string, optional: boolean): void => {
    const installed = resolvePackageDir(name, fromDir, nodeModules);
    const dir = installed ?? fetchForPlatform(name, nodeModules, options, optional);
    if (dir === undefined) {
      if (optional) return;
      throw new LayerStagingError(`sharp layer: ${name} (needed from ${fromDir}) is not installed`);
    }
    if (found.has(dir)) return;
    const manifest = readManifest(dir);
    if (!fitsPlatform(manifest, platform)) return;
    const installPath = installed ? relative(nodeModules, installed) : manifest.name;
    found.set(dir, { name: manifest.name, version: manifest.version, dir, installPath });
    for (const dep of Object.keys(manifest.dependencies ?? {})) visit(dep, dir, false);
    for (const dep of Object.keys(manifest.optionalDependencies ?? {})) visit(dep, dir, true);
  };
  visit(root, dirname(nodeModules), true);
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
};

/**
 * A package node_modules lacks, fetched at its locked version when the lock says it fits the platform
 * (an optional dependency for another platform is skipped without a fetch).
 */
const fetchForPlatform = (
  name: string,
  nodeModules: string,
  options: StageOptions,
  optional: boolean,
): string | undefined => {
  const locked = lockedPackage(name, options.lockFile ?? join(dirname(nodeModules), 'package-lock.json'));
  if (locked === undefined) return undefined;
  if (optional && !fitsPlatform(locked, lambdaPlatform(options.architecture))) return undefined;
  return cachedPackage(name, locked, options);
};

/** A package's folder: installed in node_modules, or else fetched at the version the lock pins. */
const locatePackage = (name: string, nodeModules: string, options: StageOptions): string | undefined => {
  const installed = join(nodeModules, name);
  if (existsSync(join(installed, 'package.json'))) return installed;
  const locked = lockedPackage(name, options.lockFile ?? join(dirname(nodeModules), 'package-lock.json'));
  return locked === undefined ? undefined : cachedPackage(name, locked, options);
};

interface LockedPackage {
  readonly version: string;
  readonly integrity?: string;
  readonly os?: readonly string[];
  readonly cpu?: readonly string[];
  readonly libc?: readonly string[];
}

const lockCache = new Map<string, Record<string, LockedPackage>>();

/** The lock's top-level entry for `name` (platform packages are hoisted), if the lock has one. */
const lockedPackage = (name: string, lockFile: string): LockedPackage | undefined => {
  let packages = lockCache.get(lockFile);
  if (packages === undefined) {
    if (!existsSync(lockFile)) return undefined;
    packages = (JSON.parse(readFileSync(lockFile, 'utf8')) as { packages?: Record<string, LockedPackage> })
      .packages;
    lockCache.set(lockFile, packages ?? {});
  }
  return packages?.[`node_modules/${name}`];
};

/** `<cacheDir>/<name>@<version>`, fetched there first if it is not yet. */
const cachedPackage = (name: string, locked: LockedPackage, options: StageOptions): string => {
  const cacheDir = options.cacheDir ?? PACKAGE_CACHE;
  const dest = join(cacheDir, `${name}@${locked.version}`);
  if (existsSync(join(dest, 'package.json'))) return dest;
  mkdirSync(dirname(dest), { recursive: true });
  // Fetched beside its place and renamed there, so that a concurrent synth never sees half a package.
  const scratch = mkdtempSync(join(dirname(dest), '.fetch-'));
  try {
    const unpacked = join(scratch, 'package');
    (options.fetchPackage ?? fetchLockedPackage)({
      name,
      version: locked.version,
      integrity: locked.integrity,
      dest: unpacked,
    });
    if (!existsSync(join(unpacked, 'package.json'))) {
      throw new LayerStagingError(`fetching ${name}@${locked.version} left no package.json`);
    }
    try {
      renameSync(unpacked, dest);
    } catch (error) {
      // Another synth fetched it meanwhile: theirs is as good as ours.
      if (!existsSync(join(dest, 'package.json'))) throw error;
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return dest;
};

/**
 * The default {@link PackageFetcher}: `npm pack name@version` (the registry's tarball; `npm pack` runs
 * no install script), its SHA-512 compared with the lock's `integrity`, then `tar -xzf`. The packages
 * staged this way ship their binaries inside the tarball (checked for every platform package the layers
 * use), so nothing is downloaded from anywhere but the registry.
 */
export const fetchLockedPackage: PackageFetcher = ({ name, version, integrity, dest }) => {
  const work = dirname(dest);
  mkdirSync(work, { recursive: true });
  let output: string;
  try {
    output = execFileSync(
      'npm',
      ['pack', `${name}@${version}`, '--pack-destination', work, '--json', '--ignore-scripts', '--silent'],
      { cwd: PROJECT_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 },
    );
  } catch (error) {
    throw new LayerStagingError(
      `could not fetch ${name}@${version} from the npm registry (${(error as Error).message.split('\n')[0]}). ` +
        'Without the registry, install it next to your own packages: `npm install --no-save --force ' +
        `${name}@${version}\`.`,
      { cause: error },
    );
  }
  const [packed] = JSON.parse(output) as { filename: string }[];
  if (packed === undefined) throw new LayerStagingError(`npm pack ${name}@${version} reported no tarball`);
  const tarball = join(work, packed.filename);
  if (integrity?.startsWith('sha512-')) {
    const actual = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
    if (actual !== integrity) {
      throw new LayerStagingError(
        `${name}@${version}: the registry's tarball has integrity ${actual}, package-lock.json says ${integrity}`,
      );
    }
  }
  // npm tarballs hold everything under package/.
  execFileSync('tar', ['-xzf', tarball, '-C', work], { stdio: ['ignore', 'ignore', 'pipe'] });
  rmSync(tarball, { force: true });
  if (join(work, 'package') !== dest) renameSync(join(work, 'package'), dest);
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

const fitsPlatform = (
  { os, cpu, libc }: Pick<PackageManifest, 'os' | 'cpu' | 'libc'>,
  platform: NpmPlatform,
): boolean =>
  (os === undefined || os.includes(platform.os)) &&
  (cpu === undefined || cpu.includes(platform.cpu)) &&
  (libc === undefined || libc.includes(platform.libc));

/**
 * What CDK's asset hash leaves out: CDK fingerprints the files' paths and contents, not their modes,
 * so a binary once staged without its execute bit would keep its hash (and its deployed zip) after a
 * fix. This digest of every staged file's path and mode, with {@link STAGING_VERSION}, goes into the
 * layers' asset hash (lib/layers/layer-code.ts).
 */
export const layerAssetSalt = (directory: string): string => {
  const hash = createHash('sha256').update(`staging v${STAGING_VERSION}\n`);
  const entries = existsSync(directory)
    ? readdirSync(directory, { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => join(entry.parentPath, entry.name))
        .sort()
    : [];
  for (const path of entries) {
    hash.update(`${relative(directory, path)} ${(statSync(path).mode & 0o7777).toString(8)}\n`);
  }
  return hash.digest('hex');
};

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
  // Copies are written beside outDir and renamed into place, so that a concurrent synth (vitest runs
  // test files in parallel) reads a staged file whole, old or new, never half-copied.
  const scratch = join(dirname(outDir), `.staging-${process.pid}`);
  try {
    for (const file of files) {
      const target = join(outDir, file.target);
      if (!isUpToDate(file, target)) {
        mkdirSync(dirname(target), { recursive: true, mode: EXECUTABLE });
        mkdirSync(scratch, { recursive: true });
        const copy = join(scratch, String(copied.length));
        copyFileSync(file.source, copy);
        chmodSync(copy, file.mode);
        renameSync(copy, target);
        copied.push(file.target);
      }
      if ((statSync(target).mode & 0o777) !== file.mode) chmodSync(target, file.mode);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
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
