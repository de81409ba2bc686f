import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { NotFoundError } from '#shared/errors';
import { MethodNotAllowedError } from './api-errors.ts';
import type { HttpResponse } from './responses.ts';

export type PathParameters = Readonly<Record<string, string | undefined>>;
export type RouteHandler = (
  event: APIGatewayProxyEventV2,
  parameters: PathParameters,
) => Promise<HttpResponse>;

/** Routes keyed like API Gateway's route keys, without a trailing slash: `GET /api/media/{id}`. */
export type RouteTable<H = RouteHandler> = Readonly<Record<string, H>>;

const withoutTrailingSlash = (path: string): string =>
  path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;

const splitRouteKey = (routeKey: string): { method: string; path: string } => {
  const space = routeKey.indexOf(' ');
  return space < 0
    ? { method: routeKey, path: '' }
    : { method: routeKey.slice(0, space), path: routeKey.slice(space + 1) };
};

/**
 * API Gateway refuses route keys that end in a slash and routes `/api/media/` to the `/api/media`
 * route (the original project's URLs end in one; many clients drop it). Normalising here keeps the
 * handler right for either route key, and for `ANY` routes.
 */
export const normaliseRouteKey = (routeKey: string, requestMethod: string): string => {
  const { method, path } = splitRouteKey(routeKey);
  return `${method === 'ANY' ? requestMethod : method} ${withoutTrailingSlash(path)}`;
};

const templatePattern = (template: string): RegExp => {
  const source = template
    .split('/')
    .map((segment) => {
      const parameter = /^\{(\w+)\}$/.exec(segment)?.[1];
      return parameter ? `(?<${parameter}>[^/]+)` : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return new RegExp(`^${source}$`);
};

const decodeSegment = (value: string): string => {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
};

/**
 * Picks the handler for an event by its route key. A catch-all route (`$default`, `ANY /{proxy+}`,
 * `GET /api/{proxy+}`, …) has no template to go by, so then the request's own method and path are
 * matched against the table. A request no route serves is refused in the API's error shape: 405
 * `Request::MethodNotAllowed` with the path's methods (for the `Allow` header) when the path is one of
 * the table's with another method, else 404 `Request::UnknownRoute`.
 */
export const createRouter = <H = RouteHandler>(routes: RouteTable<H>) => {
  const templates = Object.keys(routes).map((key) => {
    const { method, path } = splitRouteKey(key);
    return { key, method, path, pattern: templatePattern(path) };
  });
  const described = Object.keys(routes)
    .map((key) => `${key}/`)
    .join(', ');

  return (event: APIGatewayProxyEventV2): { handler: H; parameters: PathParameters } => {
    const requestMethod = event.requestContext.http.method.toUpperCase();
    const handler = routes[normaliseRouteKey(event.routeKey, requestMethod)];
    if (handler) return { handler, parameters: event.pathParameters ?? {} };

    const path = withoutTrailingSlash(event.rawPath);
    const isCatchAll = event.routeKey === '$default' || event.routeKey.includes('+}');
    if (isCatchAll) {
      for (const { key, method, pattern } of templates) {
        const match = method === requestMethod ? pattern.exec(path) : null;
        const matched = match ? routes[key] : undefined;
        if (match && matched) {
          const parameters = Object.fromEntries(
            Object.entries(match.groups ?? {}).map(([name, value]) => [name, decodeSegment(value)]),
          );
          return { handler: matched, parameters };
        }
      }
    }
    const sameResource = templates.filter(({ pattern }) => pattern.test(path));
    const allow = [...new Set(sameResource.map(({ method }) => method))].sort();
    const resource = sameResource[0];
    if (resource && !allow.includes(requestMethod)) {
      throw new MethodNotAllowedError(
        'Request::MethodNotAllowed',
        `${requestMethod} is not allowed on ${resource.path}/; it takes ${allow.join(', ')}`,
        allow,
      );
    }
    throw new NotFoundError(
      'Request::UnknownRoute',
      `there is no ${requestMethod} ${event.rawPath}; this API serves ${described}`,
    );
  };
};
