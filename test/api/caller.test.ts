import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TenantStore } from '#shared/tenants';
import { type ApiHarness, startApi } from '#test/api';
import { httpEvent } from '#test/http-events';
import { newJob } from '#test/jobs';
import { createCallerOf } from '../../functions/api/caller.ts';
import type { ErrorBody } from '../../functions/api/responses.ts';

let api: ApiHarness;
let tenants: TenantStore;

beforeAll(async () => {
  // The function checks keys itself, as behind LocalStack's function URL.
  api = await startApi({ env: { AUTH_IN_FUNCTION: 'true' } });
  tenants = await api.env.tenantStore();
});
afterAll(() => api?.env.close());

const event = (options: { authorizer?: Record<string, unknown> | null; authorization?: string } = {}) =>
  httpEvent({
    method: 'GET',
    path: '/api/presets',
    routeKey: 'GET /api/presets',
    ...(options.authorizer !== undefined ? { authorizer: options.authorizer } : {}),
    ...(options.authorization ? { headers: { authorization: options.authorization } } : {}),
  });

const refusal = async (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );

describe('callerOf', () => {
  it('api-key: takes the tenant the authorizer passed on', async () => {
    const callerOf = createCallerOf({ mode: 'api-key', tenantClaim: 'sub' });

    expect(await callerOf(event({ authorizer: { lambda: { tenant: 'acme', key_id: 'k' } } }))).toEqual({
      tenant: 'acme',
    });
  });

  it('jwt: takes the configured claim of the verified token', async () => {
    const callerOf = createCallerOf({ mode: 'jwt', tenantClaim: 'org_id' });
    const jwt = (claims: Record<string, unknown>) => event({ authorizer: { jwt: { claims, scopes: [] } } });

    expect(await callerOf(jwt({ sub: 'user-1', org_id: 'acme' }))).toEqual({ tenant: 'acme' });
    expect(await refusal(callerOf(jwt({ sub: 'user-1' })))).toMatchObject({
      name: 'ForbiddenError',
      code: 'Auth::NoTenant',
      message: expect.stringContaining('org_id'),
    });
  });

  it.each([
    ['no tenant', { lambda: {} }],
    ['an empty tenant', { lambda: { tenant: '' } }],
    ['a tenant with #', { lambda: { tenant: 'a#b' } }],
    ['a tenant that is not a string', { lambda: { tenant: 42 } }],
    ['no authorizer at all', null],
  ])(
    'refuses a request whose authorizer context names %s with 403 Auth::NoTenant',
    async (_case, authorizer) => {
      const callerOf = createCallerOf({ mode: 'api-key', tenantClaim: 'sub' });

      expect(await refusal(callerOf(event({ authorizer })))).toMatchObject({ code: 'Auth::NoTenant' });
    },
  );

  it('none: every request is the default tenant', async () => {
    const callerOf = createCallerOf({ mode: 'none', tenantClaim: 'sub' });

    expect(await callerOf(event({ authorizer: null }))).toEqual({ tenant: 'default' });
  });
});

describe('the API function checking keys itself (AUTH_IN_FUNCTION)', () => {
  it('serves a request with a live key as the key’s tenant, whatever the request context says', async () => {
    // Prepare
    const { key } = await tenants.createKey('acme');
    const job = newJob({ tenant: 'acme' });
    await api.store.create(job);

    // Act
    const response = await api.invoke(
      httpEvent({
        method: 'GET',
        path: `/api/media/${job.id}/`,
        routeKey: '$default',
        headers: { authorization: `Bearer ${key}` },
        authorizer: null,
      }),
    );

    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.body.id).toBe(job.id);
  });

  it.each([
    ['no Authorization header', undefined, 'Auth::MissingKey', /Authorization: Bearer <key>/],
    ['another scheme', 'Basic dXNlcjpwYXNz', 'Auth::InvalidKey', /Bearer <key>/],
    ['an unknown key', `Bearer mpk_000000000000_${'A'.repeat(43)}`, 'Auth::InvalidKey', /not valid/],
  ])('refuses %s with 401 in the error shape', async (_case, authorization, code, message) => {
    const response = await api.invoke<ErrorBody>(
      event({ authorizer: null, ...(authorization ? { authorization } : {}) }),
    );

    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Bearer');
    expect(response.body.error).toEqual({ code, message: expect.stringMatching(message) });
  });

  it('refuses a revoked key', async () => {
    const { key, key_id } = await tenants.createKey('revoked-tenant');
    await tenants.revokeKey(key_id);

    const response = await api.invoke<ErrorBody>(event({ authorizer: null, authorization: `Bearer ${key}` }));

    expect(response.statusCode).toBe(401);
    expect(response.body.error.code).toBe('Auth::InvalidKey');
  });
});
