/**
 * API Gateway v2 HTTP APIs: the Api, its stages, routes and Lambda proxy integrations are collected as
 * they are provisioned and assembled at the end into the one HttpApiSpec the runtime's HTTP API
 * emulation serves (local/http-api.ts). The Api's AWS URL is replaced by the local base URL wherever the
 * template's values carry it.
 */
import type { HttpApiCorsSpec, HttpApiSpec, HttpRouteSpec, ResolvedResource } from '../types.ts';
import { LOCAL_REGION } from '../types.ts';
import { type ProvisionContext, ProvisionError, type Provisioner } from './context.ts';
import { hashOf } from './names.ts';
import {
  accepted,
  DESCRIPTION,
  emulated,
  literalCheck,
  type ResourceSupport,
  TAGS,
} from './support-entry.ts';

export const support: Readonly<Record<string, ResourceSupport>> = {
  'AWS::ApiGatewayV2::Api': {
    kind: 'emulated',
    emulation: 'the HttpApiSpec served by the HTTP API emulation',
    properties: {
      Name: emulated(),
      ProtocolType: emulated('HTTP only'),
      CorsConfiguration: emulated(),
      Description: DESCRIPTION,
      DisableExecuteApiEndpoint: accepted('the local API is always served'),
      Tags: TAGS,
    },
    check: literalCheck('ProtocolType', ['HTTP'], 'protocol'),
  },
  'AWS::ApiGatewayV2::Stage': {
    kind: 'emulated',
    emulation: "the HTTP API's stage (its name sets the base path)",
    properties: {
      ApiId: emulated(),
      StageName: emulated(),
      AutoDeploy: accepted('local routes are live at once'),
      AccessLogSettings: accepted("requests are logged to the runtime's console"),
      DefaultRouteSettings: accepted('throttling is not enforced locally'),
      Description: DESCRIPTION,
      Tags: TAGS,
    },
  },
  'AWS::ApiGatewayV2::Deployment': { kind: 'ignored', reason: 'local routes are live at once' },
  'AWS::ApiGatewayV2::Route': {
    kind: 'emulated',
    emulation: 'an HttpRouteSpec',
    properties: {
      ApiId: emulated(),
      RouteKey: emulated(),
      Target: emulated(),
      AuthorizationType: emulated('NONE only: authorizers are not emulated'),
      OperationName: accepted('informational'),
    },
    check: literalCheck('AuthorizationType', ['NONE'], 'authorization type'),
  },
  'AWS::ApiGatewayV2::Integration': {
    kind: 'emulated',
    emulation: 'the function an HttpRouteSpec invokes',
    properties: {
      ApiId: emulated(),
      IntegrationType: emulated('AWS_PROXY (Lambda) only'),
      IntegrationUri: emulated(),
      PayloadFormatVersion: emulated(),
      TimeoutInMillis: emulated(),
      IntegrationMethod: accepted('Lambda proxy integrations are always invoked'),
      ConnectionType: accepted('no VPC links locally'),
      Description: DESCRIPTION,
    },
    check: literalCheck('IntegrationType', ['AWS_PROXY'], 'integration type'),
  },
};

/** API Gateway's default (and maximum) integration timeout for HTTP APIs. */
const INTEGRATION_TIMEOUT_MS = 30_000;

/** The HTTP API's parts as provisioned, assembled by `httpApiSpec` once every part is known. */
export interface ApiParts {
  apis: { logicalId: string; name: string; cors?: HttpApiCorsSpec }[];
  stages: { apiLogicalId: string; stageName: string }[];
  integrations: Map<
    string,
    { functionLogicalId: string; payloadFormatVersion: '1.0' | '2.0'; timeoutMs: number }
  >;
  routes: { logicalId: string; apiLogicalId: string; routeKey: string; integrationRef: string }[];
}

/** CORS of an HTTP API (CorsConfiguration) or a function URL (Cors): the same fields. */
export const corsSpecOf = (cors: Record<string, unknown>): HttpApiCorsSpec => ({
  allowOrigins: (cors.AllowOrigins as string[] | undefined) ?? [],
  allowMethods: (cors.AllowMethods as string[] | undefined) ?? [],
  allowHeaders: (cors.AllowHeaders as string[] | undefined) ?? [],
  exposeHeaders: (cors.ExposeHeaders as string[] | undefined) ?? [],
  ...(cors.MaxAge !== undefined ? { maxAgeSeconds: Number(cors.MaxAge) } : {}),
  allowCredentials: String(cors.AllowCredentials) === 'true',
});

/** An API id like API Gateway's (10 lowercase alphanumerics), the same on every start. */
const apiIdOf = (stackName: string, logicalId: string): string =>
  BigInt(`0x${hashOf(`${stackName}/${logicalId}`, 16)}`)
    .toString(36)
    .padStart(10, '0')
    .slice(0, 10);

const apiLogicalIdOf = (context: ProvisionContext, apiId: unknown, logicalId: string): string => {
  const found = Object.entries(context.resources).find(
    ([, resolved]) => resolved.type === 'AWS::ApiGatewayV2::Api' && resolved.ref === apiId,
  );
  if (!found)
    throw new ProvisionError(
      `Resources.${logicalId}.Properties.ApiId: ${String(apiId)} is not an API of this template`,
    );
  return found[0];
};

export const provisioners: Readonly<Record<string, Provisioner>> = {
  'AWS::ApiGatewayV2::Api': async (context, logicalId, resource) => {
    const properties = context.propertiesOf(logicalId, resource);
    const cors = properties.CorsConfiguration as Record<string, unknown> | undefined;
    context.api.apis.push({
      logicalId,
      name: (properties.Name as string | undefined) ?? logicalId,
      ...(cors ? { cors: corsSpecOf(cors) } : {}),
    });
    const id = apiIdOf(context.stackName, logicalId);
    return {
      type: resource.Type,
      ref: id,
      attributes: { ApiId: id, ApiEndpoint: context.options.apiBaseUrl.replace(/\/$/, '') },
    };
  },

  'AWS::ApiGatewayV2::Stage': async (context, logicalId, resource) => {
    const properties = context.propertiesOf(logicalId, resource);
    const stageName = properties.StageName as string;
    context.api.stages.push({
      apiLogicalId: apiLogicalIdOf(context, properties.ApiId, logicalId),
      stageName,
    });
    return { type: resource.Type, ref: stageName, attributes: {} };
  },

  'AWS::ApiGatewayV2::Integration': async (context, logicalId, resource) => {
    const properties = context.propertiesOf(logicalId, resource);
    const path = `Resources.${logicalId}.Properties`;
    const version = properties.PayloadFormatVersion;
    if (version !== '1.0' && version !== '2.0') {
      throw new ProvisionError(
        `${path}.PayloadFormatVersion: expected 1.0 or 2.0, got ${JSON.stringify(version)}`,
      );
    }
    const id = hashOf(`${context.stackName}/${logicalId}`, 7);
    context.api.integrations.set(id, {
      functionLogicalId: context.functionOf(properties.IntegrationUri, `${path}.IntegrationUri`),
      payloadFormatVersion: version,
      timeoutMs: Number(properties.TimeoutInMillis ?? INTEGRATION_TIMEOUT_MS),
    });
    return { type: resource.Type, ref: id, attributes: { IntegrationId: id } };
  },

  'AWS::ApiGatewayV2::Route': async (context, logicalId, resource) => {
    const properties = context.propertiesOf(logicalId, resource);
    const target = properties.Target as string | undefined;
    const integrationRef = /^integrations\/(.+)$/.exec(target ?? '')?.[1];
    if (!integrationRef) {
      throw new ProvisionError(
        `Resources.${logicalId}.Properties.Target: expected integrations/<id>, got ${JSON.stringify(target)}`,
      );
    }
    context.api.routes.push({
      logicalId,
      apiLogicalId: apiLogicalIdOf(context, properties.ApiId, logicalId),
      routeKey: properties.RouteKey as string,
      integrationRef,
    });
    const id = hashOf(`${context.stackName}/${logicalId}`, 7);
    return { type: resource.Type, ref: id, attributes: { RouteId: id } };
  },
};

/**
 * Replaces the AWS URL of each HTTP API (`https://<id>.execute-api.<region>.amazonaws.com`, which is
 * what CDK's `stage.url` and `api.apiEndpoint` build) with the local base URL.
 */
export const localiseApiUrls = (resources: Record<string, ResolvedResource>, apiBaseUrl: string) => {
  const base = apiBaseUrl.replace(/\/$/, '');
  const cloudEndpoints = Object.values(resources)
    .filter((resolved) => resolved.type === 'AWS::ApiGatewayV2::Api')
    .map((resolved) => `https://${resolved.ref}.execute-api.${LOCAL_REGION}.amazonaws.com`);
  return (value: string): string =>
    cloudEndpoints.reduce((text, endpoint) => text.split(endpoint).join(base), value);
};

/** The template's one HTTP API, from its provisioned parts; undefined when it declares none. */
export const httpApiSpec = (parts: ApiParts, apiBaseUrl: string): HttpApiSpec | undefined => {
  if (parts.apis.length === 0) return undefined;
  if (parts.apis.length > 1) {
    throw new ProvisionError(
      `the template declares ${parts.apis.length} HTTP APIs (${parts.apis.map((a) => a.logicalId).join(', ')}); the local runtime serves one`,
    );
  }
  const [declared] = parts.apis as [ApiParts['apis'][number]];
  const stages = parts.stages.filter((stage) => stage.apiLogicalId === declared.logicalId);
  const stageName =
    stages.find((stage) => stage.stageName === '$default')?.stageName ?? stages[0]?.stageName ?? '$default';
  const declaredRoutes = parts.routes.filter((route) => route.apiLogicalId === declared.logicalId);
  const keys = new Set(declaredRoutes.map((route) => route.routeKey));
  const routes = declaredRoutes.map((route): HttpRouteSpec => {
    const integration = parts.integrations.get(route.integrationRef);
    if (!integration) {
      throw new ProvisionError(
        `Resources.${route.logicalId}.Properties.Target: integration ${route.integrationRef} is not in this template`,
      );
    }
    if (route.routeKey === '$default') {
      return { routeKey: route.routeKey, method: 'ANY', paths: [], ...integration };
    }
    const [method = 'ANY', path = '/'] = route.routeKey.split(/\s+/, 2);
    const slashed = `${path}/`;
    const paths =
      path === '/' || path.endsWith('/') || keys.has(`${method} ${slashed}`) ? [path] : [path, slashed];
    return { routeKey: route.routeKey, method, path, paths, ...integration };
  });
  return {
    logicalId: declared.logicalId,
    name: declared.name,
    baseUrl: apiBaseUrl.replace(/\/$/, ''),
    stageName,
    ...(declared.cors ? { cors: declared.cors } : {}),
    routes,
  };
};
