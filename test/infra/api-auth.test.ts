import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defineMediaPipeline } from '#lib/app';
import type { MediaPipelineStack } from '#lib/media-pipeline-stack';
import { testApp } from './synthesize.ts';
import { actionsOf, environmentOf, referencedId, references, TemplateQueries } from './template-queries.ts';

const ISSUER = 'https://issuer.example.com/';
const JWT_CONTEXT = { auth: 'jwt', jwtIssuer: ISSUER, jwtAudience: 'media-app, media-cli' };

interface Synthesized {
  stack: MediaPipelineStack;
  template: Template;
  queries: TemplateQueries;
}

/**
 * The stack for these settings, without bundling (no stack is named in aws:cdk:bundling-stacks): only
 * routes, authorizers, grants and environments matter here.
 */
const synthesize = (context: Record<string, unknown> = {}): Synthesized => {
  const app = testApp({ 'aws:cdk:bundling-stacks': [], ...context });
  const stack = defineMediaPipeline(app);
  const template = Template.fromStack(stack);
  return { stack, template, queries: new TemplateQueries(template) };
};

const logicalIdOf = (stack: MediaPipelineStack, construct: { node: { defaultChild?: unknown } }) =>
  stack.resolve((construct.node.defaultChild as { logicalId: string }).logicalId) as string;

const routes = ({ queries }: Synthesized) =>
  queries.ofType('AWS::ApiGatewayV2::Route').map(([, route]) => route.Properties);
/** `/api` itself (a catch-all route) and every path under it. */
const isApiRoute = (route: Record<string, unknown>) => / \/api(\/|$)/.test(String(route.RouteKey));
const apiRoutes = (synthesized: Synthesized) => routes(synthesized).filter(isApiRoute);
const pageRoutes = (synthesized: Synthesized) => routes(synthesized).filter((route) => !isApiRoute(route));

/** Statements of the role that are not about its own logs. */
const dataStatements = (queries: TemplateQueries, service: string) =>
  queries
    .statementsOf(service)
    .filter((statement) => !actionsOf(statement).every((a) => a.startsWith('logs:')));

afterEach(() => {
  vi.restoreAllMocks();
});

describe.each([
  { mode: 'api-key', context: {}, authorizationType: 'CUSTOM' },
  { mode: 'jwt', context: JWT_CONTEXT, authorizationType: 'JWT' },
])('auth $mode', ({ mode, context, authorizationType }) => {
  const synthesized = synthesize(context);
  const { queries, template, stack } = synthesized;
  const authorizers = queries.ofType('AWS::ApiGatewayV2::Authorizer');

  it('puts the one authorizer on every /api route', () => {
    // Assess
    expect(authorizers).toHaveLength(1);
    const [authorizerId] = authorizers[0] ?? [];
    const protectedRoutes = apiRoutes(synthesized);
    expect(protectedRoutes.length).toBeGreaterThanOrEqual(8);
    for (const route of protectedRoutes) {
      expect(route.AuthorizationType, String(route.RouteKey)).toBe(authorizationType);
      expect(referencedId(route.AuthorizerId), String(route.RouteKey)).toBe(authorizerId);
    }
  });

  it('leaves the page and its assets public', () => {
    // Assess
    const page = pageRoutes(synthesized);
    expect(page.map((route) => route.RouteKey).sort()).toEqual([
      'GET /',
      'GET /app.css',
      'GET /app.js',
      'GET /favicon.svg',
    ]);
    for (const route of page) {
      expect(route.AuthorizationType, String(route.RouteKey)).toBe('NONE');
      expect(route.AuthorizerId, String(route.RouteKey)).toBeUndefined();
    }
  });

  it('tells the API function the mode and the tenant claim, and keeps key checks out of it', () => {
    // Assess
    const environment = environmentOf(queries.projectFunction('media-api').properties);
    expect(environment).toMatchObject({ AUTH_MODE: mode, TENANT_CLAIM: 'sub' });
    expect(environment.AUTH_IN_FUNCTION).toBeUndefined();
    expect(environment.TENANTS_TABLE).toBeUndefined();
    const tenantsTableId = logicalIdOf(stack, stack.apiAuth.tenantsTable);
    expect(queries.grants('media-api', 'dynamodb:GetItem', tenantsTableId)).toEqual([]);
  });

  it('says the mode and the tenants table in the outputs', () => {
    // Assess
    template.hasOutput('AuthMode', { Value: mode });
    template.hasOutput('TenantsTableName', {
      Value: { Ref: logicalIdOf(stack, stack.apiAuth.tenantsTable) },
    });
  });

  it('passes cdk-nag’s AWS Solutions checks (AwsSolutions-APIG4 is met on every /api route)', () => {
    // Act
    const report = new AwsSolutionsChecks().validateScope(stack);
    // Assess
    expect(report.violations.map((violation) => violation.ruleName)).toEqual([]);
  });
});

describe('auth api-key', () => {
  const { stack, queries } = synthesize();
  const tenantsTableId = logicalIdOf(stack, stack.apiAuth.tenantsTable);

  it('is a REQUEST authorizer on the Authorization header: payload 2.0, simple responses, a 5-minute cache', () => {
    // Assess
    const [, authorizer] = queries.ofType('AWS::ApiGatewayV2::Authorizer')[0] ?? [];
    expect(authorizer?.Properties).toMatchObject({
      AuthorizerType: 'REQUEST',
      IdentitySource: ['$request.header.Authorization'],
      EnableSimpleResponses: true,
      AuthorizerPayloadFormatVersion: '2.0',
      AuthorizerResultTtlInSeconds: 300,
    });
    expect(
      references(authorizer?.Properties.AuthorizerUri, queries.projectFunction('media-authorizer').logicalId),
    ).toBe(true);
  });

  it('lets the authorizer get single items of the tenants table and do nothing else', () => {
    // Assess
    expect(dataStatements(queries, 'media-authorizer')).toEqual([
      {
        Effect: 'Allow',
        Action: 'dynamodb:GetItem',
        Resource: { 'Fn::GetAtt': [tenantsTableId, 'Arn'] },
      },
    ]);
    expect(environmentOf(queries.projectFunction('media-authorizer').properties)).toMatchObject({
      TENANTS_TABLE: { Ref: tenantsTableId },
    });
  });

  it('lets API Gateway, and only it, invoke the authorizer', () => {
    // Assess
    const authorizerId = queries.projectFunction('media-authorizer').logicalId;
    const permissions = queries
      .ofType('AWS::Lambda::Permission')
      .filter(([, permission]) => references(permission.Properties.FunctionName, authorizerId));
    expect(permissions).toHaveLength(1);
    expect(permissions[0]?.[1].Properties.Principal).toBe('apigateway.amazonaws.com');
  });

  it('keys the tenants table by pk, on demand, with point-in-time recovery, retained with the data', () => {
    // Assess
    const table = queries.get(tenantsTableId);
    expect(table.Properties).toMatchObject({
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
    expect(table.DeletionPolicy).toBe('Retain');
  });

  it('lets the webhook function read its tenants’ secrets: single items of the tenants table', () => {
    // Assess
    const grants = queries.grants('media-webhook', 'dynamodb:GetItem', tenantsTableId);
    expect(grants).toHaveLength(1);
    expect(actionsOf(grants[0] ?? { Effect: '', Action: [], Resource: '' })).toEqual(['dynamodb:GetItem']);
    expect(environmentOf(queries.projectFunction('media-webhook').properties).TENANTS_TABLE).toEqual({
      Ref: tenantsTableId,
    });
  });

  it('gives no other function any access to the tenants table', () => {
    // Assess
    for (const service of queries.projectFunctions().keys()) {
      if (service === 'media-authorizer' || service === 'media-webhook') continue;
      const touching = queries.statementsOf(service).filter((s) => references(s.Resource, tenantsTableId));
      expect(touching, service).toEqual([]);
    }
  });
});

describe('retainData false', () => {
  it('destroys the tenants table with the stack, like the jobs table', () => {
    // Prepare
    const { stack, queries } = synthesize({ retainData: false });
    // Assess
    expect(queries.get(logicalIdOf(stack, stack.apiAuth.tenantsTable)).DeletionPolicy).toBe('Delete');
  });
});

describe('auth jwt', () => {
  it('is the HTTP API’s JWT authorizer for the issuer and audiences, on the Authorization header', () => {
    // Prepare
    const { queries } = synthesize({ ...JWT_CONTEXT, jwtTenantClaim: 'custom:tenant' });
    // Assess
    const [, authorizer] = queries.ofType('AWS::ApiGatewayV2::Authorizer')[0] ?? [];
    expect(authorizer?.Properties).toMatchObject({
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: { Issuer: ISSUER, Audience: ['media-app', 'media-cli'] },
    });
    expect(queries.projectFunctions().has('media-authorizer')).toBe(false);
    expect(environmentOf(queries.projectFunction('media-api').properties).TENANT_CLAIM).toBe('custom:tenant');
  });

  it('is refused with target localstack, saying why', () => {
    // Act
    const define = () => synthesize({ ...JWT_CONTEXT, target: 'localstack' });
    // Assess
    expect(define).toThrow(/auth jwt cannot be deployed with target localstack.*API Gateway/);
  });
});

describe('auth none', () => {
  it('puts no authorizer anywhere, warns at synth, and acknowledges the open routes with the reason', () => {
    // Prepare
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);

    // Act
    const synthesized = synthesize({ auth: 'none' });

    // Assess
    const { queries, stack } = synthesized;
    expect(queries.ofType('AWS::ApiGatewayV2::Authorizer')).toEqual([]);
    expect(queries.projectFunctions().has('media-authorizer')).toBe(false);
    for (const route of routes(synthesized)) {
      expect(route.AuthorizerId, String(route.RouteKey)).toBeUndefined();
      expect(route.AuthorizationType ?? 'NONE', String(route.RouteKey)).toBe('NONE');
    }
    Annotations.fromStack(stack).hasWarning('*', Match.stringLikeRegexp('auth is none'));
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/^WARNING: auth is none/);
    expect(new AwsSolutionsChecks().validateScope(stack).violations).toEqual([]);
    expect(environmentOf(queries.projectFunction('media-api').properties).AUTH_MODE).toBe('none');
  });
});

describe('target localstack (a function URL, no API Gateway in front)', () => {
  it('has the API function check keys itself: AUTH_IN_FUNCTION, the tenants table and a read of it', () => {
    // Prepare
    const { stack, queries } = synthesize({ target: 'localstack' });
    const tenantsTableId = logicalIdOf(stack, stack.apiAuth.tenantsTable);

    // Assess
    expect(environmentOf(queries.projectFunction('media-api').properties)).toMatchObject({
      AUTH_MODE: 'api-key',
      AUTH_IN_FUNCTION: 'true',
      TENANTS_TABLE: { Ref: tenantsTableId },
    });
    const grants = queries.grants('media-api', 'dynamodb:GetItem', tenantsTableId);
    expect(grants.map(actionsOf)).toEqual([['dynamodb:GetItem']]);
  });

  it('with auth none, checks nothing in the function', () => {
    // Prepare
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const { queries } = synthesize({ target: 'localstack', auth: 'none' });

    // Assess
    const environment = environmentOf(queries.projectFunction('media-api').properties);
    expect(environment.AUTH_MODE).toBe('none');
    expect(environment.AUTH_IN_FUNCTION).toBeUndefined();
  });
});
