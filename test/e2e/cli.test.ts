import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeJpeg } from '#test/media';
import type { UploadRow } from '../../cli/media-pipeline.ts';
import { apiUrl } from './client.ts';

/** `media-pipeline` as a user runs it: the bin shim in a child process, pointed at the stack by flag or env. */
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
        env: { PATH: process.env.PATH, NO_COLOR: '1', ...env },
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
});
