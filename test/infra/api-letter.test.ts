import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { defineMediaPipeline } from '#lib/app';
import { testApp } from './synthesize.ts';
import { referencedId, references, TemplateQueries } from './template-queries.ts';

/**
 * The catch-all routes that let the API function answer unknown paths and methods under /api in the
 * API's error shape (lib/upload-api.ts API_CATCH_ALL_ROUTES), behind the same authorizer as the API.
 */
const ISSUER = 'https://issuer.example.com/';
const JWT_CONTEXT = { auth: 'jwt', jwtIssuer: ISSUER, jwtAudience: 'media-app' };
const CATCH_ALL_METHODS = ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT'];

/** Routes, authorizers and integrations only: no bundling. */
const synthesize = (context: Record<string, unknown> = {}) => {
  const app = testApp({ 'aws:cdk:bundling-stacks': [], ...context });
  return new TemplateQueries(Template.fromStack(defineMediaPipeline(app)));
};

const routesOf = (queries: TemplateQueries) =>
  queries.ofType('AWS::ApiGatewayV2::Route').map(([, route]) => route.Properties);

const catchAllRoutes = (queries: TemplateQueries) =>
  routesOf(queries).filter((route) => /^\S+ \/api(\/\{proxy\+\})?$/.test(String(route.RouteKey)));

const apiIntegrationId = (queries: TemplateQueries): string => {
  const apiFunctionId = queries.projectFunction('media-api').logicalId;
  const [integration] = queries
    .ofType('AWS::ApiGatewayV2::Integration')
    .filter(([, resource]) => references(resource.Properties.IntegrationUri, apiFunctionId));
  if (!integration) throw new Error('no integration of the API function');
  return integration[0];
};

describe.each([
  { mode: 'api-key', context: {}, authorizationType: 'CUSTOM' },
  { mode: 'jwt', context: JWT_CONTEXT, authorizationType: 'JWT' },
])('catch-all routes, auth $mode', ({ context, authorizationType }) => {
  const queries = synthesize(context);

  it('routes every method but OPTIONS on /api and /api/{proxy+} to the API function', () => {
    // Prepare
    const integrationId = apiIntegrationId(queries);

    // Act
    const routes = catchAllRoutes(queries);

    // Assess
    expect(routes.map((route) => route.RouteKey).sort()).toEqual(
      ['/api', '/api/{proxy+}']
        .flatMap((path) => CATCH_ALL_METHODS.map((method) => `${method} ${path}`))
        .sort(),
    );
    for (const route of routes) {
      expect(references(route.Target, integrationId), String(route.RouteKey)).toBe(true);
    }
  });

  it('puts the API authorizer on them, so the gateway still answers 401 without a credential', () => {
    // Prepare
    const [authorizer] = queries.ofType('AWS::ApiGatewayV2::Authorizer');

    // Act
    const routes = catchAllRoutes(queries);

    // Assess
    expect(authorizer).toBeDefined();
    for (const route of routes) {
      expect(route.AuthorizationType, String(route.RouteKey)).toBe(authorizationType);
      expect(referencedId(route.AuthorizerId), String(route.RouteKey)).toBe(authorizer?.[0]);
    }
  });

  it('leaves CORS preflights to API Gateway: no $default, ANY or OPTIONS route anywhere', () => {
    // Act
    const routeKeys = routesOf(queries).map((route) => String(route.RouteKey));

    // Assess
    expect(routeKeys).not.toContain('$default');
    expect(routeKeys.filter((key) => /^(ANY|OPTIONS) /.test(key))).toEqual([]);
  });

  it('keeps the page routes outside /api public and exact', () => {
    // Act
    const page = routesOf(queries).filter((route) => !/ \/api(\/|$)/.test(String(route.RouteKey)));

    // Assess
    expect(page.map((route) => route.RouteKey).sort()).toEqual([
      'GET /',
      'GET /app.css',
      'GET /app.js',
      'GET /favicon.svg',
    ]);
    for (const route of page) expect(route.AuthorizationType, String(route.RouteKey)).toBe('NONE');
  });

  it('lets API Gateway invoke the function from each catch-all route', () => {
    // Prepare
    const apiFunctionId = queries.projectFunction('media-api').logicalId;

    // Act
    const sourceArns = queries
      .ofType('AWS::Lambda::Permission')
      .map(([, permission]) => permission.Properties)
      .filter((permission) => references(permission.FunctionName, apiFunctionId))
      .map((permission) => JSON.stringify(permission.SourceArn));

    // Assess
    expect(sourceArns.some((arn) => arn.includes('/*/*/api/{proxy+}'))).toBe(true);
    expect(sourceArns.some((arn) => arn.endsWith('/*/*/api"]]}'))).toBe(true);
  });
});

describe('catch-all routes, auth none', () => {
  it('are open like every other route in that mode', () => {
    // Act
    const routes = catchAllRoutes(synthesize({ auth: 'none' }));

    // Assess
    expect(routes).toHaveLength(12);
    for (const route of routes) {
      expect(route.AuthorizerId, String(route.RouteKey)).toBeUndefined();
      expect(route.AuthorizationType ?? 'NONE', String(route.RouteKey)).toBe('NONE');
    }
  });
});
