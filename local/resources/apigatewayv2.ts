/**
 * API Gateway v2 HTTP APIs: the Api, its stages, routes, authorizers and Lambda proxy integrations are
 * collected as they are provisioned and assembled at the end into the one HttpApiSpec the runtime's
 * HTTP API emulation serves (local/http-api.ts, local/http-api-authorizers.ts). The Api's AWS URL is
 * replaced by the local base URL wherever the template's values carry it.
 */
import type {
  HttpApiCorsSpec,
  HttpApiSpec,
  HttpAuthorizerSpec,
  HttpRouteSpec,
  IdentitySourceSpec,
  ResolvedResource,
} from '../types.ts';
import { LOCAL_REGION } from '../types.ts';
import { type ProvisionContext, ProvisionError, type Provisioner } from './context.ts';
import { hashOf } from './names.ts';
import {
  accepted,
  allChecks,
  DESCRIPTION,
  emulated,
  knownKeysCheck,
  literalCheck,
  NO_IAM,
  type ResourceSupport,
  type SupportCheck,
  TAGS,
} from './support-entry.ts';

/**
 * An identity source as the gateway reads it, or undefined for one it does not emulate. Header names
 * are case-insensitive (the event carries them lower-cased); query string names are not.
 */
export const parseIdentitySource = (expression: string): IdentitySourceSpec | undefined => {
  const match = /^\$request\.(header|querystring)\.([^.\s]+)$/.exec(expression);
  if (!match) return undefined;
  const [, from, name = ''] = match;
  return from === 'header'
    ? { expression, from: 'header', name: name.toLowerCase() }
    : { expression, from: 'querystring', name };
};

const identitySourcesOf = (resource: { Properties?: Record<string, unknown> }): unknown[] => {
  const value = resource.Properties?.IdentitySource;
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
};

/** What an Authorizer's emulation depends on, checked before anything is provisioned. */
const authorizerProblems: SupportCheck = (resource, path) => {
  const properties = resource.Properties ?? {};
  const at = `${path}.Properties`;
  const problems: string[] = [];
  for (const [index, source] of identitySourcesOf(resource).entries()) {
    if (typeof source === 'string' && !parseIdentitySource(source)) {
      problems.push(
        `${at}.IdentitySource.${index}: identity source ${source} is not emulated (only $request.header.<name> and $request.querystring.<name>)`,
      );
    }
  }
  if (properties.AuthorizerType === 'REQUEST') {
    if (properties.AuthorizerPayloadFormatVersion !== '2.0') {
      problems.push(
        `${at}.AuthorizerPayloadFormatVersion: a Lambda authorizer with payload format ${String(properties.AuthorizerPayloadFormatVersion ?? '1.0 (the default)')} is not emulated (only 2.0)`,
      );
    }
    if (properties.EnableSimpleResponses !== true && properties.EnableSimpleResponses !== 'true') {
      problems.push(
        `${at}.EnableSimpleResponses: IAM policy responses are not emulated: only simple responses ` +
          '({isAuthorized, context}; HttpLambdaResponseType.SIMPLE)',
      );
    }
    if (properties.AuthorizerUri === undefined) {
      problems.push(`${at}.AuthorizerUri: a REQUEST authorizer needs the function it invokes`);
    }
  }
  if (properties.AuthorizerType === 'JWT') {
    const sources = identitySourcesOf(resource);
    if (
      sources.length !== 1 ||
      typeof sources[0] !== 'string' ||
      !sources[0].startsWith('$request.header.')
    ) {
      problems.push(`${at}.IdentitySource: a JWT authorizer reads its token from exactly one header`);
    }
    const jwt = properties.JwtConfiguration as Record<string, unknown> | undefined;
    if (jwt?.Issuer === undefined || jwt.Audience === undefined) {
      problems.push(`${at}.JwtConfiguration: a JWT authorizer needs an Issuer and an Audience`);
    }
  }
  return problems;
};

/** A route with an authorizer names it. */
const routeProblems: SupportCheck = (resource, path) => {
  const type = resource.Properties?.AuthorizationType;
  return (type === 'CUSTOM' || type === 'JWT') && resource.Properties?.AuthorizerId === undefined
    ? [`${path}.Properties.AuthorizerId: authorization type ${type} needs an AuthorizerId`]
    : [];
};

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
      AuthorizationType: emulated('NONE, CUSTOM (a Lambda REQUEST authorizer) or JWT; not AWS_IAM'),
      AuthorizerId: emulated('the Authorizer of this template the gateway asks first'),
      OperationName: accepted('informational'),
    },
    check: allChecks(
      literalCheck('AuthorizationType', ['NONE', 'CUSTOM', 'JWT'], 'authorization type'),
      routeProblems,
    ),
  },
  'AWS::ApiGatewayV2::Authorizer': {
    kind: 'emulated',
    emulation:
      'an HttpAuthorizerSpec the gateway asks before a protected route runs (local/http-api-authorizers.ts)',
    properties: {
      ApiId: emulated(),
      AuthorizerType: emulated('REQUEST (a Lambda function) or JWT'),
      Name: emulated('shown in the invocation log'),
      IdentitySource: emulated(
        '$request.header.<name> or $request.querystring.<name>; a missing or empty one answers 401',
      ),
      AuthorizerUri: emulated('the function a REQUEST authorizer invokes'),
      AuthorizerPayloadFormatVersion: emulated('2.0 only'),
      EnableSimpleResponses: emulated('true only: {isAuthorized, context}'),
      AuthorizerResultTtlInSeconds: emulated('answers cached by the identity values; 0 = not cached'),
      JwtConfiguration: emulated(
        "Issuer and Audience: the token is verified with the keys the issuer's discovery document names",
      ),
      AuthorizerCredentialsArn: accepted(NO_IAM),
    },
    check: allChecks(
      literalCheck('AuthorizerType', ['REQUEST', 'JWT'], 'authorizer type'),
      knownKeysCheck('JwtConfiguration', ['Issuer', 'Audience'], 'not emulated (only Issuer and Audience)'),
      authorizerProblems,
    ),
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
  routes: {
    logicalId: string;
    apiLogicalId: string;
    routeKey: string;
    integrationRef: string;
    /** CUSTOM or JWT with the Authorizer's id; undefined for NONE. */
    authorization?: { type: 'CUSTOM' | 'JWT'; authorizerRef: string };
  }[];
  /** By the id an Authorizer's Ref resolves to. */
  authorizers: Map<string, { apiLogicalId: string; spec: HttpAuthorizerSpec }>;
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

/** An Authorizer's resolved properties as the gateway's spec (its checks passed before provisioning). */
const authorizerSpecOf = (
  context: ProvisionContext,
  logicalId: string,
  properties: Record<string, unknown>,
): HttpAuthorizerSpec => {
  const path = `Resources.${logicalId}.Properties`;
  const name = (properties.Name as string | undefined) ?? logicalId;
  const sourcesValue = properties.IdentitySource;
  const sources = sourcesValue === undefined ? [] : [sourcesValue].flat();
  const identitySources = sources.map((source, index) => {
    const parsed = typeof source === 'string' ? parseIdentitySource(source) : undefined;
    if (!parsed) {
      throw new ProvisionError(
        `${path}.IdentitySource.${index}: identity source ${JSON.stringify(source)} is not emulated`,
      );
    }
    return parsed;
  });
  if (properties.AuthorizerType === 'JWT') {
    const jwt = (properties.JwtConfiguration ?? {}) as { Issuer?: unknown; Audience?: unknown };
    const audience = [jwt.Audience ?? []].flat().map(String);
    if (typeof jwt.Issuer !== 'string' || audience.length === 0) {
      throw new ProvisionError(`${path}.JwtConfiguration: expected an Issuer and at least one Audience`);
    }
    return { kind: 'jwt', logicalId, name, identitySources, issuer: jwt.Issuer, audience };
  }
  const ttl = Number(properties.AuthorizerResultTtlInSeconds ?? 0);
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > 3600) {
    throw new ProvisionError(
      `${path}.AuthorizerResultTtlInSeconds: expected 0 to 3600 seconds, got ${JSON.stringify(properties.AuthorizerResultTtlInSeconds)}`,
    );
  }
  if (ttl > 0 && identitySources.length === 0) {
    throw new ProvisionError(
      `${path}.IdentitySource: a cached authorizer (AuthorizerResultTtlInSeconds ${ttl}) needs an identity source to cache by`,
    );
  }
  return {
    kind: 'request',
    logicalId,
    name,
    functionLogicalId: context.functionOf(properties.AuthorizerUri, `${path}.AuthorizerUri`),
    identitySources,
    resultTtlSeconds: ttl,
  };
};

export const provisioners: Readonly<Record<string, Provisioner>> = {
  'AWS::ApiGatewayV2::Authorizer': async (context, logicalId, resource) => {
    const properties = context.propertiesOf(logicalId, resource);
    const id = hashOf(`${context.stackName}/${logicalId}`, 6);
    context.api.authorizers.set(id, {
      apiLogicalId: apiLogicalIdOf(context, properties.ApiId, logicalId),
      spec: authorizerSpecOf(context, logicalId, properties),
    });
    return { type: resource.Type, ref: id, attributes: { AuthorizerId: id } };
  },

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
    const type = properties.AuthorizationType ?? 'NONE';
    if (type !== 'NONE' && type !== 'CUSTOM' && type !== 'JWT') {
      throw new ProvisionError(
        `Resources.${logicalId}.Properties.AuthorizationType: authorization type ${String(type)} is not supported locally (only NONE, CUSTOM, JWT)`,
      );
    }
    context.api.routes.push({
      logicalId,
      apiLogicalId: apiLogicalIdOf(context, properties.ApiId, logicalId),
      routeKey: properties.RouteKey as string,
      integrationRef,
      ...(type === 'NONE' ? {} : { authorization: { type, authorizerRef: String(properties.AuthorizerId) } }),
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

/** The authorizer a protected route names, which must be its API's and of its authorization type. */
const authorizerOf = (
  parts: ApiParts,
  route: ApiParts['routes'][number],
  apiLogicalId: string,
): HttpAuthorizerSpec => {
  const { type, authorizerRef } = route.authorization as NonNullable<typeof route.authorization>;
  const path = `Resources.${route.logicalId}.Properties.AuthorizerId`;
  const found = parts.authorizers.get(authorizerRef);
  if (!found || found.apiLogicalId !== apiLogicalId) {
    throw new ProvisionError(`${path}: ${authorizerRef} is not an authorizer of this route's API`);
  }
  const expected = type === 'JWT' ? 'jwt' : 'request';
  if (found.spec.kind !== expected) {
    throw new ProvisionError(
      `${path}: authorization type ${type} needs a ${type === 'JWT' ? 'JWT' : 'REQUEST'} authorizer, and ${found.spec.logicalId} is not one`,
    );
  }
  return found.spec;
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
    const authorizer = route.authorization && authorizerOf(parts, route, declared.logicalId);
    const protection = authorizer ? { authorizer } : {};
    if (route.routeKey === '$default') {
      return { routeKey: route.routeKey, method: 'ANY', paths: [], ...integration, ...protection };
    }
    const [method = 'ANY', path = '/'] = route.routeKey.split(/\s+/, 2);
    const slashed = `${path}/`;
    const paths =
      path === '/' || path.endsWith('/') || keys.has(`${method} ${slashed}`) ? [path] : [path, slashed];
    return { routeKey: route.routeKey, method, path, paths, ...integration, ...protection };
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
