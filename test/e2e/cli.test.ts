import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeJpeg } from '#test/media';
import type { UploadRow } from '../../cli/media-pipeline.ts';
import { apiKey, apiUrl, target } from './client.ts';

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
    expect(rows.find((row) => row.startsWith('cli-photo.jpg'))).toMatch(/\sdone\s+thumb: http/);
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
    const next = /More jobs: media-pipeline list --status done --limit 2 --cursor (\S+)/.exec(
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
