import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { invocationOf, shellCommand, shellQuote } from '../../cli/invocation.ts';
import { Interrupted, RELAYED_SIGNAL_MS, run, signalHandling } from '../../cli/media-pipeline.ts';
import { noteText } from '../../cli/unfinished-uploads.ts';

const collect = () => {
  const chunks: string[] = [];
  return { write: (text: string) => void chunks.push(text), text: () => chunks.join('') };
};

describe('the commands the CLI prints, as they paste', () => {
  it.each([
    ['clip.mp4', 'clip.mp4'],
    ['videos/clip-01.mp4', 'videos/clip-01.mp4'],
    ['my clip.mp4', "'my clip.mp4'"],
    ["it's.mp4", "'it'\\''s.mp4'"],
    ['$HOME/*.mp4', "'$HOME/*.mp4'"],
    ['', "''"],
  ])('quotes %j as %s for a POSIX shell', (word, quoted) => {
    expect(shellQuote(word)).toBe(quoted);
  });

  it.each([
    [
      { npm_command: 'exec', npm_lifecycle_event: 'npx' },
      '/home/u/.npm/_npx/1/node_modules/.bin/media-pipeline',
      'npx media-pipeline',
    ],
    [{ npm_command: 'run', npm_lifecycle_event: 'cli' }, '/repo/cli/media-pipeline.ts', 'npm run cli --'],
    [
      { npm_command: 'run-script', npm_lifecycle_event: 'cli' },
      '/repo/cli/media-pipeline.ts',
      'npm run cli --',
    ],
    [{}, '/repo/cli/media-pipeline.mjs', 'node cli/media-pipeline.mjs'],
    [{}, '/repo/cli/media-pipeline.ts', 'npx tsx cli/media-pipeline.ts'],
    [{}, '/elsewhere/my tools/media-pipeline.mjs', "node '/elsewhere/my tools/media-pipeline.mjs'"],
  ])('with %j running %s, starts again with %s', (env, script, words) => {
    expect(shellCommand(invocationOf({ env, script, cwd: '/repo', onPath: () => false }))).toBe(words);
  });

  it('names the bin alone when `media-pipeline` on PATH is this same file (a global install)', () => {
    const script = '/usr/local/bin/media-pipeline';
    expect(invocationOf({ env: {}, script, cwd: '/home/u', onPath: () => true })).toEqual(['media-pipeline']);
  });

  it('writes a note that cds where the upload started and resumes it', () => {
    const text = noteText({
      jobId: 'j1',
      file: "it's.mp4",
      size: '1.2 GiB',
      cwd: "/home/o'neil",
      resumeCommand: "npx media-pipeline upload 'it'\\''s.mp4' --preset default --resume j1",
      startedAt: new Date('2026-12-03T10:00:00Z'),
    });

    expect(text.split('\n').at(-2)).toBe(
      "cd '/home/o'\\''neil' && npx media-pipeline upload 'it'\\''s.mp4' --preset default --resume j1",
    );
    expect(text).toContain('job j1');
  });
});

describe('signal handling', () => {
  const harness = () => {
    const listeners = new Map<string, () => void>();
    const exits: number[] = [];
    let clock = 0;
    const handling = signalHandling(
      (name, listener) => listeners.set(name, listener),
      (code) => exits.push(code),
      () => clock,
    );
    return {
      ...handling,
      exits,
      send: (name: string, at: number) => {
        clock = at;
        listeners.get(name)?.();
      },
    };
  };

  it('aborts at the first Ctrl-C and ignores the copy npm or tsx relays milliseconds later', async () => {
    // Arrange
    const signals = harness();

    // Act: the terminal's SIGINT, then npm's relay of it
    signals.send('SIGINT', 1000);
    signals.send('SIGINT', 1000 + RELAYED_SIGNAL_MS / 10);
    const confirmed = await signals.confirmAbort(20);

    // Assert
    expect(signals.signal.reason).toBeInstanceOf(Interrupted);
    expect((signals.signal.reason as Interrupted).signalName).toBe('SIGINT');
    expect(confirmed).toBe(false);
    expect(signals.exits).toEqual([]);
  });

  it('confirms an abort at a second Ctrl-C, and quits at a third', async () => {
    const signals = harness();

    signals.send('SIGINT', 1000);
    const confirmation = signals.confirmAbort(60_000);
    signals.send('SIGINT', 2000);
    expect(await confirmation).toBe(true);
    signals.send('SIGINT', 3000);

    expect(signals.exits).toEqual([130]);
  });

  it('aborts with SIGHUP (a closed terminal) and SIGTERM as the reason, never confirming', async () => {
    const hup = harness();
    hup.send('SIGHUP', 1000);
    const term = harness();
    term.send('SIGTERM', 1000);

    expect((hup.signal.reason as Interrupted).signalName).toBe('SIGHUP');
    expect((term.signal.reason as Interrupted).signalName).toBe('SIGTERM');
    expect(await hup.confirmAbort(10)).toBe(false);
  });
});

describe('an interrupted multipart upload, in process against a scripted API and storage', () => {
  let dir: string;
  const part = 5;
  // Storage: takes part 1, and holds part 2 open while it interrupts the CLI (a Ctrl-C mid-part).
  let storage: Server;
  let storageUrl: string;
  let onPartTwo: () => void = () => {};
  const stored: number[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'media-cli-interrupt-'));
    await writeFile(join(dir, 'my clip.mp4'), Buffer.alloc(part * 3, 1));
    storage = createServer((request, response) => {
      const number = Number(new URL(request.url ?? '/', 'http://x').searchParams.get('partNumber'));
      request.resume();
      if (number === 1) {
        request.on('end', () => {
          stored.push(1);
          response.writeHead(200, { etag: '"e1"' }).end();
        });
        return;
      }
      onPartTwo();
    });
    await new Promise<void>((resolve) => storage.listen(0, '127.0.0.1', resolve));
    storageUrl = `http://127.0.0.1:${(storage.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    storage.closeAllConnections();
    await new Promise((resolve) => storage.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * The API plans 3 parts; storage takes part 1 and then holds part 2 until the test interrupts.
   * Returns what the CLI said and which API calls it made.
   */
  const interruptedUpload = async (secondCtrlC: boolean) => {
    const stdout = collect();
    const stderr = collect();
    const calls: string[] = [];
    const controller = new AbortController();
    let confirmAsked = 0;
    stored.length = 0;
    onPartTwo = () => controller.abort(new Interrupted('SIGINT'));
    const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
      const url = new URL(String(input));
      const method = init?.method ?? 'GET';
      calls.push(`${method} ${url.pathname}`);
      if (method === 'POST' && url.pathname === '/api/media/') {
        return Response.json(
          {
            job_id: 'job-7',
            status: 'awaiting_upload',
            upload: {
              method: 'multipart',
              upload_id: 'u',
              part_size: part,
              part_count: 3,
              expires_at: new Date(Date.now() + 3_600_000).toISOString(),
              parts_url: '/api/media/job-7/upload/parts',
              complete_url: '/api/media/job-7/upload/complete',
              abort_url: '/api/media/job-7/upload/abort',
            },
          },
          { status: 201 },
        );
      }
      if (method === 'POST' && url.pathname.endsWith('/upload/parts')) {
        const { part_numbers } = JSON.parse(String(init?.body)) as { part_numbers: number[] };
        return Response.json({
          job_id: 'job-7',
          upload_id: 'u',
          expires_at: new Date(Date.now() + 3_600_000).toISOString(),
          parts: part_numbers.map((n) => ({
            part_number: n,
            url: `${storageUrl}/up?partNumber=${n}`,
            size: part,
            headers: {},
          })),
        });
      }
      if (method === 'GET' && url.pathname.endsWith('/upload/parts')) {
        return Response.json({
          job_id: 'job-7',
          upload_id: 'u',
          part_size: part,
          part_count: 3,
          parts: stored.map((n) => ({ part_number: n, etag: `"e${n}"`, size: part })),
        });
      }
      if (method === 'POST' && url.pathname.endsWith('/upload/abort')) {
        return Response.json({
          job_id: 'job-7',
          status: 'failed',
          error: 'cancelled',
          error_code: 'Upload::Aborted',
        });
      }
      return Response.json({ error: { code: 'Test::Unexpected', message: url.pathname } }, { status: 500 });
    }) as typeof fetch;

    const code = await run(
      [
        'upload',
        join(dir, 'my clip.mp4'),
        '--preset',
        'default',
        '--concurrency',
        '1',
        '--api-url',
        'http://api.test',
      ],
      {
        stdout,
        stderr,
        env: { XDG_STATE_HOME: join(dir, 'state') },
        fetch: fetchImpl,
        signal: controller.signal,
        confirmAbort: async () => {
          confirmAsked++;
          return secondCtrlC;
        },
        invocation: ['npx', 'media-pipeline'],
        cwd: dir,
      },
    );
    return { code, stdout: stdout.text(), stderr: stderr.text(), calls, confirmAsked };
  };

  it('keeps the parts, prints the job id and the pasteable resume command, and exits 130', async () => {
    // Act
    const result = await interruptedUpload(false);

    // Assert
    expect(result.code).toBe(130);
    expect(result.calls).not.toContain('POST /api/media/job-7/upload/abort');
    expect(result.stderr).toMatch(/^my clip\.mp4: job job-7 \(15 B in 3 parts\)$/m);
    expect(result.stderr).toContain('job job-7, 1 of 3 parts (5 B) in storage');
    expect(result.stderr).toContain(
      `  npx media-pipeline upload '${join(dir, 'my clip.mp4')}' --preset default --resume job-7 --api-url http://api.test --concurrency 1\n`,
    );
    expect(result.stderr).toMatch(/Press Ctrl-C again within 3 s to abort this upload/);
    expect(result.stdout).toMatch(/job-7\s+interrupted\s+1 of 3 parts \(5 B\) kept for --resume/);
    expect(result.confirmAsked).toBe(1);
  });

  it('aborts the upload for real at a second Ctrl-C, and says so', async () => {
    const result = await interruptedUpload(true);

    expect(result.code).toBe(130);
    expect(result.calls).toContain('POST /api/media/job-7/upload/abort');
    expect(result.stderr).toContain("Aborted: job job-7's parts are discarded");
  });
});
