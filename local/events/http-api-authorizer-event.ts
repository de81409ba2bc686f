/**
 * The event an HTTP API hands a Lambda REQUEST authorizer with payload format 2.0, built from the
 * request's payload 2.0 event as API Gateway builds it: the same headers, cookies, query string, path
 * parameters and request context, no body, plus `type`, `routeArn` and the identity source values in
 * the authorizer's order. The gateway's authorizers (local/http-api-authorizers.ts) decide when to send it.
 */
import type { APIGatewayProxyEventV2, APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../types.ts';

/**
 * `arn:aws:execute-api:<region>:<account>:<api id>/<stage>/<method><path>`, the route the request
 * matched (`$default` for the default route), as API Gateway names it for authorizers.
 */
export const routeArnOf = (event: APIGatewayProxyEventV2): string => {
  const { apiId, stage, http } = event.requestContext;
  const resource = event.routeKey === '$default' ? '$default' : `${http.method}${event.rawPath}`;
  return `arn:aws:execute-api:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${apiId}/${stage}/${resource}`;
};

export const requestAuthorizerEvent = (
  event: APIGatewayProxyEventV2,
  identitySource: string[],
): APIGatewayRequestAuthorizerEventV2 => ({
  version: '2.0',
  type: 'REQUEST',
  routeArn: routeArnOf(event),
  identitySource,
  routeKey: event.routeKey,
  rawPath: event.rawPath,
  rawQueryString: event.rawQueryString,
  cookies: event.cookies ?? [],
  headers: event.headers,
  ...(event.queryStringParameters ? { queryStringParameters: event.queryStringParameters } : {}),
  requestContext: event.requestContext,
  ...(event.pathParameters ? { pathParameters: event.pathParameters } : {}),
  ...(event.stageVariables ? { stageVariables: event.stageVariables } : {}),
});
