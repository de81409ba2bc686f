import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';

/**
 * The catch-all /api routes of the stack (lib/upload-api.ts API_CATCH_ALL_ROUTES) on the local runtime as
 * `npm start` runs it (api-key mode, the template's own routes and authorizer): the gateway still refuses
 * a request without a key (401) before any function runs, the API function answers what no declared
 * route serves in the API's error shape, and what API Gateway answers itself (paths outside /api, CORS
 * preflights, bodies over 10 MB) it still answers, as on AWS.
 */
describe('unknown routes and methods on the running stack', () => {
  let dataDir: string;
  let runtime: LocalRuntime;
  const ask = async (
    method: string,
    path: string,
    {
      key,
      headers = {},
      body,
    }: { key?: string; headers?: Record<string, string>; body?: Uint8Array<ArrayBuffer> } = {},
  ) => {
    const response = await fetch(`${runtime.apiUrl}${path}`, {
      method,
      headers: { ...headers, ...(key ? { authorization: `Bearer ${key}` } : {}) },
      ...(body ? { body } : {}),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'api-letter-runtime-'));
    runtime = await startLocalRuntime({ dataDir, port: 0, quiet: true, log: () => {} });
  }, 240_000);

  afterAll(async () => {
    await runtime?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('answers an unknown /api path 401 from the gateway without a key, 404 from the function with one', async () => {
    // Act
    const anonymous = await ask('GET', '/api/nothing');
    const withKey = await ask('GET', '/api/nothing', { key: runtime.apiKey });

    // Assess
    expect(runtime.authMode).toBe('api-key');
    expect(anonymous).toMatchObject({ status: 401, body: { message: 'Unauthorized' } });
    expect(withKey.status).toBe(404);
    expect(withKey.body).toEqual({
      error: {
        code: 'Request::UnknownRoute',
        message: expect.stringContaining('there is no GET /api/nothing'),
      },
    });
  });

  it('answers a known path with another method 405 with Allow, after the same authorizer', async () => {
    // Act
    const anonymous = await ask('PUT', '/api/media/0b8a3c52-3f0e-4a8e-9d59-3c1f7c0e2b11/');
    const withKey = await ask('PUT', '/api/media/0b8a3c52-3f0e-4a8e-9d59-3c1f7c0e2b11/', {
      key: runtime.apiKey,
    });
    const onTheCollection = await ask('DELETE', '/api/media', { key: runtime.apiKey });

    // Assess
    expect(anonymous.status).toBe(401);
    expect(withKey.status).toBe(405);
    expect(withKey.headers.get('allow')).toBe('DELETE, GET');
    expect(withKey.body.error.code).toBe('Request::MethodNotAllowed');
    expect(onTheCollection.status).toBe(405);
    expect(onTheCollection.headers.get('allow')).toBe('GET, POST');
  });

  it('still routes the declared routes before the catch-alls', async () => {
    // Act
    const presets = await ask('GET', '/api/presets/', { key: runtime.apiKey });

    // Assess
    expect(presets.status).toBe(200);
    expect(presets.body.presets.length).toBeGreaterThan(0);
  });

  it('leaves to the gateway what API Gateway answers itself', async () => {
    // Act
    const outsideApi = await ask('GET', '/nothing-here', { key: runtime.apiKey });
    const preflight = await ask('OPTIONS', '/api/media/', {
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    const overTenMegabytes = await ask('POST', '/api/media/', {
      key: runtime.apiKey,
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array(10 * 1024 * 1024 + 1),
    });

    // Assess
    expect(outsideApi).toMatchObject({ status: 404, body: { message: 'Not Found' } });
    // A preflight carries no key: with OPTIONS unrouted the gateway answers it, never the authorizer.
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBeTruthy();
    expect(overTenMegabytes.status).toBe(413);
    expect(overTenMegabytes.body).toEqual({ message: 'Request Entity Too Large' });
  });
});
