/**
 * The HTTP API's CORS, answered by the gateway as API Gateway does from the API's CorsConfiguration
 * (and a function URL's Cors): preflights without calling a function, Access-Control-* headers on
 * responses to allowed origins.
 */
import type { IncomingMessage } from 'node:http';
import type { HttpResponse } from './http-api.ts';
import type { HttpApiCorsSpec } from './types.ts';

const originAllowed = (cors: HttpApiCorsSpec, origin: string): boolean =>
  cors.allowOrigins.some((allowed) => {
    if (allowed === '*') return true;
    if (allowed.toLowerCase() === origin.toLowerCase()) return true;
    // API Gateway accepts one wildcard for subdomains: https://*.example.com
    const star = allowed.indexOf('*');
    if (star < 0) return false;
    const prefix = allowed.slice(0, star).toLowerCase();
    const suffix = allowed.slice(star + 1).toLowerCase();
    const lower = origin.toLowerCase();
    return lower.length > prefix.length + suffix.length && lower.startsWith(prefix) && lower.endsWith(suffix);
  });

const allowOriginValue = (cors: HttpApiCorsSpec, origin: string): string =>
  cors.allowOrigins.includes('*') && !cors.allowCredentials ? '*' : origin;

/** Headers API Gateway adds to a response to a CORS request (not a preflight). */
export const corsResponseHeaders = (
  cors: HttpApiCorsSpec | undefined,
  origin: string | undefined,
): Record<string, string> => {
  if (!cors || !origin || !originAllowed(cors, origin)) return {};
  const headers: Record<string, string> = { 'access-control-allow-origin': allowOriginValue(cors, origin) };
  if (cors.allowCredentials) headers['access-control-allow-credentials'] = 'true';
  if (cors.exposeHeaders.length > 0) headers['access-control-expose-headers'] = cors.exposeHeaders.join(',');
  if (headers['access-control-allow-origin'] !== '*') headers.vary = 'Origin';
  return headers;
};

export const preflightResponse = (cors: HttpApiCorsSpec, request: IncomingMessage): HttpResponse => {
  const origin = request.headers.origin ?? '';
  const method = (request.headers['access-control-request-method'] ?? '').toUpperCase();
  const methodAllowed = cors.allowMethods.some(
    (allowed) => allowed === '*' || allowed.toUpperCase() === method,
  );
  const response: HttpResponse = { statusCode: 204, headers: {}, cookies: [], body: Buffer.alloc(0) };
  if (!originAllowed(cors, origin) || !methodAllowed) return response;
  const requested = request.headers['access-control-request-headers'];
  response.headers = {
    'access-control-allow-origin': allowOriginValue(cors, origin),
    'access-control-allow-methods': cors.allowMethods.join(','),
    ...(cors.allowHeaders.length > 0
      ? {
          'access-control-allow-headers':
            cors.allowHeaders.includes('*') && requested && cors.allowCredentials
              ? requested
              : cors.allowHeaders.join(','),
        }
      : {}),
    ...(cors.maxAgeSeconds !== undefined ? { 'access-control-max-age': String(cors.maxAgeSeconds) } : {}),
    ...(cors.allowCredentials ? { 'access-control-allow-credentials': 'true' } : {}),
  };
  if (response.headers['access-control-allow-origin'] !== '*') response.headers.vary = 'Origin';
  return response;
};
