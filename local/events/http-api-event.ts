/**
 * The event an API Gateway v2 HTTP API (payload format 2.0) hands its Lambda integration, built from a
 * request as API Gateway builds it: header names lower-cased and repeated ones joined by commas, cookies
 * and query string parameters split out, X-Forwarded-* added, the body as text for text/*,
 * application/json, application/xml and application/javascript and base64 otherwise (multipart,
 * form-urlencoded, binary, no Content-Type), as measured on AWS. The gateway (local/http-api.ts) does
 * the routing, the limits and the response; this module only shapes the event.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { LOCAL_ACCOUNT } from '../types.ts';

const TEXT_TYPES = new Set(['application/json', 'application/xml', 'application/javascript']);

const isTextContent = (contentType: string | undefined): boolean => {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  return type !== undefined && (type.startsWith('text/') || TEXT_TYPES.has(type));
};

/** `12/Mar/2020:19:03:58 +0000`, as requestContext.time. */
const apiGatewayTime = (date: Date): string => {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(
    date.getUTCHours(),
  )}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
};

/** API Gateway's request ids look like `JKJaXmPLvHcESHA=`. */
export const newApiRequestId = (): string => `${randomBytes(10).toString('base64').slice(0, 15)}=`;

/** Headers lower-cased with repeated ones joined by commas; cookies split out, as payload 2.0 does. */
const collectHeaders = (request: IncomingMessage): { headers: Record<string, string>; cookies: string[] } => {
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  const raw = request.rawHeaders;
  for (let index = 0; index + 1 < raw.length; index += 2) {
    const name = (raw[index] ?? '').toLowerCase();
    const value = raw[index + 1] ?? '';
    if (name === 'cookie') {
      cookies.push(
        ...value
          .split(';')
          .map((cookie) => cookie.trim())
          .filter(Boolean),
      );
      continue;
    }
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  return { headers, cookies };
};

const queryParameters = (rawQueryString: string): Record<string, string> | undefined => {
  if (rawQueryString === '') return undefined;
  const parameters: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(rawQueryString)) {
    parameters[name] = parameters[name] === undefined ? value : `${parameters[name]},${value}`;
  }
  return parameters;
};

/** What the gateway knows about a request once it has read it and matched a route. */
export interface HttpApiRequest {
  request: IncomingMessage;
  method: string;
  rawPath: string;
  rawQueryString: string;
  body: Buffer;
  routeKey: string;
  pathParameters: Record<string, string>;
  stage: string;
  requestId: string;
}

/** The payload format 2.0 event of a matched request. */
export const httpApiEvent = (input: HttpApiRequest): APIGatewayProxyEventV2 => {
  const { request, method, rawPath, rawQueryString, body, routeKey, pathParameters } = input;
  const now = new Date();
  const { headers, cookies } = collectHeaders(request);
  const host = headers.host ?? 'localhost';
  const domainName = host.replace(/:\d+$/, '');
  const sourceIp = (request.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
  headers['x-forwarded-for'] = headers['x-forwarded-for']
    ? `${headers['x-forwarded-for']}, ${sourceIp}`
    : sourceIp;
  headers['x-forwarded-port'] = String(request.socket.localPort ?? '');
  headers['x-forwarded-proto'] = 'http';
  const queryStringParameters = queryParameters(rawQueryString);
  const isBase64Encoded = body.length > 0 && !isTextContent(headers['content-type']);
  return {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString,
    ...(cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(queryStringParameters ? { queryStringParameters } : {}),
    requestContext: {
      accountId: LOCAL_ACCOUNT,
      apiId: 'local',
      domainName,
      domainPrefix: domainName.split('.')[0] ?? domainName,
      http: {
        method,
        path: rawPath,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: input.requestId,
      routeKey,
      stage: input.stage,
      time: apiGatewayTime(now),
      timeEpoch: now.getTime(),
    },
    ...(body.length > 0 ? { body: body.toString(isBase64Encoded ? 'base64' : 'utf8') } : {}),
    ...(Object.keys(pathParameters).length > 0 ? { pathParameters } : {}),
    isBase64Encoded,
  };
};
