import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

export interface HttpEventOptions {
  method: string;
  /** The request path as the caller sent it, with or without a trailing slash. */
  path: string;
  /** The route API Gateway matched, e.g. `GET /api/media/{id}/`; defaults to `<method> <path>`. */
  routeKey?: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
  /** Defaults to true for Buffer bodies (API Gateway base64-encodes binary payloads), false otherwise. */
  isBase64Encoded?: boolean;
  pathParameters?: Record<string, string>;
  queryString?: string;
  /** The caller's tenant as the api-key authorizer passes it on; `default` unless said. */
  tenant?: string;
  /**
   * The request context's `authorizer` as API Gateway fills it, over the api-key one `tenant` makes:
   * `{ jwt: { claims, scopes } }` for a JWT route, `null` for a route without an authorizer.
   */
  authorizer?: Record<string, unknown> | null;
}

/** What API Gateway passes on from a Lambda REQUEST authorizer's simple response for `tenant`. */
export const apiKeyAuthorizer = (tenant: string) => ({ lambda: { tenant, key_id: 'a1b2c3d4e5f6' } });

/**
 * An API Gateway HTTP API (payload format 2.0) event as Lambda receives it: lower-cased header names,
 * cookies and query string split out, a request context with its own request id.
 */
export const httpEvent = (options: HttpEventOptions): APIGatewayProxyEventV2 => {
  const { method, path, body, pathParameters, queryString = '' } = options;
  const isBase64Encoded = options.isBase64Encoded ?? Buffer.isBuffer(body);
  const encodedBody =
    body === undefined
      ? undefined
      : Buffer.isBuffer(body)
        ? body.toString(isBase64Encoded ? 'base64' : 'utf8')
        : body;
  const headers: Record<string, string> = {
    accept: '*/*',
    host: 'abc123.execute-api.us-east-1.amazonaws.com',
    'user-agent': 'vitest',
    'x-forwarded-proto': 'https',
  };
  for (const [name, value] of Object.entries(options.headers ?? {})) headers[name.toLowerCase()] = value;
  if (encodedBody !== undefined && headers['content-length'] === undefined) {
    const length = Buffer.isBuffer(body) ? body.length : Buffer.byteLength(encodedBody);
    headers['content-length'] = String(length);
  }
  const requestId = `${randomUUID().slice(0, 8)}=`;
  const authorizer =
    options.authorizer === undefined ? apiKeyAuthorizer(options.tenant ?? 'default') : options.authorizer;
  const query = new URLSearchParams(queryString);
  const queryStringParameters = query.size > 0 ? Object.fromEntries(query) : undefined;
  const event: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey: options.routeKey ?? `${method} ${path}`,
    rawPath: path,
    rawQueryString: queryString,
    headers,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'vitest' },
      requestId,
      routeKey: options.routeKey ?? `${method} ${path}`,
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    ...(queryStringParameters ? { queryStringParameters } : {}),
    ...(pathParameters ? { pathParameters } : {}),
    ...(encodedBody !== undefined ? { body: encodedBody } : {}),
    isBase64Encoded,
  };
  // The base event type has no authorizer; the WithRequestContext variants do, one kind each.
  if (authorizer !== null) Object.assign(event.requestContext, { authorizer });
  return event;
};

/** JSON request body with its content type. */
export const jsonEvent = (
  options: Omit<HttpEventOptions, 'body'> & { json: unknown },
): APIGatewayProxyEventV2 =>
  httpEvent({
    ...options,
    body: JSON.stringify(options.json),
    headers: { 'content-type': 'application/json', ...options.headers },
  });

export interface MultipartPart {
  name: string;
  value: string | Buffer;
  /** Makes the part a file part. */
  fileName?: string;
  contentType?: string;
}

/** A multipart/form-data request body with its content type (multipartBody). */
export const formEvent = (
  options: Omit<HttpEventOptions, 'body'> & { parts: MultipartPart[] },
): APIGatewayProxyEventV2 => {
  const { body, contentType } = multipartBody(options.parts);
  return httpEvent({ ...options, body, headers: { 'content-type': contentType, ...options.headers } });
};

/** A multipart/form-data body as a browser or `curl -F` would send it. */
export const multipartBody = (parts: MultipartPart[]): { body: Buffer; contentType: string } => {
  const boundary = `----vitest${randomUUID().replaceAll('-', '')}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.fileName === undefined ? '' : `; filename="${part.fileName}"`}`;
    const head = [`--${boundary}`, `Content-Disposition: ${disposition}`];
    if (part.contentType) head.push(`Content-Type: ${part.contentType}`);
    chunks.push(Buffer.from(`${head.join('\r\n')}\r\n\r\n`), Buffer.from(part.value), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
};

export interface HttpResponse<T = unknown> {
  statusCode: number;
  headers: Record<string, string | number | boolean>;
  body: T;
}

/** Parses a handler's structured result, so tests assert on the JSON body. */
export const readResponse = <T = Record<string, unknown>>(
  result: APIGatewayProxyStructuredResultV2,
): HttpResponse<T> => ({
  statusCode: result.statusCode ?? 200,
  headers: result.headers ?? {},
  body: (result.body === undefined || result.body === '' ? undefined : JSON.parse(result.body)) as T,
});
