/**
 * The HTTP API's routing, as API Gateway matches routes: the most specific route wins (literal segments
 * over `{param}`, `{param}` over `{proxy+}`, a method over `ANY`, `$default` last); a trailing slash
 * matches the route without it unless a route declares that spelling itself.
 */
import type { HttpApiSpec, HttpAuthorizerSpec } from './types.ts';

export interface CompiledRoute {
  routeKey: string;
  functionLogicalId: string;
  /** The integration's timeout, if the spec gives one. */
  timeoutMs?: number;
  /** Asked before the function runs (local/http-api-authorizers.ts). */
  authorizer?: HttpAuthorizerSpec;
  method: string;
  /** Path segments; undefined for `$default`. */
  segments?: Segment[];
  /** The route's own path ends with a slash: it wins over its slash-less twin for such requests. */
  trailingSlash: boolean;
}

type Segment = { literal: string } | { param: string } | { greedy: string };

export interface RouteMatch {
  route: CompiledRoute;
  pathParameters: Record<string, string>;
}

export const compileRoute = (route: HttpApiSpec['routes'][number]): CompiledRoute => {
  const { routeKey, functionLogicalId, timeoutMs } = route;
  const protection = route.authorizer ? { authorizer: route.authorizer } : {};
  if (routeKey === '$default')
    return { routeKey, functionLogicalId, timeoutMs, ...protection, method: 'ANY', trailingSlash: false };
  const [method = 'ANY', path = '/'] = routeKey.trim().split(/\s+/, 2);
  const segments = splitPath(path).map((segment): Segment => {
    const variable = /^\{([^}]+)\}$/.exec(segment)?.[1];
    if (!variable) return { literal: segment };
    return variable.endsWith('+') ? { greedy: variable.slice(0, -1) } : { param: variable };
  });
  return {
    routeKey,
    functionLogicalId,
    timeoutMs,
    ...protection,
    method: method.toUpperCase(),
    segments,
    trailingSlash: path.length > 1 && path.endsWith('/'),
  };
};

const splitPath = (path: string): string[] => path.split('/').filter((segment) => segment !== '');

const safeDecode = (value: string): string => {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
};

const matchPath = (segments: Segment[], requestSegments: string[]): Record<string, string> | undefined => {
  const parameters: Record<string, string> = {};
  for (const [index, segment] of segments.entries()) {
    if ('greedy' in segment) {
      const rest = requestSegments.slice(index);
      if (rest.length === 0) return undefined;
      parameters[segment.greedy] = rest.map(safeDecode).join('/');
      return parameters;
    }
    const actual = requestSegments[index];
    if (actual === undefined) return undefined;
    if ('literal' in segment) {
      if (segment.literal !== actual) return undefined;
    } else parameters[segment.param] = safeDecode(actual);
  }
  return segments.length === requestSegments.length ? parameters : undefined;
};

/** Orders two matching routes: negative when `a` is more specific. */
const compareSpecificity = (a: CompiledRoute, b: CompiledRoute, trailingSlash: boolean): number => {
  const rank = (route: CompiledRoute): number[] => {
    const segments = route.segments ?? [];
    const greedy = segments.some((segment) => 'greedy' in segment) ? 1 : 0;
    return [
      route.segments ? 0 : 1,
      greedy,
      // Literal before parameter, position by position.
      ...segments.map((segment) => ('literal' in segment ? 0 : 1)),
    ];
  };
  const ra = rank(a);
  const rb = rank(b);
  for (let index = 0; index < Math.max(ra.length, rb.length); index++) {
    // A longer (greedy) prefix is more specific.
    const x = ra[index] ?? 2;
    const y = rb[index] ?? 2;
    if (x !== y) return x - y;
  }
  const byMethod = (a.method === 'ANY' ? 1 : 0) - (b.method === 'ANY' ? 1 : 0);
  if (byMethod !== 0) return byMethod;
  return (a.trailingSlash === trailingSlash ? 0 : 1) - (b.trailingSlash === trailingSlash ? 0 : 1);
};

export const matchRoute = (
  routes: readonly CompiledRoute[],
  method: string,
  path: string,
): RouteMatch | undefined => {
  const requestSegments = splitPath(path);
  const matches: RouteMatch[] = [];
  for (const route of routes) {
    if (route.method !== 'ANY' && route.method !== method) continue;
    if (!route.segments) {
      matches.push({ route, pathParameters: {} });
      continue;
    }
    const pathParameters = matchPath(route.segments, requestSegments);
    if (pathParameters) matches.push({ route, pathParameters });
  }
  const trailingSlash = path.length > 1 && path.endsWith('/');
  matches.sort((a, b) => compareSpecificity(a.route, b.route, trailingSlash));
  return matches[0];
};
