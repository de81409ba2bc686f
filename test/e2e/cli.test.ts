import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeJpeg, makeMp4 } from '#test/media';
import type { UploadRow } from '../../cli/media-pipeline.ts';
import { apiKey, apiUrl, call, target } from './client.ts';

/**
 * `media-pipeline` as a user runs it: the bin shim in a child process, pointed at the stack by flag or
 * env, with the suite's API key in MEDIA_PIPELINE_API_KEY (as a user would export it).
 */
const BIN = fileURLToPath(new URL('../../cli/media-pipeline.mjs', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const cli = (args: string[], env: Record<string, string> = {}): Promise<Run> =>
  new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      {
        env: {
          PATH: process.env.PATH,
          NO_COLOR: '1',
          ...(apiKey() ? { MEDIA_PIPELINE_API_KEY: apiKey() } : {}),
          ...env,
        },
        timeout: 90_000,
        maxBuffer: 4 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });

let dir: string;
let photo: string;
let cut: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'media-cli-'));
  const jpeg = await makeJpeg(900, 600, 41);
  photo = join(dir, 'cli-photo.jpg');
  cut = join(dir, 'cli-cut.jpg');
  await writeFile(photo, jpeg);
  await writeFile(cut, jpeg.subarray(0, Math.floor(jpeg.length / 2)));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('media-pipeline (the CLI)', () => {
  it('uploads a file, waits for it and prints JSON only, exiting 0 when the job is done', async () => {
    // Act: the API URL from the environment
    const run = await cli(['upload', photo, '--preset', 'default', '--wait', '--json'], {
      MEDIA_PIPELINE_API_URL: apiUrl(),
    });

    // Assess
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const output = JSON.parse(run.stdout) as { ok: boolean; uploads: UploadRow[] };
    expect(output.ok).toBe(true);
    expect(output.uploads).toEqual([
      expect.objectContaining({
        file: 'cli-photo.jpg',
        status: 'done',
        job_id: expect.any(String),
        error: null,
      }),
    ]);
    expect(Object.keys(output.uploads[0]?.result_urls ?? {}).sort()).toEqual(['large', 'medium', 'thumb']);

    // Act + Assess: status of that job, by flag
    const status = await cli(['status', output.uploads[0]?.job_id ?? '', '--json', '--api-url', apiUrl()]);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ status: 'done', file_name: 'cli-photo.jpg' });
  });

  it('exits non-zero when a job fails, with a summary table naming each file and its outcome', async () => {
    // Act: a good file and a truncated JPEG, human output (not a terminal: plain progress lines)
    const run = await cli(['upload', photo, cut, '--preset', 'default', '--wait', '--api-url', apiUrl()]);

    // Assess
    expect(run.code).toBe(1);
    const [header, rule, ...rows] = run.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^FILE\s+JOB ID\s+STATUS\s+RESULT$/);
    expect(rule).toMatch(/^─+/);
    // Variants with their dimensions and size, no 450-character presigned URL
    // (the photo may be a duplicate of an earlier test's: then its first line says so)
    expect(rows.find((row) => row.startsWith('cli-photo.jpg'))).toMatch(/\sdone\s/);
    expect(run.stdout).toMatch(/(\s|^)thumb 150×100 jpeg [\d.]+ KiB$/m);
    expect(run.stdout).not.toContain('http');
    expect(run.stderr).toMatch(/^cli-photo\.jpg: job \S+$/m);
    expect(rows.find((row) => row.startsWith('cli-cut.jpg'))).toMatch(/\sfailed\s+.+\[Media::Corrupt\]/);
    expect(run.stderr).toMatch(/cli-cut\.jpg: failed/);
  });

  it('reports a refused file in JSON and exits 1; a wrong command line exits 2', async () => {
    // Prepare
    const notes = join(dir, 'notes.txt');
    await writeFile(notes, 'not media');

    // Act
    const refused = await cli(['upload', notes, photo, '--preset', 'nope', '--json', '--api-url', apiUrl()]);
    const usage = await cli(['upload', photo, '--api-url', apiUrl()]);

    // Assess
    expect(refused.code).toBe(1);
    const output = JSON.parse(refused.stdout) as { ok: boolean; uploads: UploadRow[] };
    expect(output.ok).toBe(false);
    expect(output.uploads[0]).toMatchObject({
      file: 'notes.txt',
      status: 'refused',
      error: expect.stringContaining('--content-type'),
    });
    expect(output.uploads[1]).toMatchObject({ status: 'refused', error_code: 'Request::UnknownPreset' });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('upload needs --preset');
  });

  it('lists the presets', async () => {
    const run = await cli(['presets', '--json', '--api-url', apiUrl()]);

    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).presets.map((preset: { name: string }) => preset.name)).toContain(
      'default',
    );
  });

  it('lists the jobs newest first, pages on with the cursor it prints, and deletes a job', async () => {
    // Prepare: a job made through the CLI
    const uploaded = await cli([
      'upload',
      photo,
      '--preset',
      'default',
      '--wait',
      '--json',
      '--api-url',
      apiUrl(),
    ]);
    const jobId = (JSON.parse(uploaded.stdout) as { uploads: UploadRow[] }).uploads[0]?.job_id ?? '';

    // Act
    const json = await cli(['list', '--limit', '1', '--json', '--api-url', apiUrl()]);
    const table = await cli(['list', '--status', 'done', '--limit', '2', '--api-url', apiUrl()]);

    // Assess: the newest first, and the command for the next page
    expect(json.code).toBe(0);
    const page = JSON.parse(json.stdout) as { items: Array<{ id: string }>; next_cursor: string | null };
    expect(page.items.map((job) => job.id)).toEqual([jobId]);
    expect(page.next_cursor).toEqual(expect.any(String));
    expect(table.code).toBe(0);
    const [header, , row] = table.stdout.split('\n');
    expect(header).toMatch(/^ID\s+STATUS\s+PRESET\s+FILE\s+CREATED$/);
    expect(row).toMatch(new RegExp(`^${jobId}\\s+done.*\\s+default\\s+cli-photo\\.jpg \\(`));
    const next = /More jobs: node cli\/media-pipeline\.mjs list --status done --limit 2 --cursor (\S+)/.exec(
      table.stdout,
    )?.[1];
    expect(next).toEqual(expect.any(String));
    const following = await cli([
      'list',
      '--status',
      'done',
      '--limit',
      '2',
      '--cursor',
      next ?? '',
      '--json',
      '--api-url',
      apiUrl(),
    ]);
    expect(following.code).toBe(0);
    expect(
      (JSON.parse(following.stdout) as { items: Array<{ id: string }> }).items.map((job) => job.id),
    ).not.toContain(jobId);

    // Act + Assess: deleted, the job is gone
    const deleted = await cli(['delete', jobId, '--api-url', apiUrl()]);
    expect(deleted).toMatchObject({ code: 0, stdout: `job ${jobId} is deleted\n` });
    const status = await cli(['status', jobId, '--json', '--api-url', apiUrl()]);
    expect(status.code).toBe(1);
    expect(JSON.parse(status.stdout)).toMatchObject({
      ok: false,
      error: { code: 'Job::NotFound', status: 404 },
    });
  });

  it.skipIf(!apiKey())('says how to pass a key when none is given', async () => {
    const run = await cli(['list', '--api-url', apiUrl()], { MEDIA_PIPELINE_API_KEY: '' });

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/none was sent: pass --api-key KEY or set MEDIA_PIPELINE_API_KEY/);
  });

  // The keys commands work on the running local runtime's table, found through its data directory.
  describe.skipIf(!target().dataDir)('keys, against the local runtime', () => {
    const keysCli = (args: string[], env: Record<string, string> = {}) =>
      cli(['keys', ...args], { MEDIA_PIPELINE_DATA_DIR: target().dataDir ?? '', ...env });

    it('creates a key for a new tenant that the API takes at once, lists it and revokes another', async () => {
      // Act: a tenant of its own, so that its listing is empty
      const tenant = `cli-e2e-${Date.now().toString(36)}`;
      const created = await keysCli(['create', '--tenant', tenant]);
      const second = await keysCli(['create', '--tenant', tenant, '--json']);

      // Assess: the key is the last line, the new tenant's webhook secret above it
      expect(created.code).toBe(0);
      const key = created.stdout.trimEnd().split('\n').at(-1) ?? '';
      expect(key).toMatch(/^mpk_[0-9a-f]{12}_[\w-]{43}$/);
      expect(created.stdout).toMatch(/^ {2}whsec_/m);
      const other = JSON.parse(second.stdout) as {
        key: string;
        key_id: string;
        webhook_secret: string | null;
      };
      expect(other).toMatchObject({ tenant, webhook_secret: null });
      const listed = await cli(['list', '--json', '--api-url', apiUrl()], { MEDIA_PIPELINE_API_KEY: key });
      expect(listed.code).toBe(0);
      expect(JSON.parse(listed.stdout)).toEqual({ items: [], next_cursor: null });

      // Act + Assess: revoked before it was ever used (so no cached answer), the second key is refused
      const keys = await keysCli(['list', '--json']);
      expect(
        (JSON.parse(keys.stdout) as { keys: Array<{ key_id: string; tenant: string }> }).keys.filter(
          (record) => record.tenant === tenant,
        ),
      ).toHaveLength(2);
      const revoked = await keysCli(['revoke', other.key_id]);
      expect(revoked.code).toBe(0);
      expect(revoked.stdout).toContain(`key ${other.key_id} of tenant ${tenant} is revoked`);
      const refused = await cli(['list', '--api-url', apiUrl()], { MEDIA_PIPELINE_API_KEY: other.key });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/the API key was refused: it is unknown or revoked/);
    });
  });
});

/**
 * Signals as a terminal sends them: the CLI runs in a process group of its own (a shell's foreground
 * job), and Ctrl-C or a closed terminal signals the whole group, npm included when it runs through
 * npx (npm then relays the same SIGINT to the CLI a second time). To interrupt a multipart upload
 * against the real local runtime, which takes a part in milliseconds, the test stops the group
 * (SIGSTOP) as soon as the job id is printed, lets it run in short steps until storage holds a
 * part, and signals it while stopped: the signal is handled as the group continues.
 */
describe('media-pipeline interrupted in a multipart upload', () => {
  const ROOT = fileURLToPath(new URL('../..', import.meta.url));
  let threshold = 0;
  let clipDir: string;
  let clip: string;
  let stateHome: string;

  beforeAll(async () => {
    const presets = await call<{ limits: { multipart_threshold_bytes: number } }>('GET', '/api/presets/');
    threshold = presets.body.limits.multipart_threshold_bytes;
    if (threshold > 16 * 1024 * 1024) return;
    // Six parts or more of a real video (32 Mbit/s of filler, so its size is known), in a folder and
    // under a name that need quoting.
    clipDir = join(dir, 'my videos');
    await mkdir(clipDir, { recursive: true });
    clip = join(clipDir, "it's a clip.mp4");
    await writeFile(
      clip,
      await makeMp4(Math.ceil((threshold * 6 * 8) / 32e6) + 1, '320x240', { bitrateMbps: 32 }),
    );
    stateHome = join(dir, 'state');
  }, 120_000);

  interface Child {
    process: ChildProcess;
    stderr: () => string;
    stdout: () => string;
    exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
    waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<RegExpExecArray>;
    /** Signals the whole process group, as a terminal does. */
    signal: (name: NodeJS.Signals) => void;
  }

  const start = (command: string, args: string[]): Child => {
    const child = spawn(command, args, {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NO_COLOR: '1',
        XDG_STATE_HOME: stateHome,
        npm_config_update_notifier: 'false',
        ...(apiKey() ? { MEDIA_PIPELINE_API_KEY: apiKey() } : {}),
      },
    });
    let stdout = '';
    let stderr = '';
    const watchers = new Set<() => void>();
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      for (const watcher of watchers) watcher();
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    return {
      process: child,
      stdout: () => stdout,
      stderr: () => stderr,
      exited,
      signal: (name) => process.kill(-(child.pid ?? 0), name),
      waitFor: (pattern, timeoutMs = 60_000) =>
        new Promise((resolve, reject) => {
          const check = () => {
            const match = pattern.exec(stderr);
            if (!match) return;
            watchers.delete(check);
            clearTimeout(timer);
            resolve(match);
          };
          const timer = setTimeout(() => {
            watchers.delete(check);
            reject(new Error(`no ${pattern} in stderr:\n${stderr}`));
          }, timeoutMs);
          watchers.add(check);
          check();
        }),
    };
  };

  const partsInStorage = async (jobId: string): Promise<number> => {
    const listed = await call<{ parts?: unknown[] }>('GET', `/api/media/${jobId}/upload/parts`);
    return listed.body.parts?.length ?? 0;
  };

  /** Stops the CLI at its job id, runs it in 20 ms steps until storage holds a part, leaves it stopped. */
  const stopWithAPartSent = async (child: Child): Promise<string> => {
    const jobId = (await child.waitFor(/: job (\S+) \(.* in \d+ parts\)$/m))[1] ?? '';
    child.signal('SIGSTOP');
    for (let step = 0; (await partsInStorage(jobId)) === 0; step++) {
      if (step > 500) throw new Error('no part reached storage');
      child.signal('SIGCONT');
      await new Promise((resolve) => setTimeout(resolve, 20));
      child.signal('SIGSTOP');
    }
    return jobId;
  };

  const jobOf = async (jobId: string) =>
    (await call<{ status: string; error_code: string | null }>('GET', `/api/media/${jobId}/`)).body;

  /** The clip's upload, one part at a time, so that an interrupt finds parts sent and parts to send. */
  const uploadClip = () => [
    'upload',
    clip,
    '--preset',
    'default',
    '--concurrency',
    '1',
    '--api-url',
    apiUrl(),
  ];
  const quotedClip = () => `'${clip.replaceAll("'", `'\\''`)}'`;

  it('Ctrl-C through npx keeps the parts and prints a resume command that finishes the upload when pasted', async (context) => {
    if (threshold > 16 * 1024 * 1024) context.skip();
    // Arrange: through npx, as the README says, from the project folder
    const child = start('npx', ['media-pipeline', ...uploadClip()]);
    const jobId = await stopWithAPartSent(child);

    // Act: Ctrl-C (npm relays it to the CLI a second time)
    child.signal('SIGINT');
    child.signal('SIGCONT');
    const exit = await child.exited;

    // Assert: exit 130, the parts kept, the job waiting for the rest, the command as pasted
    // npm exits 130 too, or re-raises SIGINT once its shell did: either way the shell's $? is 130.
    expect(exit.code === 130 || exit.signal === 'SIGINT', `${JSON.stringify(exit)}\n${child.stderr()}`).toBe(
      true,
    );
    const command = `npx media-pipeline upload ${quotedClip()} --preset default --resume ${jobId} --api-url ${apiUrl()} --concurrency 1`;
    expect(child.stderr()).toContain(
      `Interrupted: the parts already sent are kept.\n  it's a clip.mp4: job ${jobId}, `,
    );
    expect(child.stderr()).toContain(`To finish it, run:\n  ${command}\n`);
    expect(child.stderr()).toMatch(/Press Ctrl-C again within 3 s to abort this upload/);
    expect(child.stderr()).not.toContain('Aborted');
    expect(child.stdout()).toMatch(new RegExp(`${jobId}\\s+interrupted\\s+\\d+ of \\d+ parts`));
    expect(await jobOf(jobId)).toMatchObject({ status: 'awaiting_upload' });
    const kept = await partsInStorage(jobId);
    expect(kept).toBeGreaterThanOrEqual(1);
    const note = join(stateHome, 'media-pipeline', 'unfinished-uploads', `${jobId}.sh`);
    expect(await readFile(note, 'utf8')).toContain(`&& ${command}\n`);

    // Act: the command, pasted into a shell
    const resumed = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(
        '/bin/sh',
        ['-c', command],
        {
          cwd: ROOT,
          env: {
            PATH: process.env.PATH,
            HOME: process.env.HOME,
            NO_COLOR: '1',
            XDG_STATE_HOME: stateHome,
            npm_config_update_notifier: 'false',
            ...(apiKey() ? { MEDIA_PIPELINE_API_KEY: apiKey() } : {}),
          },
          timeout: 90_000,
        },
        (error, _stdout, stderr) =>
          resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stderr }),
      );
    });

    // Assert: only the missing parts were sent, and the job is processed
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(
      new RegExp(`^it's a clip\\.mp4: ${kept} parts were in storage already, \\d+ sent now$`, 'm'),
    );
    expect(existsSync(note)).toBe(false);
    for (let i = 0; i < 120 && (await jobOf(jobId)).status !== 'done'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(await jobOf(jobId)).toMatchObject({ status: 'done' });
  });

  it('a second Ctrl-C within the window aborts the upload for real, and says so', async (context) => {
    if (threshold > 16 * 1024 * 1024) context.skip();
    const child = start(process.execPath, [BIN, ...uploadClip()]);
    const jobId = await stopWithAPartSent(child);

    // Act: Ctrl-C, then again once the offer is printed (later than a relayed copy of the first)
    child.signal('SIGINT');
    child.signal('SIGCONT');
    await child.waitFor(/Press Ctrl-C again within 3 s/);
    await new Promise((resolve) => setTimeout(resolve, 600));
    child.signal('SIGINT');
    const exit = await child.exited;

    // Assert
    expect(exit.code, child.stderr()).toBe(130);
    expect(child.stderr()).toContain(
      `node cli/media-pipeline.mjs upload ${quotedClip()} --preset default --resume ${jobId}`,
    );
    expect(child.stderr()).toContain(
      `Aborted: job ${jobId}'s parts are discarded and the job fails (Upload::Aborted).`,
    );
    expect(await jobOf(jobId)).toMatchObject({ status: 'failed', error_code: 'Upload::Aborted' });
    expect(existsSync(join(stateHome, 'media-pipeline', 'unfinished-uploads', `${jobId}.sh`))).toBe(false);
  });

  it('a closed terminal (SIGHUP) keeps the parts and leaves the job id and command on stderr and on disk', async (context) => {
    if (threshold > 16 * 1024 * 1024) context.skip();
    const child = start(process.execPath, [BIN, ...uploadClip()]);
    const jobId = await stopWithAPartSent(child);

    // Act
    child.signal('SIGHUP');
    child.signal('SIGCONT');
    const exit = await child.exited;

    // Assert: exit 129 at once (no offer to abort: nobody is there to press a key)
    expect(exit.code, child.stderr()).toBe(129);
    expect(child.stderr()).toContain(
      `The terminal closed: the parts already sent are kept.\n  it's a clip.mp4: job ${jobId}`,
    );
    expect(child.stderr()).not.toContain('Press Ctrl-C');
    expect(await jobOf(jobId)).toMatchObject({ status: 'awaiting_upload' });
    expect(await partsInStorage(jobId)).toBeGreaterThanOrEqual(1);
    const note = await readFile(
      join(stateHome, 'media-pipeline', 'unfinished-uploads', `${jobId}.sh`),
      'utf8',
    );
    expect(note).toContain(`--resume ${jobId}`);
    expect(note).toContain(`cd '${ROOT.replace(/\/$/, '')}'`);
  });
});
