import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';

/**
 * The stack's API-key mode on the local runtime (`npm start` as it starts by default): the Lambda
 * authorizer of the template in front of every /api route, the dev key of tenant `default` registered
 * at every start and the same across restarts, MEDIA_PIPELINE_API_KEY (the `apiKey` option) honoured,
 * and runtime.json present exactly while the runtime runs.
 */
describe('the dev key on the running stack', () => {
  let dataDir: string;
  const started: LocalRuntime[] = [];
  const start = async (options: { apiKey?: string } = {}) => {
    const runtime = await startLocalRuntime({ dataDir, port: 0, quiet: true, log: () => {}, ...options });
    started.push(runtime);
    return runtime;
  };
  const presets = async (runtime: LocalRuntime, key?: string) => {
    const response = await fetch(`${runtime.apiUrl}/api/presets/`, {
      headers: key ? { authorization: `Bearer ${key}` } : {},
    });
    return { status: response.status, body: await response.json() };
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'dev-key-runtime-'));
  });

  afterAll(async () => {
    for (const runtime of started) await runtime.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('generates a key once, registers it at every start, and lets nothing in without it', async () => {
    // Act
    const first = await start();
    const firstKey = first.apiKey;
    const written = JSON.parse(await readFile(join(dataDir, 'runtime.json'), 'utf8'));
    await first.stop();
    const removed = !existsSync(join(dataDir, 'runtime.json'));
    const second = await start();

    // Assess
    expect(first.authMode).toBe('api-key');
    expect(firstKey).toMatch(/^mpk_[0-9a-f]{12}_/);
    expect(written).toMatchObject({ pid: process.pid, apiUrl: first.apiUrl, authMode: 'api-key' });
    expect(written.tenantsTable).toBe(first.tenantsTable);
    expect(removed).toBe(true);
    expect(second.apiKey).toBe(firstKey);
    expect(await presets(second)).toEqual({ status: 401, body: { message: 'Unauthorized' } });
    expect(await presets(second, 'mpk_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).toEqual({
      status: 403,
      body: { message: 'Forbidden' },
    });
    expect((await presets(second, firstKey)).status).toBe(200);
    await second.stop();
  }, 240_000);

  it('takes MEDIA_PIPELINE_API_KEY as the dev key instead', async () => {
    // Act
    const runtime = await start({ apiKey: 'my-own-local-key-0123' });

    // Assess
    expect(runtime.apiKey).toBe('my-own-local-key-0123');
    expect((await presets(runtime, 'my-own-local-key-0123')).status).toBe(200);
    await runtime.stop();
  }, 120_000);
});
