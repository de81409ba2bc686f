/**
 * The HTTP API's authorizers, as API Gateway runs them before a protected route's integration
 * (local/http-api.ts asks here first). Each answers with what the integration's event gets in
 * `requestContext.authorizer`, or with the response API Gateway gives itself. HTTP APIs cannot reshape
 * those responses, so neither can this:
 *
 * - an identity source missing or empty → 401 `{"message":"Unauthorized"}`, without calling anything;
 * - REQUEST (a Lambda function, payload 2.0, simple responses): invoked through the runtime's invoker
 *   (so it shows in the invocation log) with the authorizer event (local/events/http-api-authorizer-event.ts);
 *   its answer is cached by the identity values for AuthorizerResultTtlInSeconds (0: never), denials
 *   too. `isAuthorized: false` → 403 `{"message":"Forbidden"}`; a failed invocation or an answer that
 *   is not `{isAuthorized: boolean, context?: object}` → 500 `{"message":"Internal Server Error"}`;
 *   allowed → `{ lambda: context }`.
 * - JWT: the token of the identity header (a `Bearer ` prefix stripped), verified with the keys the
 *   issuer publishes: `<issuer>/.well-known/openid-configuration`, then its `jwks_uri` (both fetched
 *   once and kept, the keys refetched when a token names an unknown one, as `jose`'s remote key set
 *   does). As API Gateway documents it, which is stricter than a JWT library's defaults: a `kid`
 *   header, an RSA signature (RS256/384/512), `iss` the issuer, `aud` one of the audience (`client_id`
 *   only when there is no `aud`), `exp` present and not past, `nbf` and `iat` not future. Any failure
 *   → 401 `{"message":"Unauthorized"}` with
 *   `www-authenticate: Bearer scope="" error="invalid_token" error_description="<why>"`; valid →
 *   `{ jwt: { claims, scopes } }` with every claim a string, as API Gateway passes them.
 *
 * Not emulated: authorizers of payload format 1.0, IAM policy responses, route authorization scopes
 * (refused at the template check), the authorizer's own 10-second limit (the function's timeout applies).
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  type JWTPayload,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import { requestAuthorizerEvent } from './events/http-api-authorizer-event.ts';
import type {
  FunctionInvoker,
  HttpAuthorizerSpec,
  HttpJwtAuthorizerSpec,
  HttpRequestAuthorizerSpec,
  IdentitySourceSpec,
} from './types.ts';

/** What the gateway answers itself instead of running the route. */
export interface GatewayRefusal {
  statusCode: 401 | 403 | 500;
  message: 'Unauthorized' | 'Forbidden' | 'Internal Server Error';
  headers: Record<string, string>;
}

export type AuthorizationOutcome =
  | { allowed: true; authorizer: Record<string, unknown> }
  | { allowed: false; refusal: GatewayRefusal };

export interface GatewayAuthorizers {
  /** Runs `authorizer` for the request whose integration event is `event`. */
  authorize(authorizer: HttpAuthorizerSpec, event: APIGatewayProxyEventV2): Promise<AuthorizationOutcome>;
}

export interface GatewayAuthorizersOptions {
  /** Where the gateway reports what a client does not see (why an authorizer failed). */
  log: (message: string) => void;
  /** The clock of the result cache and of token expiry. @default Date.now */
  now?: () => number;
}

const refuse = (
  statusCode: GatewayRefusal['statusCode'],
  headers: Record<string, string> = {},
): AuthorizationOutcome => ({
  allowed: false,
  refusal: {
    statusCode,
    message: statusCode === 401 ? 'Unauthorized' : statusCode === 403 ? 'Forbidden' : 'Internal Server Error',
    headers,
  },
});

/** The identity source values of a request, in the authorizer's order; undefined if one is missing or empty. */
const identityValues = (
  sources: readonly IdentitySourceSpec[],
  event: APIGatewayProxyEventV2,
): string[] | undefined => {
  const values: string[] = [];
  for (const source of sources) {
    const value =
      source.from === 'header'
        ? event.headers[source.name]
        : source.from === 'querystring'
          ? event.queryStringParameters?.[source.name]
          : undefined;
    if (value === undefined || value === '') return undefined;
    values.push(value);
  }
  return values;
};

interface CachedAnswer {
  expiresAt: number;
  outcome: AuthorizationOutcome;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A simple response's outcome, or undefined when the answer is not one. */
const simpleResponseOutcome = (result: unknown): AuthorizationOutcome | undefined => {
  if (!isPlainObject(result) || typeof result.isAuthorized !== 'boolean') return undefined;
  if (result.context !== undefined && result.context !== null && !isPlainObject(result.context))
    return undefined;
  if (!result.isAuthorized) return refuse(403);
  return { allowed: true, authorizer: { lambda: result.context ?? null } };
};

const bearerToken = (value: string): string => value.replace(/^Bearer\s+/i, '').trim();

/** API Gateway verifies RSA signatures only. */
const RSA_ALGORITHMS = ['RS256', 'RS384', 'RS512'] as const;

/** Whether the token's header names no key (`kid`); what is no JWT at all jwtVerify calls malformed. */
const lacksKeyId = (token: string): boolean => {
  try {
    return typeof decodeProtectedHeader(token).kid !== 'string';
  } catch {
    return false;
  }
};

/** A claim as API Gateway passes it to the integration: every value a string, arrays as `[a b]`. */
const claimValue = (value: unknown): string => {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return `[${value.map((item) => claimValue(item)).join(' ')}]`;
  if (isPlainObject(value)) return JSON.stringify(value);
  return String(value);
};

/** The token's scopes: `scope` (space-separated) or `scp` (a list); null when it has none. */
const scopesOf = (payload: JWTPayload): string[] | null => {
  const scope = payload.scope ?? payload.scp;
  const scopes =
    typeof scope === 'string'
      ? scope.split(' ').filter(Boolean)
      : Array.isArray(scope)
        ? scope.map(String)
        : [];
  return scopes.length > 0 ? scopes : null;
};

/** Why a token was refused, in the words of the `www-authenticate` header. */
class InvalidToken extends Error {}

const describeJoseError = (error: unknown): string => {
  if (error instanceof joseErrors.JWTExpired) return 'the token has expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return 'the token is not valid yet';
    if (error.claim === 'iss') return 'the token does not have a valid issuer';
    if (error.claim === 'exp') return 'the token has no expiration';
    return `the token's ${error.claim} claim is invalid`;
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'the token signature is invalid';
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'no signing key of the issuer matches the token';
  if (error instanceof joseErrors.JOSEAlgNotAllowed || error instanceof joseErrors.JOSENotSupported) {
    return 'the token signing method is not supported';
  }
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid) {
    return 'the token is malformed';
  }
  return 'the token could not be verified';
};

export const createGatewayAuthorizers = (
  invoker: FunctionInvoker,
  options: GatewayAuthorizersOptions,
): GatewayAuthorizers => {
  const now = options.now ?? Date.now;
  const cache = new Map<string, CachedAnswer>();
  /** The issuer's key set, by issuer, once its discovery document was read. */
  const keySets = new Map<string, Promise<ReturnType<typeof createRemoteJWKSet>>>();

  const askFunction = async (
    authorizer: HttpRequestAuthorizerSpec,
    event: APIGatewayProxyEventV2,
    identity: string[],
  ): Promise<AuthorizationOutcome> => {
    const cacheKey = JSON.stringify([authorizer.logicalId, identity]);
    const cached = cache.get(cacheKey);
    if (cached && cached.expiresAt > now()) return cached.outcome;
    cache.delete(cacheKey);

    const outcome = await invoker.invoke(
      authorizer.functionLogicalId,
      requestAuthorizerEvent(event, identity),
      { trigger: `authorizer ${authorizer.name} ${event.requestContext.http.method} ${event.rawPath}` },
    );
    if (!outcome.ok) {
      options.log(`authorizer ${authorizer.name} failed (${outcome.kind}): answered 500`);
      return refuse(500);
    }
    const answer = simpleResponseOutcome(outcome.result);
    if (!answer) {
      options.log(
        `authorizer ${authorizer.name} answered ${JSON.stringify(outcome.result)}, not {isAuthorized: boolean, context?: object}: answered 500`,
      );
      return refuse(500);
    }
    if (authorizer.resultTtlSeconds > 0) {
      cache.set(cacheKey, { expiresAt: now() + authorizer.resultTtlSeconds * 1000, outcome: answer });
    }
    return answer;
  };

  const keySetOf = (issuer: string): Promise<ReturnType<typeof createRemoteJWKSet>> => {
    let keySet = keySets.get(issuer);
    if (!keySet) {
      keySet = (async () => {
        const discovery = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
        const response = await fetch(discovery, { signal: AbortSignal.timeout(5_000) });
        if (!response.ok) throw new Error(`${discovery} answered ${response.status}`);
        const document = (await response.json()) as { jwks_uri?: unknown };
        if (typeof document.jwks_uri !== 'string') throw new Error(`${discovery} names no jwks_uri`);
        return createRemoteJWKSet(new URL(document.jwks_uri));
      })();
      keySets.set(issuer, keySet);
      // A failed discovery is asked again by the next request, not remembered.
      keySet.catch(() => keySets.delete(issuer));
    }
    return keySet;
  };

  const verifyJwt = async (
    authorizer: HttpJwtAuthorizerSpec,
    identity: string,
  ): Promise<AuthorizationOutcome> => {
    try {
      let keySet: ReturnType<typeof createRemoteJWKSet>;
      try {
        keySet = await keySetOf(authorizer.issuer);
      } catch (error) {
        options.log(
          `authorizer ${authorizer.name}: the issuer's keys could not be read: ${(error as Error).message}`,
        );
        throw new InvalidToken("the issuer's signing keys could not be fetched");
      }
      const token = bearerToken(identity);
      if (lacksKeyId(token)) throw new InvalidToken('the token has no kid header');
      const { payload } = await jwtVerify(token, keySet, {
        issuer: authorizer.issuer,
        algorithms: [...RSA_ALGORITHMS],
        requiredClaims: ['exp'],
        currentDate: new Date(now()),
      }).catch((error: unknown) => {
        throw new InvalidToken(describeJoseError(error));
      });
      // jose checks a future iat only with maxTokenAge, which API Gateway has no equivalent of.
      if (typeof payload.iat === 'number' && payload.iat > Math.floor(now() / 1000)) {
        throw new InvalidToken('the token is not valid yet');
      }
      // client_id stands in for aud only when the token has no aud at all.
      const audiences =
        payload.aud !== undefined
          ? [payload.aud].flat()
          : [payload.client_id].filter((id) => typeof id === 'string');
      if (!audiences.some((aud) => authorizer.audience.includes(aud as string))) {
        throw new InvalidToken('the token does not have a valid audience');
      }
      const claims = Object.fromEntries(
        Object.entries(payload).map(([name, value]) => [name, claimValue(value)]),
      );
      return { allowed: true, authorizer: { jwt: { claims, scopes: scopesOf(payload) } } };
    } catch (error) {
      if (!(error instanceof InvalidToken)) throw error;
      return refuse(401, {
        'www-authenticate': `Bearer scope="" error="invalid_token" error_description="${error.message}"`,
      });
    }
  };

  return {
    authorize: async (authorizer, event) => {
      const identity = identityValues(authorizer.identitySources, event);
      if (authorizer.kind === 'jwt') {
        if (!identity?.[0]) {
          return refuse(401, {
            'www-authenticate': `Bearer scope="" error="invalid_token" error_description="the request has no ${authorizer.identitySources[0]?.name ?? 'authorization'} header"`,
          });
        }
        return verifyJwt(authorizer, identity[0]);
      }
      if (!identity) return refuse(401);
      return askFunction(authorizer, event, identity);
    },
  };
};
