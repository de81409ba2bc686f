import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LayerStagingError, stageFfmpegLayer, stageSharpLayer } from '../../layers/stage.ts';

/** A throw-away node_modules with only the packages a test writes into it. */
let root: string;
let nodeModules: string;
let outDir: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'layer-staging-'));
  nodeModules = join(root, 'node_modules');
  outDir = join(root, 'build');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const writePackage = (
  name: string,
  manifest: Record<string, unknown> = {},
  files: Record<string, string> = {},
) => {
  const dir = join(nodeModules, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', ...manifest }));
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), content);
  }
  return dir;
};

const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);

/** Every file under `dir`, relative to it, sorted. */
const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
    .sort();

describe('stageFfmpegLayer', () => {
  const writeBinaries = () => {
    const ffmpeg = join(
      writePackage('@ffmpeg-installer/linux-x64', {}, { ffmpeg: 'ffmpeg binary' }),
      'ffmpeg',
    );
    const ffprobe = join(
      writePackage('@ffprobe-installer/linux-x64', {}, { ffprobe: 'ffprobe binary' }),
      'ffprobe',
    );
    // As npm leaves them when it skips the installers' own chmod.
    chmodSync(ffmpeg, 0o755);
    chmodSync(ffprobe, 0o744);
    return { ffmpeg, ffprobe };
  };

  it('stages ffmpeg and ffprobe in bin/, executable by any user', () => {
    // Prepare
    writeBinaries();
    // Act
    const staged = stageFfmpegLayer({ architecture: 'x86_64', nodeModulesDir: nodeModules, outDir });
    // Assess
    expect(filesUnder(outDir)).toEqual(['bin/ffmpeg', 'bin/ffprobe']);
    expect(mode(join(outDir, 'bin', 'ffmpeg'))).toBe('755');
    expect(mode(join(outDir, 'bin', 'ffprobe'))).toBe('755');
    expect(staged.copied).toEqual(['bin/ffmpeg', 'bin/ffprobe']);
    expect(staged.packages.map((p) => p.name)).toEqual([
      '@ffmpeg-installer/linux-x64',
      '@ffprobe-installer/linux-x64',
    ]);
  });

  it('copies nothing when the staged binaries are up to date', () => {
    // Prepare
    writeBinaries();
    stageFfmpegLayer({ architecture: 'x86_64', nodeModulesDir: nodeModules, outDir });
    const stagedAt = statSync(join(outDir, 'bin', 'ffprobe')).mtimeMs;
    // Act
    const again = stageFfmpegLayer({ architecture: 'x86_64', nodeModulesDir: nodeModules, outDir });
    // Assess
    expect(again.copied).toEqual([]);
    expect(statSync(join(outDir, 'bin', 'ffprobe')).mtimeMs).toBe(stagedAt);
    expect(mode(join(outDir, 'bin', 'ffprobe'))).toBe('755');
  });

  it('copies a binary again when its source changed, and restores a mode changed by hand', () => {
    // Prepare
    const { ffmpeg } = writeBinaries();
    stageFfmpegLayer({ architecture: 'x86_64', nodeModulesDir: nodeModules, outDir });
    writeFileSync(ffmpeg, 'a newer, longer ffmpeg binary');
    chmodSync(join(outDir, 'bin', 'ffprobe'), 0o700);
    // Act
    const again = stageFfmpegLayer({ architecture: 'x86_64', nodeModulesDir: nodeModules, outDir });
    // Assess
    expect(again.copied).toEqual(['bin/ffmpeg']);
    expect(mode(join(outDir, 'bin', 'ffmpeg'))).toBe('755');
    expect(mode(join(outDir, 'bin', 'ffprobe'))).toBe('755');
  });

  it('copies a binary again when the staged copy is older than its source', () => {
    // Prepare
    const { ffmpeg } = writeBinaries();
    stageFfmpegLayer({ architecture: 'x86_64', nodeModulesDir: nodeModules, outDir });
    const past = new Date(Date.now() - 60_000);
    utimesSync(join(outDir, 'bin', 'ffmpeg'), past, past);
    utimesSync(ffmpeg, new Date(), new Date());
    // Act
    const again = stageFfmpegLayer({ architecture: 'x86_64', nodeModulesDir: nodeModules, outDir });
    // Assess
    expect(again.copied).toEqual(['bin/ffmpeg']);
  });

  it('says how to install the linux-x64 binaries when they are missing', () => {
    // Prepare
    writePackage('@ffmpeg-installer/linux-x64', {}, { ffmpeg: 'ffmpeg binary' });
    // Act
    const stage = () => stageFfmpegLayer({ architecture: 'x86_64', nodeModulesDir: nodeModules, outDir });
    // Assess
    expect(stage).toThrow(LayerStagingError);
    expect(stage).toThrow(
      /@ffprobe-installer\/linux-x64\/ffprobe not found.*npm install --os=linux --cpu=x64/,
    );
  });
});

describe('stageSharpLayer', () => {
  const writeSharp = () => {
    writePackage(
      'sharp',
      {
        dependencies: { 'detect-libc': '^2', semver: '^7' },
        optionalDependencies: {
          '@img/sharp-linux-x64': '1',
          '@img/sharp-darwin-arm64': '1',
          '@img/sharp-linuxmusl-x64': '1',
          '@img/sharp-win32-x64': '1',
        },
      },
      { 'dist/index.cjs': 'module.exports = {};' },
    );
    writePackage('detect-libc', {}, { 'index.js': '' });
    writePackage('semver', {}, { 'index.js': '' });
    writePackage(
      '@img/sharp-linux-x64',
      {
        os: ['linux'],
        cpu: ['x64'],
        libc: ['glibc'],
        optionalDependencies: { '@img/sharp-libvips-linux-x64': '1' },
      },
      { 'lib/sharp-linux-x64.node': 'native' },
    );
    writePackage(
      '@img/sharp-libvips-linux-x64',
      { os: ['linux'], cpu: ['x64'], libc: ['glibc'] },
      { 'lib/libvips.so': 'so' },
    );
    // What a macOS deployer also has installed: it must stay out of the layer.
    writePackage('@img/sharp-darwin-arm64', { os: ['darwin'], cpu: ['arm64'] }, { 'lib/sharp.node': 'mac' });
    writePackage(
      '@img/sharp-linuxmusl-x64',
      { os: ['linux'], cpu: ['x64'], libc: ['musl'] },
      { 'lib/sharp.node': 'musl' },
    );
  };

  it('stages sharp with its runtime dependencies and only the linux-x64 glibc binaries', () => {
    // Prepare
    writeSharp();
    // Act
    const staged = stageSharpLayer({ architecture: 'x86_64', nodeModulesDir: nodeModules, outDir });
    // Assess
    expect(staged.packages.map((p) => p.name)).toEqual([
      '@img/sharp-libvips-linux-x64',
      '@img/sharp-linux-x64',
      'detect-libc',
      'semver',
      'sharp',
    ]);
    expect(filesUnder(join(outDir, 'nodejs', 'node_modules'))).toContain(
      '@img/sharp-linux-x64/lib/sharp-linux-x64.node',
    );
    expect(filesUnder(outDir).filter((file) => /darwin|musl|win32/.test(file))).toEqual([]);
  });

  it('follows a dependency nested in its dependent’s own node_modules', () => {
    // Prepare
    writeSharp();
    writePackage('sharp/node_modules/semver', { name: 'semver', version: '7.9.0' }, { 'index.js': 'nested' });
    // Act
    const staged = stageSharpLayer({ architecture: 'x86_64', nodeModulesDir: nodeModules, outDir });
    // Assess
    expect(staged.packages.find((p) => p.name === 'semver')?.version).toBe('7.9.0');
    expect(filesUnder(outDir)).toContain('nodejs/node_modules/sharp/node_modules/semver/index.js');
  });

  it('is idempotent, and removes what no longer belongs to the layer', () => {
    // Prepare
    writeSharp();
    stageSharpLayer({ architecture: 'x86_64', nodeModulesDir: nodeModules, outDir });
    const stray = join(outDir, 'nodejs', 'node_modules', 'left-over', 'index.js');
    mkdirSync(dirname(stray), { recursive: true });
    writeFileSync(stray, 'from an older closure');
    // Act
    const again = stageSharpLayer({ architecture: 'x86_64', nodeModulesDir: nodeModules, outDir });
    // Assess
    expect(again.copied).toEqual([]);
    expect(filesUnder(outDir).some((file) => file.includes('left-over'))).toBe(false);
  });

  it('says how to install the linux-x64 binaries when they are missing', () => {
    // Prepare
    writePackage('sharp', { dependencies: {}, optionalDependencies: { '@img/sharp-darwin-arm64': '1' } });
    writePackage('@img/sharp-darwin-arm64', { os: ['darwin'], cpu: ['arm64'] });
    // Act
    const stage = () => stageSharpLayer({ architecture: 'x86_64', nodeModulesDir: nodeModules, outDir });
    // Assess
    expect(stage).toThrow(LayerStagingError);
    expect(stage).toThrow(/@img\/sharp-linux-x64.*npm install --os=linux --cpu=x64 sharp/);
  });

  it('stages the project’s real sharp so that it loads from the layer', () => {
    // Act: the project's own node_modules, staged to a temporary directory
    const staged = stageSharpLayer({ architecture: 'x86_64', outDir });
    // Assess
    expect(staged.packages.map((p) => p.name)).toEqual(
      expect.arrayContaining([
        'sharp',
        '@img/sharp-linux-x64',
        '@img/sharp-libvips-linux-x64',
        'detect-libc',
      ]),
    );
    expect(mode(join(outDir, 'nodejs', 'node_modules', 'sharp', 'package.json'))).toMatch(/^[67]44$/);
  });
});

describe('another platform’s binaries without the registry', () => {
  const lockArm64Binaries = () => {
    const lockFile = join(root, 'package-lock.json');
    const locked = { version: '4.1.0', cpu: ['arm64'], os: ['linux'] };
    writeFileSync(
      lockFile,
      JSON.stringify({
        lockfileVersion: 3,
        packages: {
          'node_modules/@ffmpeg-installer/linux-arm64': locked,
          'node_modules/@ffprobe-installer/linux-arm64': { ...locked, version: '5.1.0' },
        },
      }),
    );
    return lockFile;
  };
  const cacheDir = () => join(root, 'cache');
  const unreachableRegistry = () => {
    // Port 9 (discard) refuses at once; no retries, so the failure is immediate.
    vi.stubEnv('npm_config_registry', 'http://127.0.0.1:9/');
    vi.stubEnv('npm_config_fetch_retries', '0');
  };
  afterEach(() => vi.unstubAllEnvs());

  it('fails with a LayerStagingError that names the package and how to install it offline', () => {
    // Prepare
    const lockFile = lockArm64Binaries();
    mkdirSync(nodeModules, { recursive: true });
    unreachableRegistry();
    // Act
    const stage = () =>
      stageFfmpegLayer({
        architecture: 'arm64',
        nodeModulesDir: nodeModules,
        outDir,
        lockFile,
        cacheDir: cacheDir(),
      });
    // Assess
    expect(stage).toThrow(LayerStagingError);
    expect(stage).toThrow(
      /could not fetch @ffmpeg-installer\/linux-arm64@4\.1\.0 from the npm registry.*npm install --no-save --force @ffmpeg-installer\/linux-arm64@4\.1\.0/,
    );
    expect(readdirSync(join(cacheDir(), '@ffmpeg-installer'))).toEqual([]);
  });

  it('stages from layers/.cache with the registry unreachable once the packages were fetched', () => {
    // Prepare: what an earlier, online synth left in the cache
    const lockFile = lockArm64Binaries();
    mkdirSync(nodeModules, { recursive: true });
    for (const [name, version, file] of [
      ['@ffmpeg-installer/linux-arm64', '4.1.0', 'ffmpeg'],
      ['@ffprobe-installer/linux-arm64', '5.1.0', 'ffprobe'],
    ] as const) {
      const dir = join(cacheDir(), `${name}@${version}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version }));
      writeFileSync(join(dir, file), `${file} aarch64 binary`, { mode: 0o644 });
    }
    unreachableRegistry();
    // Act
    const staged = stageFfmpegLayer({
      architecture: 'arm64',
      nodeModulesDir: nodeModules,
      outDir,
      lockFile,
      cacheDir: cacheDir(),
    });
    // Assess
    expect(staged.packages).toEqual([
      { name: '@ffmpeg-installer/linux-arm64', version: '4.1.0' },
      { name: '@ffprobe-installer/linux-arm64', version: '5.1.0' },
    ]);
    expect(mode(join(outDir, 'bin', 'ffprobe'))).toBe('755');
  });
});
