import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';

/**
 * A small OpenID Connect issuer on loopback, for the JWT authorizer's tests: its discovery document
 * (`/.well-known/openid-configuration`) names its JWKS (`/jwks.json`), which publishes an RS256 public
 * key and an ES256 one (API Gateway takes RSA-signed tokens only). `sign` makes tokens with the RSA key,
 * or with another key under the same key id (a bad signature), or with the EC key.
 * It counts the requests for each document, so that a test can see what the gateway fetched.
 */
export interface JwtIssuer {
  /** The issuer URL (`iss`), without a trailing slash. */
  url: string;
  /** Requests served, by path. */
  requests: Map<string, number>;
  /**
   * A signed token: `claims` over `iss` = this issuer, `iat` = now and `exp` = now + 1 hour (every one
   * of which `claims` may replace or drop with `undefined`). `wrongKey` signs with a key the JWKS does
   * not hold, under the published key id.
   */
  sign(
    claims?: JWTPayload,
    options?: {
      wrongKey?: boolean;
      now?: Date;
      /** ES256 signs with the published EC key. @default 'RS256' */
      algorithm?: 'RS256' | 'ES256';
      /** Leave the key id out of the header. */
      withoutKeyId?: boolean;
    },
  ): Promise<string>;
  close(): Promise<void>;
}

const KEY_ID = 'local-test-key';
const EC_KEY_ID = 'local-test-ec-key';

export const startJwtIssuer = async (): Promise<JwtIssuer> => {
  const [published, impostor, elliptic] = await Promise.all([
    generateKeyPair('RS256', { extractable: true }),
    generateKeyPair('RS256'),
    generateKeyPair('ES256', { extractable: true }),
  ]);
  const jwk = { ...(await exportJWK(published.publicKey)), kid: KEY_ID, alg: 'RS256', use: 'sig' };
  const ecJwk = { ...(await exportJWK(elliptic.publicKey)), kid: EC_KEY_ID, alg: 'ES256', use: 'sig' };
  const requests = new Map<string, number>();
  let url = '';
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    requests.set(path, (requests.get(path) ?? 0) + 1);
    const document =
      path === '/.well-known/openid-configuration'
        ? { issuer: url, jwks_uri: `${url}/jwks.json`, id_token_signing_alg_values_supported: ['RS256'] }
        : path === '/jwks.json'
          ? { keys: [jwk, ecJwk] }
          : undefined;
    if (!document) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(document));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    requests,
    sign: async (claims = {}, options = {}) => {
      const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
      const payload = Object.fromEntries(
        Object.entries({ iss: url, iat: now, exp: now + 3600, ...claims }).filter(
          ([, value]) => value !== undefined,
        ),
      );
      const alg = options.algorithm ?? 'RS256';
      const kid = alg === 'ES256' ? EC_KEY_ID : KEY_ID;
      const key =
        alg === 'ES256' ? elliptic.privateKey : options.wrongKey ? impostor.privateKey : published.privateKey;
      return new SignJWT(payload)
        .setProtectedHeader({ alg, ...(options.withoutKeyId ? {} : { kid }), typ: 'JWT' })
        .sign(key);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};
