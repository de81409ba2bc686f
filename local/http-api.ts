import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { httpApiEvent, newApiRequestId } from './events/http-api-event.ts';
import { createGatewayAuthorizers } from './http-api-authorizers.ts';
import { corsResponseHeaders, preflightResponse } from './http-api-cors.ts';
import { compileRoute, matchRoute } from './http-api-routes.ts';
import type { FunctionInvoker, HttpApiSpec, InvokeOutcome } from './types.ts';

/**
 * An API Gateway v2 HTTP API on node:http, for the routes of an HttpApiSpec, each integrated with a
 * function through payload format 2.0.
 *
 * What the "gateway" does itself, as API Gateway does:
 * - routing (local/http-api-routes.ts): the most specific route wins (literal segments over `{param}`, `{param}` over
 *   `{proxy+}`, a method over `ANY`, `$default` last); a trailing slash matches the route without it;
 * - 404 `{"message":"Not Found"}` for no route; 413 `{"message":"Request Entity Too Large"}` over
 *   10 MB (10485760 bytes); 413 `{"message":"Request Too Long"}` when the event exceeds Lambda's 6 MB
 *   synchronous payload;
 * - CORS from the spec (local/http-api-cors.ts): preflights answered without calling a function, Access-Control-* headers put
 *   on responses (the function's own CORS headers are replaced, as API Gateway ignores them);
 * - the payload 2.0 event, request bodies as text or base64 as on AWS (local/events/http-api-event.ts);
 * - a protected route's authorizer (local/http-api-authorizers.ts) before its function: 401, 403 or 500
 *   answered by the gateway, or what it said in `requestContext.authorizer`. Preflights are not authorized.
 *
 * Failures, chosen to match what a client of the deployed API sees:
 * - the function threw, crashed or ran past its own timeout → 500 `{"message":"Internal Server Error"}`
 *   (to API Gateway a Lambda timeout is a failed invocation like any other);
 * - no answer within the route's integration timeout (30 s by default, API Gateway's maximum) → 503
 *   `{"message":"Service Unavailable"}` while the function runs on;
 * - a response that is not valid for payload 2.0, or over 6 MB → 500.
 */

export const HTTP_API_PAYLOAD_LIMIT = 10 * 1024 * 1024;
export const LAMBDA_SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024;
export const INTEGRATION_TIMEOUT_MS = 30_000;

/** A route the local runtime serves itself, outside the API (e.g. a web page at `/`). */
export interface ExtraRoute {
  /** `GET`, `POST`, … or `ANY`. */
  method: string;
  /** Exact path, e.g. `/`. */
  path: string;
  handle(request: IncomingMessage, response: ServerResponse): void | Promise<void>;
}

export interface HttpApiOptions {
  /** @default 0 (any free port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** Served before the API's routes. */
  extraRoutes?: readonly ExtraRoute[];
  /** Overrides every route's integration timeout. @default - the route's `timeoutMs`, else 30 s */
  integrationTimeoutMs?: number;
  /** Where the gateway reports what a client would not see (an invalid function response). */
  log?: (message: string) => void;
  /** The clock of the authorizers' result cache and of JWT expiry. @default Date.now */
  now?: () => number;
}

export interface HttpApiServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export interface HttpResponse {
  statusCode: number;
  headers: Record<string, string>;
  cookies: string[];
  body: Buffer;
}

export class InvalidResponseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidResponseError';
  }
}

/**
 * A function's result as API Gateway reads it with payload format 2.0: a structured response when it
 * has a `statusCode`; anything else is the JSON body of a 200.
 */
export const mapPayloadV2Response = (result: unknown): HttpResponse => {
  if (typeof result === 'object' && result !== null && !Array.isArray(result) && 'statusCode' in result) {
    const structured = result as Record<string, unknown>;
    const statusCode = Number(structured.statusCode);
    if (!Number.isInteger(statusCode) || statusCode < 100 || statusCode > 599) {
      throw new InvalidResponseError(`invalid statusCode ${String(structured.statusCode)}`);
    }
    const headers: Record<string, string> = {};
    const rawHeaders = structured.headers ?? {};
    if (typeof rawHeaders !== 'object' || rawHeaders === null)
      throw new InvalidResponseError('headers is not an object');
    for (const [name, value] of Object.entries(rawHeaders)) {
      if (value === null || value === undefined) continue;
      if (typeof value === 'object') throw new InvalidResponseError(`header ${name} is not a scalar`);
      headers[name.toLowerCase()] = String(value);
    }
    const cookies = structured.cookies ?? [];
    if (!Array.isArray(cookies)) throw new InvalidResponseError('cookies is not an array');
    const body = structured.body;
    if (body !== undefined && body !== null && typeof body !== 'string') {
      throw new InvalidResponseError('body is not a string');
    }
    const text = typeof body === 'string' ? body : '';
    return {
      statusCode,
      headers,
      cookies: cookies.map(String),
      body: structured.isBase64Encoded === true ? Buffer.from(text, 'base64') : Buffer.from(text),
    };
  }
  const body = typeof result === 'string' ? result : (JSON.stringify(result) ?? 'null');
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    cookies: [],
    body: Buffer.from(body),
  };
};

const jsonMessage = (statusCode: number, message: string): HttpResponse => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  cookies: [],
  body: Buffer.from(JSON.stringify({ message })),
});

/** Reads the body, or returns undefined once it passes `limit` (draining the rest). */
const readBody = (request: IncomingMessage, limit: number): Promise<Buffer | undefined> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = Number(request.headers['content-length'] ?? 0) > limit;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      // Keep reading (and dropping) the rest, so that the client is not cut off before it sees the 413.
      if (!tooLarge) chunks.push(chunk);
    });
    request.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks)));
    request.on('error', reject);
  });

const send = (response: ServerResponse, reply: HttpResponse, extraHeaders: Record<string, string>): void => {
  const headers: Record<string, string | string[]> = { ...reply.headers, ...extraHeaders };
  if (reply.cookies.length > 0) headers['set-cookie'] = reply.cookies;
  headers['content-length'] = String(reply.body.length);
  delete headers['transfer-encoding'];
  response.writeHead(reply.statusCode, headers);
  response.end(reply.body);
};

const raceTimeout = <T>(promise: Promise<T>, ms: number): Promise<T | 'integration-timeout'> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve('integration-timeout'), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });

/** Starts the HTTP API; `url` has no trailing slash. */
export const startHttpApi = async (
  spec: HttpApiSpec,
  invoker: FunctionInvoker,
  options: HttpApiOptions = {},
): Promise<HttpApiServer> => {
  const unsupported = spec.routes.filter((route) => route.payloadFormatVersion !== '2.0');
  if (unsupported.length > 0) {
    throw new Error(
      `payload format 1.0 is not emulated (routes ${unsupported.map((route) => route.routeKey).join(', ')})`,
    );
  }
  const routes = spec.routes.map(compileRoute);
  const stage = spec.stageName || '$default';
  const stagePrefix = stage === '$default' ? '' : `/${stage}`;
  const log = options.log ?? ((message: string) => process.stderr.write(`[http-api] ${message}\n`));
  const extraRoutes = options.extraRoutes ?? [];
  const authorizers = createGatewayAuthorizers(invoker, {
    log,
    ...(options.now ? { now: options.now } : {}),
  });

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const method = (request.method ?? 'GET').toUpperCase();
    const url = request.url ?? '/';
    const queryIndex = url.indexOf('?');
    const rawPath = queryIndex < 0 ? url : url.slice(0, queryIndex);
    const rawQueryString = queryIndex < 0 ? '' : url.slice(queryIndex + 1);

    const extra = extraRoutes.find(
      (route) =>
        (route.method.toUpperCase() === 'ANY' || route.method.toUpperCase() === method) &&
        route.path === rawPath,
    );
    if (extra) {
      await extra.handle(request, response);
      return;
    }

    const origin = request.headers.origin;
    const requestId = newApiRequestId();
    const gatewayHeaders = { 'apigw-requestid': requestId };
    if (method === 'OPTIONS' && spec.cors && origin && request.headers['access-control-request-method']) {
      request.resume();
      send(response, preflightResponse(spec.cors, request), gatewayHeaders);
      return;
    }
    const reply = (answer: HttpResponse) => {
      // With CORS configured, API Gateway ignores the integration's own CORS headers.
      const headers = spec.cors
        ? Object.fromEntries(
            Object.entries(answer.headers).filter(([name]) => !name.startsWith('access-control-')),
          )
        : answer.headers;
      send(
        response,
        { ...answer, headers },
        { ...gatewayHeaders, ...corsResponseHeaders(spec.cors, origin) },
      );
    };

    const body = await readBody(request, HTTP_API_PAYLOAD_LIMIT);
    if (!body) {
      log(`${method} ${rawPath}: body over API Gateway's 10 MB payload limit, refused with 413`);
      return reply(jsonMessage(413, 'Request Entity Too Large'));
    }

    // A named stage is the first path segment; routes match what follows it.
    const routePath = stagePrefix
      ? rawPath === stagePrefix || rawPath.startsWith(`${stagePrefix}/`)
        ? rawPath.slice(stagePrefix.length) || '/'
        : undefined
      : rawPath;
    const match = routePath === undefined ? undefined : matchRoute(routes, method, routePath);
    if (!match) return reply(jsonMessage(404, 'Not Found'));

    const event: APIGatewayProxyEventV2 & { requestContext: { authorizer?: unknown } } = httpApiEvent({
      request,
      method,
      rawPath,
      rawQueryString,
      body,
      routeKey: match.route.routeKey,
      pathParameters: match.pathParameters,
      stage,
      requestId,
    });
    if (match.route.authorizer) {
      const authorization = await authorizers.authorize(match.route.authorizer, event);
      if (!authorization.allowed) {
        const { statusCode, message, headers } = authorization.refusal;
        const refusal = jsonMessage(statusCode, message);
        return reply({ ...refusal, headers: { ...refusal.headers, ...headers } });
      }
      event.requestContext.authorizer = authorization.authorizer;
    }
    if (Buffer.byteLength(JSON.stringify(event)) > LAMBDA_SYNC_PAYLOAD_LIMIT) {
      log(`${method} ${rawPath}: event over Lambda's 6 MB synchronous payload limit, refused with 413`);
      return reply(jsonMessage(413, 'Request Too Long'));
    }

    const outcome = await raceTimeout<InvokeOutcome>(
      invoker.invoke(match.route.functionLogicalId, event, { trigger: `http ${method} ${rawPath}` }),
      options.integrationTimeoutMs ?? match.route.timeoutMs ?? INTEGRATION_TIMEOUT_MS,
    );
    if (outcome === 'integration-timeout') return reply(jsonMessage(503, 'Service Unavailable'));
    if (!outcome.ok) return reply(jsonMessage(500, 'Internal Server Error'));
    if (Buffer.byteLength(JSON.stringify(outcome.result) ?? '') > LAMBDA_SYNC_PAYLOAD_LIMIT) {
      log(`${match.route.routeKey}: the function's response is over Lambda's 6 MB limit`);
      return reply(jsonMessage(500, 'Internal Server Error'));
    }
    try {
      return reply(mapPayloadV2Response(outcome.result));
    } catch (error) {
      log(`${match.route.routeKey}: invalid payload 2.0 response: ${(error as Error).message}`);
      return reply(jsonMessage(500, 'Internal Server Error'));
    }
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      log(`${request.method} ${request.url}: ${error instanceof Error ? error.message : String(error)}`);
      if (!response.headersSent) send(response, jsonMessage(500, 'Internal Server Error'), {});
      else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port, address } = server.address() as AddressInfo;
  const hostForUrl = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${hostForUrl}:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
};
