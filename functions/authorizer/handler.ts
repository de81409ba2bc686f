import type {
  APIGatewayRequestAuthorizerEventV2,
  APIGatewaySimpleAuthorizerResult,
  APIGatewaySimpleAuthorizerWithContextResult,
  Context,
} from 'aws-lambda';
import { z } from 'zod';
import { dynamodb } from '#shared/aws-clients';
import { envString, loadConfig } from '#shared/config';
import { withObservability } from '#shared/middleware';
import { logger } from '#shared/observability';
import { bearerCredential, type Caller, keyIdOf, TenantStore } from '#shared/tenants';

/**
 * The HTTP API's REQUEST authorizer (payload 2.0, simple responses): `Authorization: Bearer <key>` is
 * looked up by its SHA-256 in the tenants table, and a live key passes its tenant on to the API function
 * (`requestContext.authorizer.lambda.tenant`). API Gateway caches the answer per Authorization value for
 * the result TTL (lib/api-auth.ts), which is how long a revoked key may still pass.
 *
 * A DynamoDB failure is thrown, not answered with a refusal: API Gateway then answers 500 and caches
 * nothing, so an outage neither lets anyone in nor locks valid keys out for the TTL.
 */
const config = loadConfig(z.object({ TENANTS_TABLE: envString() }));

const tenants = new TenantStore(dynamodb, config.TENANTS_TABLE);

export type AuthorizerResult =
  | APIGatewaySimpleAuthorizerWithContextResult<Caller>
  | APIGatewaySimpleAuthorizerResult;

/** The Authorization header: lower-cased in payload 2.0; the identity source carries it too. */
const authorizationOf = (event: APIGatewayRequestAuthorizerEventV2): string | undefined =>
  event.headers?.authorization ?? event.identitySource?.[0];

export const handler = withObservability(
  async (event: APIGatewayRequestAuthorizerEventV2, _context: Context): Promise<AuthorizerResult> => {
    const authorization = authorizationOf(event);
    const caller = await tenants.authenticate(authorization);
    if (!caller) {
      // The key's id (public) at most, and only when the credential has the generated form: never the key.
      const keyId = keyIdOf(bearerCredential(authorization) ?? '');
      logger.info('request refused: not a live API key', { route_key: event.routeKey, key_id: keyId });
      return { isAuthorized: false };
    }
    logger.debug('request authorized', { tenant: caller.tenant, key_id: caller.key_id });
    return { isAuthorized: true, context: { tenant: caller.tenant, key_id: caller.key_id } };
  },
);
