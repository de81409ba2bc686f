import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { z } from 'zod';
import { ForbiddenError, UnauthorizedError } from '#shared/errors';
import {
  type AuthMode,
  bearerCredential,
  DEFAULT_TENANT,
  isTenantName,
  type TenantStore,
} from '#shared/tenants';
import { headerValue } from './request-body.ts';

/** Who is calling: every job the request creates or sees belongs to this tenant. */
export interface Caller {
  tenant: string;
}

export interface CallerOptions {
  mode: AuthMode;
  /** jwt: the claim that names the tenant. */
  tenantClaim: string;
  /**
   * api-key without a gateway authorizer in front (LocalStack's function URL): the function checks the
   * Authorization header itself against the tenants table.
   */
  tenants?: TenantStore;
}

/** What API Gateway puts in the request context: a Lambda authorizer's context, or the JWT's claims. */
const authorizerSchema = z
  .object({
    lambda: z.object({ tenant: z.unknown().optional() }).partial().nullish(),
    jwt: z
      .object({ claims: z.record(z.string(), z.unknown()).nullish() })
      .partial()
      .nullish(),
  })
  .partial()
  .nullish();

const authorizerOf = (event: APIGatewayProxyEventV2) => {
  const parsed = authorizerSchema.safeParse(
    (event.requestContext as { authorizer?: unknown } | undefined)?.authorizer,
  );
  return parsed.success ? parsed.data : undefined;
};

const noTenant = (detail: string) =>
  new ForbiddenError(
    'Auth::NoTenant',
    `${detail}; the request cannot be attributed to a tenant (1 to 128 letters, digits or . _ @ | : + = -)`,
  );

const tenantFrom = (value: unknown, what: string): Caller => {
  if (typeof value !== 'string' || value === '') throw noTenant(`${what} names no tenant`);
  if (!isTenantName(value)) throw noTenant(`${what} names a tenant that is not a valid name`);
  return { tenant: value };
};

const KEY_HINT =
  'create one with `npx media-pipeline keys create --tenant NAME` (the local runtime prints its dev key at start)';

/** The key check API Gateway's authorizer does, done here when there is no gateway in front. */
const authenticateInFunction = async (
  tenants: TenantStore,
  event: APIGatewayProxyEventV2,
): Promise<Caller> => {
  const authorization = headerValue(event, 'authorization');
  if (!authorization) {
    throw new UnauthorizedError(
      'Auth::MissingKey',
      `the request has no API key; send it as the header Authorization: Bearer <key> (${KEY_HINT})`,
    );
  }
  if (!bearerCredential(authorization)) {
    throw new UnauthorizedError(
      'Auth::InvalidKey',
      'the Authorization header is not of the form Bearer <key>; send Authorization: Bearer <key>',
    );
  }
  const caller = await tenants.authenticate(authorization);
  if (!caller) {
    throw new UnauthorizedError(
      'Auth::InvalidKey',
      `the API key is not valid (unknown, malformed or revoked); send a live key as Authorization: Bearer <key> (${KEY_HINT})`,
    );
  }
  return tenantFrom(caller.tenant, 'the API key');
};

/**
 * Reads the caller once, at the edge, the way the stack's auth mode says: the tenant the api-key
 * authorizer passed on, the configured claim of the JWT API Gateway verified, or `default` without
 * authentication. Gateway refusals (no key, bad token) never reach here; what does and names no valid
 * tenant is refused with 403 `Auth::NoTenant`.
 */
export const createCallerOf =
  (options: CallerOptions) =>
  async (event: APIGatewayProxyEventV2): Promise<Caller> => {
    switch (options.mode) {
      case 'none':
        return { tenant: DEFAULT_TENANT };
      case 'jwt':
        return tenantFrom(
          authorizerOf(event)?.jwt?.claims?.[options.tenantClaim],
          `the token's claim ${options.tenantClaim}`,
        );
      case 'api-key':
        if (options.tenants) return authenticateInFunction(options.tenants, event);
        return tenantFrom(authorizerOf(event)?.lambda?.tenant, "the authorizer's context");
    }
  };
