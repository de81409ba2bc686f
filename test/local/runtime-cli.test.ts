import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeRuntimeFile } from '../../local/runtime-file.ts';

/**
 * `npm start` and `npm run reset` through their real entry point (node --import tsx local/main.ts), as
 * a child process: a second start on ports in use, and a reset while a runtime runs. The running
 * runtime is a stand-in process that holds the API port and stops on SIGTERM, as the runtime does; the
 * runtime.json naming it is the runtime's own writer's (local/runtime-file.ts). Neither case synthesizes.
 */
const MAIN = resolve(import.meta.dirname, '../../local/main.ts');

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

const runMain = (args: string[], env: Record<string, string>): Promise<Exit> =>
  new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      cwd: resolve(import.meta.dirname, '../..'),
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });

/** A process listening on a free port (127.0.0.1) that exits on SIGTERM: what holds a port, or a runtime. */
const startHolder = (): Promise<{ child: ChildProcess; port: number }> =>
  new Promise((done, fail) => {
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const s = require('node:net').createServer().listen(0, '127.0.0.1', () => console.log(s.address().port));
         process.on('SIGTERM', () => s.close(() => process.exit(0)));`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    child.once('error', fail);
    child.stdout?.once('data', (chunk) => done({ child, port: Number(String(chunk).trim()) }));
  });

const holders: ChildProcess[] = [];
afterAll(() => {
  for (const holder of holders) holder.kill('SIGKILL');
});

describe('a second npm start on ports in use', () => {
  it.each([
    { which: 'the API port', env: (port: number) => ({ PORT: String(port) }), setting: 'PORT' },
    {
      which: 'the S3 port',
      env: (port: number) => ({ PORT: String(port - 1), S3_PORT: String(port) }),
      setting: 'S3_PORT',
    },
  ])(
    'says in one line which process holds $which and which setting moves it, and exits 1',
    async ({ env, setting }) => {
      // Prepare
      const holder = await startHolder();
      holders.push(holder.child);
      const dataDir = await mkdtemp(join(tmpdir(), 'port-in-use-'));

      // Act
      const exit = await runMain([], { ...env(holder.port), MEDIA_PIPELINE_DATA_DIR: dataDir });

      // Assess
      expect(exit.code).toBe(1);
      const lines = exit.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`port ${holder.port} `);
      expect(lines[0]).toContain(`in use by pid ${holder.child.pid} (`);
      expect(lines[0]).toContain(`with ${setting}`);
      expect(exit.stderr).not.toMatch(/^\s+at /m);
      expect(exit.stderr).not.toContain('EADDRINUSE');
      await rm(dataDir, { recursive: true, force: true });
    },
  );
});

describe('npm run reset while a runtime runs', () => {
  let dataDir: string;
  let runtime: { child: ChildProcess; port: number };

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'reset-'));
    runtime = await startHolder();
    holders.push(runtime.child);
    await mkdir(join(dataDir, 's3', 'uploads'), { recursive: true });
    await mkdir(join(dataDir, 'cdk.out'));
    await writeFile(join(dataDir, 'sqs-messages.json'), '[]');
    await writeFile(join(dataDir, 'api-key'), 'dev-key-0123456789abcdef\n');
    await writeFile(join(dataDir, 'secrets.json'), '{"Stack/WebhookSecret":"whsec_x"}\n');
    await writeRuntimeFile(dataDir, {
      pid: runtime.child.pid as number,
      apiUrl: `http://127.0.0.1:${runtime.port}`,
      dynamodbEndpoint: 'http://127.0.0.1:1',
      region: 'us-east-1',
      tenantsTable: undefined,
      jobsTable: undefined,
      authMode: 'api-key',
    });
  });

  afterEach(async () => {
    runtime.child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  it('refuses, naming the running pid and port, and deletes nothing', async () => {
    // Act
    const exit = await runMain(['--reset'], { MEDIA_PIPELINE_DATA_DIR: dataDir });

    // Assess
    expect(exit.code).toBe(1);
    expect(exit.stderr).toContain(`pid ${runtime.child.pid}`);
    expect(exit.stderr).toContain(`port ${runtime.port}`);
    expect(exit.stderr).toContain('--force');
    expect(exit.stderr).not.toMatch(/^\s+at /m);
    expect(existsSync(join(dataDir, 's3', 'uploads'))).toBe(true);
    expect(existsSync(join(dataDir, 'sqs-messages.json'))).toBe(true);
    expect(runtime.child.exitCode).toBeNull();
  });

  it('refuses a second npm start on the same data directory, naming the running one', async () => {
    // Act: another port, the same data (its DynamoDB Local and runtime.json would be taken over)
    const exit = await runMain([], { MEDIA_PIPELINE_DATA_DIR: dataDir, PORT: '0' });

    // Assess
    expect(exit.code).toBe(1);
    expect(exit.stderr.trim().split('\n')).toEqual([
      `a runtime (pid ${runtime.child.pid}, http://127.0.0.1:${runtime.port}) already runs on ${dataDir}; stop it, or start another with its own MEDIA_PIPELINE_DATA_DIR (and PORT)`,
    ]);
    expect(existsSync(join(dataDir, 's3', 'uploads'))).toBe(true);
    expect(runtime.child.exitCode).toBeNull();
  });

  it('with --force stops the runtime first, then resets, keeping the dev key and the webhook secret', async () => {
    // Act
    const exit = await runMain(['--reset', '--force'], { MEDIA_PIPELINE_DATA_DIR: dataDir });

    // Assess
    expect(exit.code).toBe(0);
    expect(exit.stdout).toContain(
      `stopping the running runtime (pid ${runtime.child.pid}, port ${runtime.port})`,
    );
    expect(exit.stdout).toContain('Kept the dev API key');
    expect(runtime.child.exitCode ?? runtime.child.signalCode).not.toBeNull();
    expect(existsSync(join(dataDir, 's3'))).toBe(false);
    expect(existsSync(join(dataDir, 'sqs-messages.json'))).toBe(false);
    expect(existsSync(join(dataDir, 'runtime.json'))).toBe(false);
    expect(existsSync(join(dataDir, 'cdk.out'))).toBe(true);
    expect(await readFile(join(dataDir, 'api-key'), 'utf8')).toBe('dev-key-0123456789abcdef\n');
    expect(existsSync(join(dataDir, 'secrets.json'))).toBe(true);
  });

  it('resets when runtime.json is left by a runtime that is gone, and --new-secrets replaces the key and secret', async () => {
    // Prepare
    runtime.child.kill('SIGKILL');
    await new Promise((done) => runtime.child.once('exit', done));

    // Act
    const exit = await runMain(['--reset', '--new-secrets'], { MEDIA_PIPELINE_DATA_DIR: dataDir });

    // Assess
    expect(exit.code).toBe(0);
    expect(exit.stdout).toContain('Replaced the dev API key and the webhook secret');
    expect(existsSync(join(dataDir, 's3'))).toBe(false);
    expect(existsSync(join(dataDir, 'api-key'))).toBe(false);
    expect(existsSync(join(dataDir, 'secrets.json'))).toBe(false);
    expect(existsSync(join(dataDir, 'cdk.out'))).toBe(true);
  });
});
