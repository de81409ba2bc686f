import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2, APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type HttpApiServer, startHttpApi } from '../../local/http-api.ts';
import type { InvocationRecord } from '../../local/invocation-log.ts';
import { LambdaPool } from '../../local/lambda-pool.ts';
import type {
  HttpApiSpec,
  HttpJwtAuthorizerSpec,
  HttpRequestAuthorizerSpec,
  HttpRouteSpec,
} from '../../local/types.ts';
import { type JwtIssuer, startJwtIssuer } from '../support/jwt-issuer.ts';
import { tinyFunctionSpec, writeTinyBundles } from '../support/tiny-functions.ts';

/**
 * The gateway's authorizers in front of a real worker pool: a Lambda REQUEST authorizer whose answer
 * depends on the key it is shown, and a JWT authorizer against a local OIDC issuer. The route's function
 * echoes the event it got, so that what the authorizer passed on is visible.
 */

const BUNDLES = {
  Echo: `exports.handler = async (event) => ({ statusCode: 200, body: JSON.stringify(event) });`,
  Gatekeeper: `
exports.handler = async (event) => {
  const key = (event.headers.authorization || '').replace(/^Bearer /, '');
  if (key === 'crash') throw new Error('the keys table is down');
  if (key === 'odd') return 'yes, why not';
  if (key.startsWith('good-')) return { isAuthorized: true, context: { tenant: key.slice(5), key_id: 'k1' } };
  return { isAuthorized: false };
};`,
};

const ORIGIN = 'http://localhost:5173';
const HEADER = {
  expression: '$request.header.Authorization',
  from: 'header',
  name: 'authorization',
} as const;

const keys: HttpRequestAuthorizerSpec = {
  kind: 'request',
  logicalId: 'Keys',
  name: 'ApiKeys',
  functionLogicalId: 'Gatekeeper',
  identitySources: [HEADER],
  resultTtlSeconds: 300,
};
const uncached: HttpRequestAuthorizerSpec = { ...keys, logicalId: 'Uncached', resultTtlSeconds: 0 };

let root: string;
let pool: LambdaPool;
let api: HttpApiServer;
let issuer: JwtIssuer;
let clock = Date.now();
const records: InvocationRecord[] = [];
const authorizerCalls = () => records.filter((record) => record.logicalId === 'Gatekeeper');

const route = (routeKey: string, authorizer?: HttpRouteSpec['authorizer']): HttpRouteSpec => {
  const [method = 'ANY', path = '/'] = routeKey.split(' ');
  return {
    routeKey,
    method,
    path,
    paths: [path, `${path}/`],
    functionLogicalId: 'Echo',
    payloadFormatVersion: '2.0',
    timeoutMs: 30_000,
    ...(authorizer ? { authorizer } : {}),
  };
};

const jwtAuthorizer = (): HttpJwtAuthorizerSpec => ({
  kind: 'jwt',
  logicalId: 'Tokens',
  name: 'Tokens',
  identitySources: [HEADER],
  issuer: issuer.url,
  audience: ['media-pipeline', 'spa-client'],
});

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${api.url}${path}`, { headers });

const echoed = async (
  response: Response,
): Promise<APIGatewayProxyEventV2 & { requestContext: Record<string, unknown> }> => {
  expect(response.status).toBe(200);
  return (await response.json()) as APIGatewayProxyEventV2 & { requestContext: Record<string, unknown> };
};

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'authorizers-'));
  await writeTinyBundles(root, BUNDLES);
  issuer = await startJwtIssuer();
  pool = new LambdaPool(
    Object.keys(BUNDLES).map((name) => tinyFunctionSpec(root, name)),
    { output: () => {}, onInvocation: (record) => records.push(record) },
  );
  const spec: HttpApiSpec = {
    logicalId: 'Api',
    name: 'api',
    baseUrl: 'http://127.0.0.1',
    stageName: '$default',
    cors: {
      allowOrigins: [ORIGIN],
      allowMethods: ['GET'],
      allowHeaders: ['authorization'],
      exposeHeaders: [],
      allowCredentials: false,
    },
    routes: [
      route('GET /items/{id}', keys),
      route('GET /uncached', uncached),
      route('GET /tokens', jwtAuthorizer()),
      route('GET /open'),
    ],
  };
  api = await startHttpApi(spec, pool, { port: 0, log: () => {}, now: () => clock });
});

afterAll(async () => {
  await api?.stop();
  await pool?.close();
  await issuer?.close();
  await rm(root, { recursive: true, force: true });
});

beforeEach(() => {
  // Each test starts past every cached answer of the ones before.
  clock += 3_600_000;
  records.length = 0;
});

describe('the Lambda REQUEST authorizer (payload 2.0, simple responses)', () => {
  it('answers 401 without calling anything when the identity source is missing or empty', async () => {
    // Act
    const missing = await get('/items/1');
    const empty = await get('/items/1', { authorization: '' });

    // Assess
    expect(missing.status).toBe(401);
    expect(await missing.json()).toEqual({ message: 'Unauthorized' });
    expect(empty.status).toBe(401);
    expect(records).toEqual([]);
  });

  it('passes the authorizer the payload 2.0 authorizer event, and the function what it said', async () => {
    // Act
    const event = await echoed(
      await get('/items/42?x=1', { authorization: 'Bearer good-acme', cookie: 'c=1' }),
    );

    // Assess
    expect(event.requestContext.authorizer).toEqual({ lambda: { tenant: 'acme', key_id: 'k1' } });
    const [call] = authorizerCalls();
    const authorizerEvent = call?.event as APIGatewayRequestAuthorizerEventV2;
    expect(authorizerEvent).toMatchObject({
      version: '2.0',
      type: 'REQUEST',
      identitySource: ['Bearer good-acme'],
      routeKey: 'GET /items/{id}',
      rawPath: '/items/42',
      rawQueryString: 'x=1',
      cookies: ['c=1'],
      queryStringParameters: { x: '1' },
      pathParameters: { id: '42' },
      requestContext: { http: { method: 'GET', path: '/items/42' }, routeKey: 'GET /items/{id}' },
    });
    expect(authorizerEvent.routeArn).toMatch(
      /^arn:aws:execute-api:us-east-1:\d{12}:[^/]+\/\$default\/GET\/items\/42$/,
    );
    expect(authorizerEvent.headers?.authorization).toBe('Bearer good-acme');
    expect(call?.trigger).toBe('authorizer ApiKeys GET /items/42');
  });

  it('answers 403 when the authorizer says no, and 500 when it fails or answers nonsense', async () => {
    // Act
    const denied = await get('/items/1', { authorization: 'Bearer revoked' });
    const crashed = await get('/items/1', { authorization: 'Bearer crash' });
    const odd = await get('/items/1', { authorization: 'Bearer odd' });

    // Assess
    expect([denied.status, await denied.json()]).toEqual([403, { message: 'Forbidden' }]);
    expect([crashed.status, await crashed.json()]).toEqual([500, { message: 'Internal Server Error' }]);
    expect([odd.status, await odd.json()]).toEqual([500, { message: 'Internal Server Error' }]);
    expect(records.filter((record) => record.logicalId === 'Echo')).toEqual([]);
  });

  it('caches each identity’s answer for the TTL, denials too, and asks again after it', async () => {
    // Act
    await echoed(await get('/items/1', { authorization: 'Bearer good-a' }));
    await echoed(await get('/items/2', { authorization: 'Bearer good-a' }));
    await get('/items/1', { authorization: 'Bearer nope' });
    await get('/items/1', { authorization: 'Bearer nope' });
    await echoed(await get('/items/1', { authorization: 'Bearer good-b' }));
    const withinTtl = authorizerCalls().length;
    clock += 299_000;
    await echoed(await get('/items/3', { authorization: 'Bearer good-a' }));
    const justBefore = authorizerCalls().length;
    clock += 1_000;
    await echoed(await get('/items/3', { authorization: 'Bearer good-a' }));

    // Assess
    expect(withinTtl).toBe(3);
    expect(justBefore).toBe(3);
    expect(authorizerCalls().length).toBe(4);
  });

  it('asks every time when the TTL is 0', async () => {
    // Act
    await echoed(await get('/uncached', { authorization: 'Bearer good-a' }));
    await echoed(await get('/uncached', { authorization: 'Bearer good-a' }));

    // Assess
    expect(authorizerCalls().length).toBe(2);
  });

  it('answers CORS preflights without authorization, and public routes without an authorizer', async () => {
    // Act
    const preflight = await fetch(`${api.url}/items/1`, {
      method: 'OPTIONS',
      headers: { origin: ORIGIN, 'access-control-request-method': 'GET' },
    });
    const open = await echoed(await get('/open'));

    // Assess
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(open.requestContext.authorizer).toBeUndefined();
    expect(records.filter((record) => record.logicalId === 'Gatekeeper')).toEqual([]);
  });
});

describe('the JWT authorizer', () => {
  const refusal = async (response: Response) => ({
    status: response.status,
    body: await response.json(),
    challenge: response.headers.get('www-authenticate'),
  });
  const invalid = (why: string) => ({
    status: 401,
    body: { message: 'Unauthorized' },
    challenge: `Bearer scope="" error="invalid_token" error_description="${why}"`,
  });

  it('passes a valid token’s claims, as strings, and its scopes', async () => {
    // Prepare
    const token = await issuer.sign(
      {
        sub: 'tenant-7',
        aud: 'media-pipeline',
        scope: 'media:read media:write',
        groups: ['a', 'b'],
        now: new Date(clock).toISOString(),
      },
      { now: new Date(clock) },
    );

    // Act
    const event = await echoed(await get('/tokens', { authorization: `Bearer ${token}` }));

    // Assess
    const now = Math.floor(clock / 1000);
    expect(event.requestContext.authorizer).toEqual({
      jwt: {
        claims: {
          iss: issuer.url,
          sub: 'tenant-7',
          aud: 'media-pipeline',
          scope: 'media:read media:write',
          groups: '[a b]',
          now: new Date(clock).toISOString(),
          iat: String(now),
          exp: String(now + 3600),
        },
        scopes: ['media:read', 'media:write'],
      },
    });
    expect(issuer.requests.get('/.well-known/openid-configuration')).toBe(1);
  });

  it('accepts a token without the Bearer prefix, and client_id in place of aud', async () => {
    // Prepare
    const token = await issuer.sign({ sub: 's', client_id: 'spa-client' }, { now: new Date(clock) });

    // Act
    const event = await echoed(await get('/tokens', { authorization: token }));

    // Assess
    expect(event.requestContext.authorizer).toMatchObject({
      jwt: { claims: { client_id: 'spa-client' }, scopes: null },
    });
  });

  it('refuses a missing, expired, future, foreign, misaddressed or forged token with 401 and why', async () => {
    // Prepare
    const at = new Date(clock);
    const aud = 'media-pipeline';
    const expired = await issuer.sign({ aud, exp: Math.floor(clock / 1000) - 10 }, { now: at });
    const early = await issuer.sign({ aud, nbf: Math.floor(clock / 1000) + 600 }, { now: at });
    const foreign = await issuer.sign({ aud, iss: 'https://elsewhere.example' }, { now: at });
    const misaddressed = await issuer.sign({ aud: 'someone-else' }, { now: at });
    const forged = await issuer.sign({ aud }, { now: at, wrongKey: true });
    const endless = await issuer.sign({ aud, exp: undefined }, { now: at });
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

    // Act & Assess
    expect(await refusal(await get('/tokens'))).toEqual(invalid('the request has no authorization header'));
    expect(await refusal(await get('/tokens', bearer(expired)))).toEqual(invalid('the token has expired'));
    expect(await refusal(await get('/tokens', bearer(early)))).toEqual(invalid('the token is not valid yet'));
    expect(await refusal(await get('/tokens', bearer(foreign)))).toEqual(
      invalid('the token does not have a valid issuer'),
    );
    expect(await refusal(await get('/tokens', bearer(misaddressed)))).toEqual(
      invalid('the token does not have a valid audience'),
    );
    expect(await refusal(await get('/tokens', bearer(forged)))).toEqual(
      invalid('the token signature is invalid'),
    );
    expect(await refusal(await get('/tokens', bearer(endless)))).toEqual(
      invalid('the token has no expiration'),
    );
    expect(await refusal(await get('/tokens', bearer('not-a-jwt')))).toEqual(
      invalid('the token is malformed'),
    );
    expect(records).toEqual([]);
  });

  it('refuses what API Gateway refuses though a JWT library would accept it: no kid, not RSA, iat ahead, aud wrong but client_id right', async () => {
    // Prepare: each token verifies with a key the issuer publishes.
    const at = new Date(clock);
    const aud = 'media-pipeline';
    const noKeyId = await issuer.sign({ aud }, { now: at, withoutKeyId: true });
    const elliptic = await issuer.sign({ aud }, { now: at, algorithm: 'ES256' });
    const issuedAhead = await issuer.sign({ aud, iat: Math.floor(clock / 1000) + 600 }, { now: at });
    // API Gateway reads client_id only when the token has no aud.
    const audWins = await issuer.sign({ aud: 'someone-else', client_id: 'spa-client' }, { now: at });
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

    // Act & Assess
    expect(await refusal(await get('/tokens', bearer(noKeyId)))).toEqual(
      invalid('the token has no kid header'),
    );
    expect(await refusal(await get('/tokens', bearer(elliptic)))).toEqual(
      invalid('the token signing method is not supported'),
    );
    expect(await refusal(await get('/tokens', bearer(issuedAhead)))).toEqual(
      invalid('the token is not valid yet'),
    );
    expect(await refusal(await get('/tokens', bearer(audWins)))).toEqual(
      invalid('the token does not have a valid audience'),
    );
    expect(records).toEqual([]);
  });
});
