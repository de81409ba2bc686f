import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_BASE_URL,
  getAtt,
  nodeFunction,
  type ProvisioningHarness,
  ref,
  startProvisioning,
} from '#test/provisioning';
import { ProvisionError } from '../../../local/provision.ts';
import { UnsupportedTemplateError } from '../../../local/support.ts';
import type { CfnResource } from '../../../local/types.ts';

let harness: ProvisioningHarness;

beforeAll(async () => {
  harness = await startProvisioning();
});

afterAll(async () => {
  await harness?.close();
});

const integration = (properties: Record<string, unknown> = {}): CfnResource => ({
  Type: 'AWS::ApiGatewayV2::Integration',
  Properties: {
    ApiId: ref('Api'),
    IntegrationType: 'AWS_PROXY',
    IntegrationUri: getAtt('Handler', 'Arn'),
    PayloadFormatVersion: '2.0',
    ...properties,
  },
});

const route = (routeKey: string, properties: Record<string, unknown> = {}): CfnResource => ({
  Type: 'AWS::ApiGatewayV2::Route',
  Properties: {
    ApiId: ref('Api'),
    RouteKey: routeKey,
    Target: { 'Fn::Join': ['', ['integrations/', ref('Proxy')]] },
    AuthorizationType: 'NONE',
    ...properties,
  },
});

/** An HTTP API with CORS, a $default stage and three routes to one function. */
const api = (): Record<string, CfnResource> => ({
  Handler: nodeFunction(),
  Api: {
    Type: 'AWS::ApiGatewayV2::Api',
    Properties: {
      Name: 'items',
      ProtocolType: 'HTTP',
      CorsConfiguration: { AllowOrigins: ['*'], AllowMethods: ['GET', 'POST'], MaxAge: 600 },
    },
  },
  Stage: {
    Type: 'AWS::ApiGatewayV2::Stage',
    Properties: { ApiId: ref('Api'), StageName: '$default', AutoDeploy: true },
  },
  Proxy: integration({ TimeoutInMillis: 10_000 }),
  ListItems: route('GET /items'),
  ListItemsSlashed: route('GET /items/'),
  GetItem: route('GET /items/{id}'),
  Fallback: route('$default'),
});

describe('AWS::ApiGatewayV2 (HTTP API)', () => {
  it('assembles the API, its stage, routes and integration into one HttpApiSpec', async () => {
    const provisioned = await harness.provision({ Resources: api() });
    const target = { functionLogicalId: 'Handler', payloadFormatVersion: '2.0', timeoutMs: 10_000 };

    expect(provisioned.httpApi).toEqual({
      logicalId: 'Api',
      name: 'items',
      baseUrl: API_BASE_URL,
      stageName: '$default',
      cors: {
        allowOrigins: ['*'],
        allowMethods: ['GET', 'POST'],
        allowHeaders: [],
        exposeHeaders: [],
        maxAgeSeconds: 600,
        allowCredentials: false,
      },
      routes: [
        // A route declared with its trailing slash keeps that spelling to itself.
        { routeKey: 'GET /items', method: 'GET', path: '/items', paths: ['/items'], ...target },
        { routeKey: 'GET /items/', method: 'GET', path: '/items/', paths: ['/items/'], ...target },
        {
          routeKey: 'GET /items/{id}',
          method: 'GET',
          path: '/items/{id}',
          paths: ['/items/{id}', '/items/{id}/'],
          ...target,
        },
        { routeKey: '$default', method: 'ANY', paths: [], ...target },
      ],
    });
    expect(provisioned.resources.Api?.ref).toMatch(/^[0-9a-z]{10}$/);
  });

  it("replaces the API's AWS URL with the local one in outputs and environments", async () => {
    const awsUrl = {
      'Fn::Join': [
        '',
        ['https://', ref('Api'), '.execute-api.', ref('AWS::Region'), '.', ref('AWS::URLSuffix'), '/'],
      ],
    };
    const resources = api();
    const handler = resources.Handler as CfnResource;
    handler.Properties = { ...handler.Properties, Environment: { Variables: { PUBLIC_URL: awsUrl } } };

    const provisioned = await harness.provision({
      Resources: resources,
      Outputs: { ApiUrl: { Value: awsUrl }, Endpoint: { Value: getAtt('Api', 'ApiEndpoint') } },
    });

    expect(provisioned.outputs).toEqual({ ApiUrl: `${API_BASE_URL}/`, Endpoint: API_BASE_URL });
    expect(provisioned.functions[0]?.environment.PUBLIC_URL).toBe(`${API_BASE_URL}/`);
  });

  it('refuses non-proxy integrations and IAM authorization', async () => {
    const resources = {
      ...api(),
      Proxy: integration({ IntegrationType: 'HTTP_PROXY' }),
      GetItem: route('GET /items/{id}', { AuthorizationType: 'AWS_IAM' }),
    };

    await expect(harness.provision({ Resources: resources })).rejects.toMatchObject({
      constructor: UnsupportedTemplateError,
      problems: [
        {
          path: 'Resources.Proxy.Properties.IntegrationType',
          reason: 'integration type HTTP_PROXY is not supported locally (only AWS_PROXY)',
        },
        {
          path: 'Resources.GetItem.Properties.AuthorizationType',
          reason: 'authorization type AWS_IAM is not supported locally (only NONE, CUSTOM, JWT)',
        },
      ],
    });
  });

  it('names an integration with a payload format API Gateway does not have', async () => {
    await expect(
      harness.provision({ Resources: { ...api(), Proxy: integration({ PayloadFormatVersion: '3.0' }) } }),
    ).rejects.toThrow(
      new ProvisionError('Resources.Proxy.Properties.PayloadFormatVersion: expected 1.0 or 2.0, got "3.0"'),
    );
  });
});

/** A Lambda REQUEST authorizer as CDK's HttpLambdaAuthorizer with simple responses synthesizes it. */
const requestAuthorizer = (properties: Record<string, unknown> = {}): CfnResource => ({
  Type: 'AWS::ApiGatewayV2::Authorizer',
  Properties: {
    ApiId: ref('Api'),
    AuthorizerType: 'REQUEST',
    Name: 'ApiKeys',
    AuthorizerUri: {
      'Fn::Join': [
        '',
        [
          'arn:',
          ref('AWS::Partition'),
          ':apigateway:',
          ref('AWS::Region'),
          ':lambda:path/2015-03-31/functions/',
          getAtt('Gatekeeper', 'Arn'),
          '/invocations',
        ],
      ],
    },
    AuthorizerPayloadFormatVersion: '2.0',
    EnableSimpleResponses: true,
    IdentitySource: ['$request.header.Authorization'],
    AuthorizerResultTtlInSeconds: 300,
    ...properties,
  },
});

/** A JWT authorizer as CDK's HttpJwtAuthorizer synthesizes it. */
const jwtAuthorizer = (properties: Record<string, unknown> = {}): CfnResource => ({
  Type: 'AWS::ApiGatewayV2::Authorizer',
  Properties: {
    ApiId: ref('Api'),
    AuthorizerType: 'JWT',
    Name: 'Tokens',
    IdentitySource: ['$request.header.Authorization'],
    JwtConfiguration: { Issuer: 'https://issuer.example', Audience: ['media', 'other'] },
    ...properties,
  },
});

describe('AWS::ApiGatewayV2::Authorizer', () => {
  const protectedApi = (): Record<string, CfnResource> => ({
    ...api(),
    Gatekeeper: nodeFunction(),
    Keys: requestAuthorizer(),
    Tokens: jwtAuthorizer(),
    ListItems: route('GET /items', { AuthorizationType: 'CUSTOM', AuthorizerId: ref('Keys') }),
    GetItem: route('GET /items/{id}', { AuthorizationType: 'JWT', AuthorizerId: ref('Tokens') }),
  });

  it("puts each protected route's authorizer in its route spec, and none on the others", async () => {
    const provisioned = await harness.provision({ Resources: protectedApi() });
    const routes = Object.fromEntries(
      (provisioned.httpApi?.routes ?? []).map((spec) => [spec.routeKey, spec.authorizer]),
    );
    const header = { expression: '$request.header.Authorization', from: 'header', name: 'authorization' };

    expect(routes).toEqual({
      'GET /items': {
        kind: 'request',
        logicalId: 'Keys',
        name: 'ApiKeys',
        functionLogicalId: 'Gatekeeper',
        identitySources: [header],
        resultTtlSeconds: 300,
      },
      'GET /items/': undefined,
      'GET /items/{id}': {
        kind: 'jwt',
        logicalId: 'Tokens',
        name: 'Tokens',
        identitySources: [header],
        issuer: 'https://issuer.example',
        audience: ['media', 'other'],
      },
      $default: undefined,
    });
  });

  it('refuses what it does not emulate: payload 1.0, policy responses, other identity sources, JWT extras', async () => {
    const resources = {
      ...protectedApi(),
      Keys: requestAuthorizer({
        AuthorizerPayloadFormatVersion: '1.0',
        EnableSimpleResponses: false,
        IdentitySource: ['$context.identity.sourceIp'],
      }),
      Tokens: jwtAuthorizer({
        JwtConfiguration: { Issuer: 'https://issuer.example', Audience: ['media'], JwksUri: 'x' },
        IdentityValidationExpression: '.*',
      }),
    };

    await expect(harness.provision({ Resources: resources })).rejects.toMatchObject({
      constructor: UnsupportedTemplateError,
      problems: [
        {
          path: 'Resources.Keys.Properties.IdentitySource.0',
          reason:
            'identity source $context.identity.sourceIp is not emulated (only $request.header.<name> and $request.querystring.<name>)',
        },
        {
          path: 'Resources.Keys.Properties.AuthorizerPayloadFormatVersion',
          reason: 'a Lambda authorizer with payload format 1.0 is not emulated (only 2.0)',
        },
        {
          path: 'Resources.Keys.Properties.EnableSimpleResponses',
          reason:
            'IAM policy responses are not emulated: only simple responses ({isAuthorized, context}; HttpLambdaResponseType.SIMPLE)',
        },
        {
          path: 'Resources.Tokens.Properties.IdentityValidationExpression',
          reason:
            'property IdentityValidationExpression of AWS::ApiGatewayV2::Authorizer is not supported locally',
        },
        {
          path: 'Resources.Tokens.Properties.JwtConfiguration.JwksUri',
          reason: 'not emulated (only Issuer and Audience)',
        },
      ],
    });
  });

  it('names a route whose authorizer is not of its authorization type', async () => {
    const resources = {
      ...protectedApi(),
      ListItems: route('GET /items', { AuthorizationType: 'CUSTOM', AuthorizerId: ref('Tokens') }),
    };

    await expect(harness.provision({ Resources: resources })).rejects.toThrow(
      /Resources\.ListItems\.Properties\.AuthorizerId: authorization type CUSTOM needs a REQUEST authorizer, and Tokens is not one/,
    );
  });
});
