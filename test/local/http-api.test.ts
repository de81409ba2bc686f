import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpApiServer, startHttpApi } from '../../local/http-api.ts';
import type { InvocationRecord } from '../../local/invocation-log.ts';
import { LambdaPool } from '../../local/lambda-pool.ts';
import type { FunctionSpec, HttpApiSpec } from '../../local/types.ts';

/**
 * The HTTP API emulation in front of a real worker pool. The function answers according to a `mode`
 * query parameter, and by default echoes the payload 2.0 event it received.
 */

const API_FUNCTION = `
exports.handler = async (event) => {
  const mode = (event.queryStringParameters || {}).mode;
  switch (mode) {
    case 'plain': return { hello: 'world' };
    case 'string': return 'just text';
    case 'binary': return { statusCode: 200, headers: { 'content-type': 'image/png' }, isBase64Encoded: true, body: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0xff]).toString('base64') };
    case 'cookies': return { statusCode: 201, headers: { 'x-custom': 'yes', 'access-control-allow-origin': 'https://evil.example' }, cookies: ['a=1; Path=/', 'b=2'], body: 'created' };
    case 'invalid': return { statusCode: 'not a number', body: 42 };
    case 'throw': throw new Error('database exploded: secret detail');
    case 'slow': await new Promise((resolve) => setTimeout(resolve, 1500)); return { slow: true };
    default: return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) };
  }
};
`;

const ORIGIN = 'http://localhost:5173';

let root: string;
let pool: LambdaPool;
let api: HttpApiServer;
const records: InvocationRecord[] = [];

const route = (routeKey: string): HttpApiSpec['routes'][number] => {
  const [method = 'ANY', path] = routeKey.split(' ');
  return {
    routeKey,
    method,
    path,
    paths: path ? [path, `${path}/`] : [],
    functionLogicalId: 'ApiFunction',
    payloadFormatVersion: '2.0',
    timeoutMs: 30_000,
  };
};

const apiSpec = (overrides: Partial<HttpApiSpec> = {}): HttpApiSpec => ({
  logicalId: 'HttpApi',
  name: 'test-api',
  baseUrl: 'http://127.0.0.1',
  stageName: '$default',
  cors: {
    allowOrigins: [ORIGIN],
    allowMethods: ['GET', 'POST', 'OPTIONS'],
    allowHeaders: ['*'],
    exposeHeaders: [],
    maxAgeSeconds: 3600,
    allowCredentials: false,
  },
  routes: [
    route('POST /api/media'),
    route('GET /api/media/{id}'),
    route('GET /api/media/special'),
    route('POST /api/media/{id}/retry'),
    route('ANY /files/{proxy+}'),
  ],
  ...overrides,
});

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  json: () => unknown;
}

/** node:http rather than fetch: repeated request headers and raw bodies, exactly as sent. */
const send = (
  method: string,
  url: string,
  options: { headers?: string[]; body?: Buffer | string } = {},
): Promise<Reply> =>
  new Promise((resolve, reject) => {
    // With an array of headers, node:http adds none itself, not even Host.
    const headers = ['Host', new URL(url).host, ...(options.headers ?? [])];
    const request = httpRequest(url, { method, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const body = Buffer.concat(chunks);
        const text = body.toString('utf8');
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body,
          text,
          json: () => JSON.parse(text),
        });
      });
    });
    request.on('error', reject);
    request.end(options.body);
  });

const echoed = async (reply: Reply): Promise<APIGatewayProxyEventV2> => {
  expect(reply.status).toBe(200);
  return reply.json() as APIGatewayProxyEventV2;
};

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'http-api-'));
  await mkdir(join(root, 'api'));
  await writeFile(join(root, 'api', 'index.js'), API_FUNCTION);
  const spec: FunctionSpec = {
    logicalId: 'ApiFunction',
    name: 'api',
    handler: 'index.handler',
    codeDir: join(root, 'api'),
    layerDirs: [],
    environment: {},
    timeoutSeconds: 5,
    memoryMb: 256,
  };
  pool = new LambdaPool([spec], { output: () => {}, onInvocation: (record) => records.push(record) });
  api = await startHttpApi(apiSpec(), pool, {
    port: 0,
    log: () => {},
    extraRoutes: [
      {
        method: 'GET',
        path: '/',
        handle: (_request, response) => {
          response.writeHead(200, { 'content-type': 'text/html' });
          response.end('<h1>local</h1>');
        },
      },
    ],
  });
});

afterAll(async () => {
  await api?.stop();
  await pool?.close();
  await rm(root, { recursive: true, force: true });
});

describe('HTTP API emulation', () => {
  it('matches a route with a path parameter, with or without the trailing slash', async () => {
    // Act
    const withSlash = await echoed(await send('GET', `${api.url}/api/media/abc-123/`));
    const without = await echoed(await send('GET', `${api.url}/api/media/abc-123`));

    // Assess
    expect(withSlash).toMatchObject({
      routeKey: 'GET /api/media/{id}',
      rawPath: '/api/media/abc-123/',
      pathParameters: { id: 'abc-123' },
    });
    expect(without.pathParameters).toEqual({ id: 'abc-123' });
    expect((await echoed(await send('POST', `${api.url}/api/media/`))).routeKey).toBe('POST /api/media');
  });

  it('prefers a literal segment over a parameter, and matches a greedy {proxy+}', async () => {
    // Act
    const literal = await echoed(await send('GET', `${api.url}/api/media/special`));
    const greedy = await echoed(await send('DELETE', `${api.url}/files/a/b%20c/d.txt`));

    // Assess
    expect(literal.routeKey).toBe('GET /api/media/special');
    expect(literal.pathParameters).toBeUndefined();
    expect(greedy).toMatchObject({
      routeKey: 'ANY /files/{proxy+}',
      pathParameters: { proxy: 'a/b c/d.txt' },
    });
  });

  it('builds a payload 2.0 event: headers, query string, cookies, request context', async () => {
    // Act
    const event = await echoed(
      await send('GET', `${api.url}/api/media/x?a=1&a=2&b=x%20y`, {
        headers: ['X-Multi', 'one', 'X-Multi', 'two', 'Cookie', 'c1=v1; c2=v2', 'User-Agent', 'vitest-agent'],
      }),
    );

    // Assess
    expect(event.version).toBe('2.0');
    expect(event.rawQueryString).toBe('a=1&a=2&b=x%20y');
    expect(event.queryStringParameters).toEqual({ a: '1,2', b: 'x y' });
    expect(event.headers['x-multi']).toBe('one,two');
    expect(event.headers['user-agent']).toBe('vitest-agent');
    expect(event.headers.cookie).toBeUndefined();
    expect(event.cookies).toEqual(['c1=v1', 'c2=v2']);
    expect(event.isBase64Encoded).toBe(false);
    expect(event.body).toBeUndefined();
    expect(event.requestContext).toMatchObject({
      http: {
        method: 'GET',
        path: '/api/media/x',
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'vitest-agent',
      },
      routeKey: 'GET /api/media/{id}',
      stage: '$default',
      domainName: '127.0.0.1',
    });
    expect(event.requestContext.requestId).toEqual(expect.any(String));
    expect(event.requestContext.timeEpoch).toEqual(expect.any(Number));
    expect(event.requestContext.time).toMatch(/^\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
  });

  it('passes a JSON body as text and a multipart body base64-encoded', async () => {
    // Prepare
    const binary = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x80, 0x81]);
    const multipart = Buffer.concat([
      Buffer.from(
        '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n',
      ),
      binary,
      Buffer.from('\r\n--XyZ--\r\n'),
    ]);

    // Act
    const json = await echoed(
      await send('POST', `${api.url}/api/media`, {
        headers: ['Content-Type', 'application/json; charset=utf-8'],
        body: '{"file_name":"héllo.jpg"}',
      }),
    );
    const form = await echoed(
      await send('POST', `${api.url}/api/media`, {
        headers: ['Content-Type', 'multipart/form-data; boundary=XyZ'],
        body: multipart,
      }),
    );

    // Assess
    expect(json).toMatchObject({ isBase64Encoded: false, body: '{"file_name":"héllo.jpg"}' });
    expect(form.isBase64Encoded).toBe(true);
    expect(Buffer.from(form.body ?? '', 'base64').equals(multipart)).toBe(true);
  });

  it('refuses a body over 10 MB with 413, without invoking the function', async () => {
    // Prepare
    const invocations = records.length;

    // Act
    const reply = await send('POST', `${api.url}/api/media`, {
      headers: ['Content-Type', 'application/json'],
      body: Buffer.alloc(10 * 1024 * 1024 + 1, 0x20),
    });

    // Assess
    expect(reply.status).toBe(413);
    expect(reply.json()).toEqual({ message: 'Request Entity Too Large' });
    expect(records.length).toBe(invocations);
  });

  it("refuses an event over Lambda's 6 MB synchronous payload with 413", async () => {
    // Act: 5 MB of binary is about 6.7 MB once base64-encoded.
    const reply = await send('POST', `${api.url}/api/media`, {
      headers: ['Content-Type', 'application/octet-stream'],
      body: Buffer.alloc(5 * 1024 * 1024, 1),
    });

    // Assess
    expect(reply.status).toBe(413);
  });

  it('answers 404 when no route matches the path or the method', async () => {
    // Act
    const unknownPath = await send('GET', `${api.url}/api/nothing`);
    const wrongMethod = await send('PUT', `${api.url}/api/media/abc`);

    // Assess
    expect(unknownPath.status).toBe(404);
    expect(unknownPath.json()).toEqual({ message: 'Not Found' });
    expect(wrongMethod.status).toBe(404);
  });

  it('answers CORS preflights itself and adds CORS headers to responses', async () => {
    // Prepare
    const invocations = records.length;

    // Act
    const preflight = await send('OPTIONS', `${api.url}/api/media`, {
      headers: [
        'Origin',
        ORIGIN,
        'Access-Control-Request-Method',
        'POST',
        'Access-Control-Request-Headers',
        'content-type',
      ],
    });
    const foreign = await send('OPTIONS', `${api.url}/api/media`, {
      headers: ['Origin', 'https://elsewhere.example', 'Access-Control-Request-Method', 'POST'],
    });
    const actual = await send('GET', `${api.url}/api/media/x?mode=cookies`, { headers: ['Origin', ORIGIN] });

    // Assess
    expect(preflight.status).toBe(204);
    expect(preflight.headers).toMatchObject({
      'access-control-allow-origin': ORIGIN,
      'access-control-allow-methods': 'GET,POST,OPTIONS',
      'access-control-allow-headers': '*',
      'access-control-max-age': '3600',
    });
    expect(foreign.headers['access-control-allow-origin']).toBeUndefined();
    expect(records.length).toBe(invocations + 1);
    // The function's own CORS header is replaced by the gateway's.
    expect(actual.headers['access-control-allow-origin']).toBe(ORIGIN);
  });

  it('maps payload 2.0 responses: structured, plain object, string, base64', async () => {
    // Act
    const structured = await send('GET', `${api.url}/api/media/x?mode=cookies`);
    const plain = await send('GET', `${api.url}/api/media/x?mode=plain`);
    const text = await send('GET', `${api.url}/api/media/x?mode=string`);
    const binary = await send('GET', `${api.url}/api/media/x?mode=binary`);

    // Assess
    expect(structured.status).toBe(201);
    expect(structured.headers['x-custom']).toBe('yes');
    expect(structured.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2']);
    expect(structured.text).toBe('created');
    expect(plain.status).toBe(200);
    expect(plain.headers['content-type']).toBe('application/json');
    expect(plain.json()).toEqual({ hello: 'world' });
    expect(text.text).toBe('just text');
    expect(binary.headers['content-type']).toBe('image/png');
    expect([...binary.body]).toEqual([0x89, 0x50, 0x4e, 0x47, 0xff]);
  });

  it('answers 500 with a generic body when the function fails or answers nonsense', async () => {
    // Act
    const failed = await send('GET', `${api.url}/api/media/x?mode=throw`);
    const invalid = await send('GET', `${api.url}/api/media/x?mode=invalid`);

    // Assess
    expect(failed.status).toBe(500);
    expect(failed.json()).toEqual({ message: 'Internal Server Error' });
    expect(invalid.status).toBe(500);
  });

  it('answers 503 when the function outlasts the integration timeout', async () => {
    // Prepare
    const impatient = await startHttpApi(apiSpec(), pool, { integrationTimeoutMs: 300, log: () => {} });

    // Act
    const reply = await send('GET', `${impatient.url}/api/media/x?mode=slow`);
    await impatient.stop();

    // Assess
    expect(reply.status).toBe(503);
    expect(reply.json()).toEqual({ message: 'Service Unavailable' });
  });

  it('serves extra routes of the runtime itself', async () => {
    // Act
    const page = await send('GET', `${api.url}/`);

    // Assess
    expect(page.status).toBe(200);
    expect(page.text).toBe('<h1>local</h1>');
  });

  it('serves a named stage under its path segment', async () => {
    // Prepare
    const staged = await startHttpApi(apiSpec({ stageName: 'dev' }), pool, { log: () => {} });

    // Act
    const inStage = await send('GET', `${staged.url}/dev/api/media/abc`);
    const outside = await send('GET', `${staged.url}/api/media/abc`);
    await staged.stop();

    // Assess
    expect(await echoed(inStage)).toMatchObject({
      rawPath: '/dev/api/media/abc',
      pathParameters: { id: 'abc' },
      requestContext: { stage: 'dev' },
    });
    expect(outside.status).toBe(404);
  });
});
