import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type JwtIssuer, startJwtIssuer } from '#test/jwt-issuer';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';

/**
 * The stack in JWT mode (`-c auth=jwt`), on the local runtime, against a small OIDC issuer on this
 * machine: the HTTP API's JWT authorizer from the template checks each token against the issuer's
 * published keys, and the API function takes the tenant from the `sub` claim.
 */
describe('the stack with auth jwt', () => {
  const AUDIENCE = 'media-pipeline-tests';
  let issuer: JwtIssuer;
  let runtime: LocalRuntime;
  let dataDir: string;

  beforeAll(async () => {
    issuer = await startJwtIssuer();
    dataDir = await mkdtemp(join(tmpdir(), 'jwt-runtime-'));
    runtime = await startLocalRuntime({
      dataDir,
      port: 0,
      quiet: true,
      log: () => {},
      context: { auth: 'jwt', jwtIssuer: issuer.url, jwtAudience: AUDIENCE },
    });
  });

  afterAll(async () => {
    await runtime?.stop();
    await issuer?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const request = async (method: string, path: string, token?: string, json?: unknown) => {
    const response = await fetch(`${runtime.apiUrl}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(json ? { 'content-type': 'application/json' } : {}),
      },
      ...(json ? { body: JSON.stringify(json) } : {}),
    });
    return {
      status: response.status,
      challenge: response.headers.get('www-authenticate'),
      body: (await response.json()) as Record<string, unknown>,
    };
  };
  const tokenFor = (sub: string | undefined, claims: Record<string, unknown> = {}) =>
    issuer.sign({ sub, aud: AUDIENCE, ...claims });
  const photo = { file_name: 'p.jpg', content_type: 'image/jpeg', size: 1234, preset: 'default' };

  it('runs without an API key and refuses a request without a token as API Gateway does', async () => {
    // Act
    const anonymous = await request('GET', '/api/presets/');

    // Assess
    expect(runtime.authMode).toBe('jwt');
    expect(runtime.apiKey).toBeUndefined();
    expect(anonymous).toMatchObject({ status: 401, body: { message: 'Unauthorized' } });
    expect(anonymous.challenge).toMatch(/^Bearer /);
  });

  it('refuses expired, foreign and forged tokens, and a token without the tenant claim', async () => {
    // Arrange
    const hourAgo = new Date(Date.now() - 2 * 3600 * 1000);
    const expired = await issuer.sign({ sub: 'alice', aud: AUDIENCE }, { now: hourAgo });
    const otherAudience = await issuer.sign({ sub: 'alice', aud: 'someone-else' });
    const forged = await issuer.sign({ sub: 'alice', aud: AUDIENCE }, { wrongKey: true });
    const noTenant = await tokenFor(undefined);

    // Act
    const answers = await Promise.all(
      [expired, otherAudience, forged].map((token) => request('GET', '/api/presets/', token)),
    );
    const withoutTenant = await request('GET', '/api/media/', noTenant);

    // Assess: the gateway's 401 with its reason in the challenge; the function's 403 in the error shape
    for (const answer of answers) {
      expect(answer).toMatchObject({ status: 401, body: { message: 'Unauthorized' } });
      expect(answer.challenge).toContain('error="invalid_token"');
    }
    expect(withoutTenant).toMatchObject({ status: 403, body: { error: { code: 'Auth::NoTenant' } } });
  });

  it('makes each subject a tenant that sees only its own jobs', async () => {
    // Arrange
    const [alice, bob] = await Promise.all([tokenFor('alice'), tokenFor('bob')]);

    // Act
    const created = await request('POST', '/api/media/', alice, photo);
    const jobId = String(created.body.job_id);
    const [asAlice, asBob, bobsList, alicesList] = await Promise.all([
      request('GET', `/api/media/${jobId}/`, alice),
      request('GET', `/api/media/${jobId}/`, bob),
      request('GET', '/api/media/', bob),
      request('GET', '/api/media/', alice),
    ]);

    // Assess
    expect(created.status).toBe(201);
    expect(asAlice).toMatchObject({ status: 200, body: { id: jobId, status: 'awaiting_upload' } });
    expect(asBob).toMatchObject({ status: 404, body: { error: { code: 'Job::NotFound' } } });
    expect(bobsList.body).toEqual({ items: [], next_cursor: null });
    expect((alicesList.body.items as Array<{ id: string }>).map((job) => job.id)).toEqual([jobId]);
  });
});
