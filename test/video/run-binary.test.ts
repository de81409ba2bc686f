import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BinaryExitError,
  BinaryOutputTooLargeError,
  BinaryTimeoutError,
  BinaryUnavailableError,
  hardenedInputArgs,
  runBinary,
  summariseStderr,
} from '../../functions/video/run-binary.ts';
import { ffmpegPath, ffprobePath } from './clips.ts';

// The generic behaviour is exercised with node itself as the child: fast and fully scripted.
const node = process.execPath;
const script = (source: string): string[] => ['-e', source];

const processesWith = async (marker: string): Promise<string[]> => {
  const found: string[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(marker)) found.push(entry);
  }
  return found;
};

describe('runBinary', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'run-binary-test-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('returns stdout of a successful run', async () => {
    // Act
    const result = await runBinary(node, script('process.stdout.write("hello")'), { timeoutMs: 10_000 });

    // Assess
    expect(result.stdout.toString()).toBe('hello');
  });

  it('passes arguments as they are, with no shell to interpret them', async () => {
    // Prepare
    const marker = join(dir, 'pwned');
    const hostile = `x; touch ${marker} $(touch ${marker}) \`touch ${marker}\``;

    // Act
    const result = await runBinary(node, [...script('process.stdout.write(process.argv[1])'), hostile], {
      timeoutMs: 10_000,
    });

    // Assess
    expect(result.stdout.toString()).toBe(hostile);
    expect(existsSync(marker)).toBe(false);
  });

  it('gives the child no stdin and an empty environment', async () => {
    // Act
    const result = await runBinary(
      node,
      script(
        'const fs=require("fs");process.stdout.write(JSON.stringify({stdin:fs.readFileSync(0,"utf8"),env:Object.keys(process.env)}))',
      ),
      { timeoutMs: 10_000 },
    );

    // Assess
    expect(JSON.parse(result.stdout.toString())).toEqual({ stdin: '', env: ['AV_LOG_FORCE_NOCOLOR'] });
  });

  it('rejects a non-zero exit with the exit code and only a short tail of stderr', async () => {
    // Prepare: 1 MB of stderr, ending in a recognisable line.
    const noisy = script(
      'process.stderr.write("x".repeat(1_000_000) + "\\nthe actual reason\\n", () => process.exit(3))',
    );

    // Act
    const error = await runBinary(node, noisy, { timeoutMs: 10_000 }).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(BinaryExitError);
    const exit = error as BinaryExitError;
    expect(exit.code).toBe('Media::ToolFailed');
    expect(exit.exitCode).toBe(3);
    expect(exit.signal).toBeNull();
    expect(exit.message).toBe(`${node.split('/').pop()} exited with code 3`);
    expect(exit.stderrTail.length).toBeLessThanOrEqual(2048);
    expect(exit.stderrTail.endsWith('the actual reason')).toBe(true);
  });

  it('kills a process that outlives its deadline with SIGKILL and says so', async () => {
    // Prepare: ignores SIGTERM, so only SIGKILL ends it.
    const stubborn = script('process.on("SIGTERM",()=>{});console.log(process.pid);setInterval(()=>{},1000)');
    const started = Date.now();

    // Act
    const error = await runBinary(node, stubborn, { timeoutMs: 300 }).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(BinaryTimeoutError);
    expect((error as BinaryTimeoutError).code).toBe('Media::ToolTimeout');
    expect((error as Error).message).toMatch(/did not finish within 300 ms and was killed/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('kills a real ffmpeg run at its deadline and leaves no process behind', async () => {
    // Prepare: an endless synthetic source that would otherwise encode forever, tagged so that
    // its process can be found in /proc.
    const tag = `timeout-test-${randomUUID()}`;
    const endless = ['-nostdin', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30'];
    const args = [...endless, '-metadata', `comment=${tag}`, '-f', 'null', '-'];

    // Act
    const error = await runBinary(ffmpegPath, args, { timeoutMs: 400 }).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(BinaryTimeoutError);
    expect((error as Error).message).toBe('ffmpeg did not finish within 400 ms and was killed');
    expect(await processesWith(tag)).toEqual([]);
  });

  it('kills a real ffmpeg run when its signal aborts, rejecting with the reason, and leaves no process behind', async () => {
    // Prepare
    const tag = `abort-test-${randomUUID()}`;
    const args = ['-nostdin', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30'];
    const controller = new AbortController();
    const reason = new Error('the probe said no');

    // Act
    const running = runBinary(ffmpegPath, [...args, '-metadata', `comment=${tag}`, '-f', 'null', '-'], {
      timeoutMs: 60_000,
      signal: controller.signal,
    }).catch((caught: unknown) => caught);
    setTimeout(() => controller.abort(reason), 200);
    const error = await running;

    // Assess
    expect(error).toBe(reason);
    expect(await processesWith(tag)).toEqual([]);
  });

  it('does not start a process for a signal that has already aborted', async () => {
    // Prepare
    const marker = join(dir, `never-${randomUUID()}`);

    // Act
    const error = await runBinary(
      node,
      script(`require("fs").writeFileSync(${JSON.stringify(marker)}, "")`),
      {
        timeoutMs: 10_000,
        signal: AbortSignal.abort(),
      },
    ).catch((caught: unknown) => caught);

    // Assess
    expect((error as Error).name).toBe('AbortError');
    expect(existsSync(marker)).toBe(false);
  });

  it('kills a process whose stdout exceeds the cap', async () => {
    // Act
    const error = await runBinary(node, script('process.stdout.write(Buffer.alloc(8*1024*1024))'), {
      timeoutMs: 10_000,
      maxStdoutBytes: 1024 * 1024,
    }).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(BinaryOutputTooLargeError);
    expect((error as BinaryOutputTooLargeError).code).toBe('Media::ToolOutputTooLarge');
  });

  it('reports a binary that cannot be started', async () => {
    // Act
    const error = await runBinary(join(dir, 'no-such-ffmpeg'), ['-version'], { timeoutMs: 10_000 }).catch(
      (caught: unknown) => caught,
    );

    // Assess
    expect(error).toBeInstanceOf(BinaryUnavailableError);
    expect((error as Error).message).toBe('could not start no-such-ffmpeg (ENOENT)');
  });

  it('refuses to pass a URL', async () => {
    // Act
    const error = await runBinary(ffprobePath, ['-i', 'http://169.254.169.254/latest/meta-data/'], {
      timeoutMs: 10_000,
    }).catch((caught: unknown) => caught);

    // Assess
    expect(error).toMatchObject({ code: 'Media::UrlRefused' });
  });
});

describe('hardenedInputArgs', () => {
  it('allows only the file protocol and the MP4 and Matroska demuxers', () => {
    // Act
    const input = hardenedInputArgs('/tmp/in.mp4');

    // Assess
    expect(input.options).toEqual([
      '-protocol_whitelist',
      'file',
      '-format_whitelist',
      'mov,mp4,m4a,3gp,3g2,mj2,matroska,webm',
    ]);
    expect(input.url).toBe('file:/tmp/in.mp4');
  });

  it('makes relative, dash-leading and scheme-looking paths absolute local files', () => {
    // Act / Assess
    expect(hardenedInputArgs('-i').url).toBe(`file:${join(process.cwd(), '-i')}`);
    expect(hardenedInputArgs('http:evil').url).toBe(`file:${join(process.cwd(), 'http:evil')}`);
  });
});

describe('summariseStderr', () => {
  it('drops log prefixes and replaces the local path', () => {
    // Prepare
    const tail = [
      '[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d0c0a2e2c0] moov atom not found',
      'file:/tmp/job-1/input.mp4: Invalid data found when processing input',
    ].join('\n');

    // Act / Assess
    expect(summariseStderr(tail, '/tmp/job-1/input.mp4')).toBe(
      'moov atom not found; input: Invalid data found when processing input',
    );
  });
});
