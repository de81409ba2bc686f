import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import ffmpegInstaller from '@ffmpeg-installer/ffmpeg';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Code, LayerVersion } from 'aws-cdk-lib/aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { settingsFromContext } from '#lib/app';
import { hostArchitecture, setStackArchitecture } from '#lib/architecture';
import { processVideo } from '../../functions/video/process-video.ts';
import { type PackageFetcher, stageFfmpegLayer, stageSharpLayer } from '../../layers/stage.ts';
import { FfmpegLayer } from '../../lib/layers/ffmpeg-layer.ts';
import { stagedLayerCode } from '../../lib/layers/layer-code.ts';
import { SharpLayer } from '../../lib/layers/sharp-layer.ts';
import { LOCAL_CONTEXT } from '../../local/synth.ts';
import { type SynthesizedPipeline, synthesizePipeline, testApp } from './synthesize.ts';
import { TemplateQueries } from './template-queries.ts';

/** A tool on PATH (or at an absolute path), or undefined. */
const which = (tool: string): string | undefined => {
  const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
};
const FILE = which('file');
const QEMU = process.arch === 'arm64' ? undefined : which('qemu-aarch64');
/** On an arm64 host the aarch64 binaries run natively; elsewhere only under qemu-user. */
const runAarch64 = (binary: string, args: string[]) =>
  process.arch === 'arm64'
    ? spawnSync(binary, args, { encoding: 'latin1', timeout: 60_000 })
    : spawnSync(QEMU as string, [binary, ...args], { encoding: 'latin1', timeout: 60_000 });
const CAN_RUN_AARCH64 = process.arch === 'arm64' || QEMU !== undefined;
const describeFile = (path: string): string =>
  execFileSync(FILE as string, ['-b', path], { encoding: 'utf8' });
const mode = (path: string): number => statSync(path).mode & 0o777;

/** The directory in the cloud assembly a layer's asset was staged to (what gets zipped and deployed). */
const layerAssetDir = (outdir: string, layer: Record<string, unknown>): string => {
  const content = (layer.Properties as { Content: { S3Key: string } }).Content;
  return join(outdir, `asset.${content.S3Key.replace(/\.zip$/, '')}`);
};

describe('architecture setting', () => {
  it('takes arm64 and x86_64 from context and refuses anything else, naming the choices', () => {
    // Prepare
    const parse = (value: unknown) =>
      settingsFromContext(new App({ context: { architecture: value } }).node).architecture;
    // Act / Assess
    expect(parse('arm64')).toBe('arm64');
    expect(parse('x86_64')).toBe('x86_64');
    expect(() => parse('aarch64')).toThrow(/architecture must be one of arm64, x86_64/);
    expect(() => parse('x64')).toThrow(/not "x64"/);
  });

  it('makes the local runtime synthesize for the host, whose binaries it runs', () => {
    // Assess
    expect(hostArchitecture('x64')).toBe('x86_64');
    expect(hostArchitecture('arm64')).toBe('arm64');
    expect(hostArchitecture('ppc64')).toBeUndefined();
    expect(LOCAL_CONTEXT.architecture).toBe(hostArchitecture());
  });
});

describe('staging another platform’s packages on demand', () => {
  let root: string;
  let nodeModules: string;
  let fetched: string[];
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'layer-fetch-'));
    nodeModules = join(root, 'node_modules');
    fetched = [];
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const writePackage = (
    dir: string,
    manifest: Record<string, unknown>,
    files: Record<string, string> = {},
  ) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest));
    for (const [file, content] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, file)), { recursive: true });
      writeFileSync(join(dir, file), content);
    }
  };
  const writeLock = (packages: Record<string, Record<string, unknown>>) =>
    writeFileSync(
      join(root, 'package-lock.json'),
      JSON.stringify({
        lockfileVersion: 3,
        packages: Object.fromEntries(
          Object.entries(packages).map(([name, entry]) => [`node_modules/${name}`, entry]),
        ),
      }),
    );
  /** Stands in for `npm pack`: writes the package the lock names, with a file named after the binary. */
  const fakeRegistry =
    (files: Record<string, Record<string, string>>): PackageFetcher =>
    ({ name, version, dest }) => {
      fetched.push(`${name}@${version}`);
      writePackage(dest, { name, version }, files[name] ?? {});
    };

  it('fetches the arm64 ffmpeg and ffprobe packages at the locked versions when node_modules has only x64', () => {
    // Prepare: the host's (x64) packages are installed; the lock pins the arm64 ones
    writePackage(
      join(nodeModules, '@ffmpeg-installer/linux-x64'),
      { name: '@ffmpeg-installer/linux-x64', version: '4.1.0' },
      { ffmpeg: 'x64' },
    );
    writeLock({
      '@ffmpeg-installer/linux-arm64': { version: '4.1.4', cpu: ['arm64'], os: ['linux'] },
      '@ffprobe-installer/linux-arm64': { version: '5.2.0', cpu: ['arm64'], os: ['linux'] },
    });
    const fetchPackage = fakeRegistry({
      '@ffmpeg-installer/linux-arm64': { ffmpeg: 'arm64 ffmpeg' },
      '@ffprobe-installer/linux-arm64': { ffprobe: 'arm64 ffprobe' },
    });
    const options = {
      architecture: 'arm64' as const,
      nodeModulesDir: nodeModules,
      outDir: join(root, 'build'),
      cacheDir: join(root, 'cache'),
      fetchPackage,
    };
    // Act
    const staged = stageFfmpegLayer(options);
    const again = stageFfmpegLayer(options);
    // Assess
    expect(fetched).toEqual(['@ffmpeg-installer/linux-arm64@4.1.4', '@ffprobe-installer/linux-arm64@5.2.0']);
    expect(staged.packages).toEqual([
      { name: '@ffmpeg-installer/linux-arm64', version: '4.1.4' },
      { name: '@ffprobe-installer/linux-arm64', version: '5.2.0' },
    ]);
    expect(mode(join(root, 'build', 'bin', 'ffprobe'))).toBe(0o755);
    expect(again.copied).toEqual([]);
    expect(fetched).toHaveLength(2); // the cache answered the second time
  });

  it('fetches only the glibc arm64 binaries of sharp’s optional dependencies, under their own names', () => {
    // Prepare: sharp and its JS dependency installed, with the host's x64 binaries
    const platforms = ['linux-x64', 'linux-arm64', 'linuxmusl-arm64', 'darwin-arm64'];
    writePackage(join(nodeModules, 'sharp'), {
      name: 'sharp',
      version: '0.35.5',
      dependencies: { 'detect-libc': '^2' },
      optionalDependencies: Object.fromEntries(platforms.map((p) => [`@img/sharp-${p}`, '0.35.5'])),
    });
    writePackage(join(nodeModules, 'detect-libc'), { name: 'detect-libc', version: '2.1.2' });
    writePackage(join(nodeModules, '@img/sharp-linux-x64'), {
      name: '@img/sharp-linux-x64',
      version: '0.35.5',
      os: ['linux'],
      cpu: ['x64'],
      libc: ['glibc'],
    });
    writeLock({
      '@img/sharp-linux-x64': { version: '0.35.5', os: ['linux'], cpu: ['x64'], libc: ['glibc'] },
      '@img/sharp-linux-arm64': { version: '0.35.5', os: ['linux'], cpu: ['arm64'], libc: ['glibc'] },
      '@img/sharp-linuxmusl-arm64': { version: '0.35.5', os: ['linux'], cpu: ['arm64'], libc: ['musl'] },
      '@img/sharp-darwin-arm64': { version: '0.35.5', os: ['darwin'], cpu: ['arm64'] },
      '@img/sharp-libvips-linux-arm64': { version: '1.3.4', os: ['linux'], cpu: ['arm64'], libc: ['glibc'] },
    });
    const registry = fakeRegistry({});
    const fetchPackage: PackageFetcher = (spec) => {
      registry(spec);
      if (spec.name === '@img/sharp-linux-arm64') {
        // Its manifest names its libvips, as the real one does.
        writePackage(
          spec.dest,
          {
            name: spec.name,
            version: spec.version,
            os: ['linux'],
            cpu: ['arm64'],
            libc: ['glibc'],
            optionalDependencies: { '@img/sharp-libvips-linux-arm64': '1.3.4' },
          },
          { 'lib/sharp-linux-arm64-0.35.5.node': 'native' },
        );
      }
    };
    const outDir = join(root, 'build');
    // Act
    const staged = stageSharpLayer({
      architecture: 'arm64',
      nodeModulesDir: nodeModules,
      outDir,
      cacheDir: join(root, 'cache'),
      fetchPackage,
    });
    // Assess
    expect(fetched.sort()).toEqual(['@img/sharp-libvips-linux-arm64@1.3.4', '@img/sharp-linux-arm64@0.35.5']);
    expect(staged.packages.map((p) => p.name)).toEqual([
      '@img/sharp-libvips-linux-arm64',
      '@img/sharp-linux-arm64',
      'detect-libc',
      'sharp',
    ]);
    expect(
      existsSync(
        join(outDir, 'nodejs/node_modules/@img/sharp-linux-arm64/lib/sharp-linux-arm64-0.35.5.node'),
      ),
    ).toBe(true);
    expect(existsSync(join(outDir, 'nodejs/node_modules/@img/sharp-linux-x64'))).toBe(false);
  });

  it('says what to install when the lock pins no package of the platform', () => {
    // Prepare: no lock at all
    const stage = () =>
      stageFfmpegLayer({
        architecture: 'arm64',
        nodeModulesDir: nodeModules,
        outDir: join(root, 'build'),
        cacheDir: join(root, 'cache'),
        fetchPackage: fakeRegistry({}),
      });
    // Act / Assess
    expect(stage).toThrow(
      /@ffmpeg-installer\/linux-arm64\/ffmpeg not found.*npm install --os=linux --cpu=arm64/,
    );
  });
});

describe('the layers’ asset hash', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'layer-hash-'));
    mkdirSync(join(root, 'bin'));
    writeFileSync(join(root, 'bin', 'ffmpeg'), 'the same bytes');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  /** The S3 key (the asset hash) of a layer made from `code`, in a stack of its own. */
  const assetKey = (code: (dir: string) => Code): string => {
    const stack = new Stack(new App(), 'Hash');
    new LayerVersion(stack, 'Layer', { code: code(root) });
    const [layer] = Object.values(Template.fromStack(stack).findResources('AWS::Lambda::LayerVersion'));
    if (!layer) throw new Error('no layer in the template');
    return (layer.Properties as { Content: { S3Key: string } }).Content.S3Key;
  };

  it('changes when only a staged file’s mode changes, where CDK’s own hash does not', () => {
    // Prepare
    chmodSync(join(root, 'bin', 'ffmpeg'), 0o644);
    const before = { salted: assetKey(stagedLayerCode), cdk: assetKey((dir) => Code.fromAsset(dir)) };
    // Act: the fix a staging change would make, the contents untouched
    chmodSync(join(root, 'bin', 'ffmpeg'), 0o755);
    const after = { salted: assetKey(stagedLayerCode), cdk: assetKey((dir) => Code.fromAsset(dir)) };
    // Assess
    expect(after.salted).not.toBe(before.salted);
    expect(after.cdk).toBe(before.cdk); // why the salt is needed
    expect(assetKey(stagedLayerCode)).toBe(after.salted); // and stable otherwise
  });

  it('changes with the contents too', () => {
    // Prepare
    const before = assetKey(stagedLayerCode);
    // Act
    writeFileSync(join(root, 'bin', 'ffmpeg'), 'other bytes, same mode');
    // Assess
    expect(assetKey(stagedLayerCode)).not.toBe(before);
  });
});

describe('x86_64 layers', () => {
  it('declare x86_64 and carry x86-64 binaries', () => {
    // Prepare
    const outdir = mkdtempSync(join(tmpdir(), 'layers-x64-'));
    try {
      const stack = new Stack(testApp({}, outdir), 'Layers');
      setStackArchitecture(stack, 'x86_64');
      // Act
      const ffmpeg = new FfmpegLayer(stack, 'Ffmpeg');
      const sharp = new SharpLayer(stack, 'Sharp');
      // Assess
      const layers = Template.fromStack(stack).findResources('AWS::Lambda::LayerVersion');
      for (const layer of Object.values(layers)) {
        expect(layer.Properties.CompatibleArchitectures).toEqual(['x86_64']);
      }
      expect(ffmpeg.packages.map((p) => p.name)).toEqual([
        '@ffmpeg-installer/linux-x64',
        '@ffprobe-installer/linux-x64',
      ]);
      expect(sharp.packages.map((p) => p.name)).toContain('@img/sharp-linux-x64');
      if (FILE)
        expect(describeFile(join(ffmpeg.stagedDirectory, 'bin', 'ffmpeg'))).toMatch(
          /ELF 64-bit LSB .*x86-64/,
        );
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});

describe('a synth with the default architecture', () => {
  // Prepare and Act, once: the whole app with the default architecture (arm64), its arm64 packages fetched at the locked versions if
  // node_modules lacks them (the first run downloads about 50 MB from the npm registry; later runs reuse layers/.cache).
  let synthesized: SynthesizedPipeline;
  let ffmpegDir: string;
  let sharpDir: string;
  beforeAll(() => {
    synthesized = synthesizePipeline();
    const layers = synthesized.template.findResources('AWS::Lambda::LayerVersion');
    const byDescription = (word: string) =>
      Object.values(layers).find((layer) => String(layer.Properties.Description).includes(word)) ?? {};
    ffmpegDir = layerAssetDir(synthesized.outdir, byDescription('ffmpeg'));
    sharpDir = layerAssetDir(synthesized.outdir, byDescription('sharp'));
  }, 300_000);
  afterAll(() => synthesized?.cleanUp());

  it('runs every project function on arm64 and declares the layers for arm64 only', () => {
    // Assess
    expect(synthesized.stack.architecture).toBe('arm64');
    const functions = new TemplateQueries(synthesized.template).projectFunctions();
    expect(functions.size).toBeGreaterThan(5);
    for (const [service, { properties }] of functions) {
      expect(properties.Architectures, service).toEqual(['arm64']);
    }
    const layers = Object.values(synthesized.template.findResources('AWS::Lambda::LayerVersion'));
    expect(layers).toHaveLength(2);
    for (const layer of layers) expect(layer.Properties.CompatibleArchitectures).toEqual(['arm64']);
    expect(synthesized.stack.processing.ffmpegLayer?.packages.map((p) => p.name)).toEqual([
      '@ffmpeg-installer/linux-arm64',
      '@ffprobe-installer/linux-arm64',
    ]);
  });

  it('stages ffmpeg and ffprobe in the assembly executable by any user', () => {
    // Assess: the assembly's copy is what gets zipped and deployed
    for (const binary of ['ffmpeg', 'ffprobe']) {
      expect(mode(join(ffmpegDir, 'bin', binary)), binary).toBe(0o755);
    }
  });

  it.skipIf(!FILE)(
    `stages aarch64 executables and shared objects${FILE ? '' : ' (skipped: no `file`; apt-get install file)'}`,
    () => {
      // Assess
      for (const binary of ['ffmpeg', 'ffprobe']) {
        expect(describeFile(join(ffmpegDir, 'bin', binary)), binary).toMatch(
          /^ELF 64-bit LSB (pie )?executable, ARM aarch64/,
        );
      }
      const img = join(sharpDir, 'nodejs', 'node_modules', '@img');
      const addon = join(img, 'sharp-linux-arm64', 'lib', 'sharp-linux-arm64-0.35.5.node');
      expect(describeFile(addon)).toMatch(/^ELF 64-bit LSB shared object, ARM aarch64/);
      expect(describeFile(join(img, 'sharp-libvips-linux-arm64', 'lib', 'libvips-cpp.so.8.18.7'))).toMatch(
        /^ELF 64-bit LSB shared object, ARM aarch64/,
      );
      expect(mode(addon) & 0o444).toBe(0o444); // readable by the Lambda user
      expect(existsSync(join(img, 'sharp-linux-x64'))).toBe(false);
    },
  );

  it.skipIf(!CAN_RUN_AARCH64)(
    `runs the staged ffmpeg and ffprobe${CAN_RUN_AARCH64 ? '' : ' (skipped: no qemu-aarch64 on this x86 host; apt-get install qemu-user)'}`,
    () => {
      // Act: static builds, so qemu-user needs no aarch64 sysroot. sharp's addon is not run: it is
      // dynamically linked against an aarch64 glibc and needs an aarch64 Node to load it.
      const ffmpegVersion = runAarch64(join(ffmpegDir, 'bin', 'ffmpeg'), ['-hide_banner', '-version']);
      const ffprobeVersion = runAarch64(join(ffmpegDir, 'bin', 'ffprobe'), ['-hide_banner', '-version']);
      // The poster path's encoder: one WebP frame of a test pattern, to stdout.
      const poster = runAarch64(join(ffmpegDir, 'bin', 'ffmpeg'), [
        '-hide_banner',
        '-nostdin',
        '-f',
        'lavfi',
        '-i',
        'testsrc=size=64x48:rate=1',
        '-frames:v',
        '1',
        '-c:v',
        'libwebp',
        '-f',
        'webp',
        'pipe:1',
      ]);
      // Assess
      expect(ffmpegVersion.status, ffmpegVersion.stderr).toBe(0);
      expect(ffmpegVersion.stdout).toMatch(/^ffmpeg version /);
      expect(ffprobeVersion.status, ffprobeVersion.stderr).toBe(0);
      expect(ffprobeVersion.stdout).toMatch(/^ffprobe version /);
      expect(poster.status, poster.stderr.slice(-500)).toBe(0);
      expect(poster.stdout.slice(0, 4)).toBe('RIFF');
      expect(poster.stdout.slice(8, 12)).toBe('WEBP');
    },
    60_000,
  );

  it.skipIf(!CAN_RUN_AARCH64)(
    `processes a clip with the staged binaries as the video function does${CAN_RUN_AARCH64 ? '' : ' (skipped: no qemu-aarch64)'}`,
    async () => {
      // Prepare: a 4 s clip made by the host's ffmpeg; the staged binaries behind wrappers that start
      // them under qemu-user (runBinary still applies its address-space cap and watchdog to them)
      const work = mkdtempSync(join(tmpdir(), 'arm64-video-'));
      try {
        const clip = join(work, 'clip.mp4');
        execFileSync(ffmpegInstaller.path, [
          '-hide_banner',
          '-nostdin',
          '-loglevel',
          'error',
          '-y',
          '-f',
          'lavfi',
          '-i',
          'testsrc2=size=640x360:rate=30',
          '-f',
          'lavfi',
          '-i',
          'sine',
          '-t',
          '4',
          '-c:v',
          'libx264',
          '-preset',
          'veryfast',
          '-c:a',
          'aac',
          clip,
        ]);
        const tool = (name: string): string => {
          const binary = join(ffmpegDir, 'bin', name);
          if (process.arch === 'arm64') return binary;
          const wrapper = join(work, name);
          writeFileSync(wrapper, `#!/bin/sh\nexec ${QEMU} ${binary} "$@"\n`, { mode: 0o755 });
          return wrapper;
        };
        const options = {
          ffmpegPath: tool('ffmpeg'),
          ffprobePath: tool('ffprobe'),
          maxDurationSeconds: 3600,
          timeoutMs: 60_000,
          memoryLimitBytes: 1024 * 1024 * 1024,
        };
        // Act
        const jpeg = await processVideo(
          clip,
          { at_second: 2, width: 320, format: 'jpeg', quality: 80 },
          options,
        );
        const webp = await processVideo(
          clip,
          { at_second: 2, width: 320, format: 'webp', quality: 80 },
          options,
        );
        // Assess
        expect(jpeg.metadata).toMatchObject({
          width: 640,
          height: 360,
          codec: 'h264',
          container: 'mp4',
          audio_codec: 'aac',
        });
        expect(jpeg.poster).toMatchObject({
          width: 320,
          height: 180,
          contentType: 'image/jpeg',
          at_second: 2,
        });
        expect(jpeg.poster.data.subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
        expect(webp.poster.data.subarray(8, 12).toString('latin1')).toBe('WEBP');
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    },
    120_000,
  );
});
