import type { MediaAuth } from '../client/media-client.ts';

/**
 * The page's one credential: an API key or an OIDC token the person enters once, kept in
 * sessionStorage (this tab only, gone when it closes, never sent anywhere but the API's
 * Authorization header). Both go out as `Bearer …`; which one it is only shapes what the page says.
 */

export const CREDENTIAL_STORAGE_KEY = 'media-pipeline.credential';

/** A JWT: three base64url segments, the first a JSON header (`eyJ` is `{"`). */
const JWT = /^eyJ[\w-]*\.[\w-]+\.[\w-]*$/;

/** What the person typed, as the client's `auth`; undefined when it is empty. */
export const credentialFrom = (value: string): MediaAuth | undefined => {
  const trimmed = value.trim().replace(/^Bearer\s+/i, '');
  if (trimmed === '') return undefined;
  return JWT.test(trimmed) ? { token: trimmed } : { apiKey: trimmed };
};

/** How the page names the credential in use, without showing it: a key's public id, a token's kind. */
export const describeCredential = (auth: MediaAuth): string => {
  if ('token' in auth) return 'a token';
  const keyId = /^mpk_([0-9a-f]{12})_/.exec(auth.apiKey)?.[1];
  return keyId ? `API key ${keyId}` : `an API key ending in …${auth.apiKey.slice(-4)}`;
};

export interface CredentialStore {
  get(): MediaAuth | undefined;
  set(auth: MediaAuth): void;
  forget(): void;
}

type SessionStorageLike = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

/**
 * The credential in `storage` (sessionStorage), with a copy in memory: storage can be missing or refuse
 * (a privacy mode), and the page then still works for as long as it stays open.
 */
export const sessionCredential = (storage: SessionStorageLike | undefined): CredentialStore => {
  let current: MediaAuth | undefined;
  try {
    const stored = storage?.getItem(CREDENTIAL_STORAGE_KEY);
    current = stored ? credentialFrom(stored) : undefined;
  } catch {
    current = undefined;
  }
  return {
    get: () => current,
    set(auth) {
      current = auth;
      try {
        storage?.setItem(CREDENTIAL_STORAGE_KEY, 'token' in auth ? auth.token : auth.apiKey);
      } catch {
        // Kept in memory only.
      }
    },
    forget() {
      current = undefined;
      try {
        storage?.removeItem(CREDENTIAL_STORAGE_KEY);
      } catch {
        // Nothing stored.
      }
    },
  };
};
