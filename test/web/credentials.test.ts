import { describe, expect, it } from 'vitest';
import {
  CREDENTIAL_STORAGE_KEY,
  credentialFrom,
  describeCredential,
  sessionCredential,
} from '../../web/credentials.ts';

/** sessionStorage's behaviour, over a Map; `refuse` makes every call throw, as a locked-down browser may. */
const memoryStorage = (refuse = false) => {
  const items = new Map<string, string>();
  const guard = () => {
    if (refuse) throw new DOMException('denied', 'SecurityError');
  };
  return {
    items,
    getItem(key: string) {
      guard();
      return items.get(key) ?? null;
    },
    setItem(key: string, value: string) {
      guard();
      items.set(key, value);
    },
    removeItem(key: string) {
      guard();
      items.delete(key);
    },
  };
};

const KEY = `mpk_0123456789ab_${'A'.repeat(43)}`;
const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhY21lIn0.c2lnbmF0dXJl';

describe('the page’s credential', () => {
  it('tells a token from an API key, and ignores blanks and a pasted "Bearer "', () => {
    expect(credentialFrom(`  ${KEY} `)).toEqual({ apiKey: KEY });
    expect(credentialFrom(`Bearer ${JWT}`)).toEqual({ token: JWT });
    expect(credentialFrom('   ')).toBeUndefined();
  });

  it('names a key by its public id, never by its secret', () => {
    expect(describeCredential({ apiKey: KEY })).toBe('API key 0123456789ab');
    expect(describeCredential({ apiKey: 'my-own-local-dev-key' })).toBe('an API key ending in …-key');
    expect(describeCredential({ token: JWT })).toBe('a token');
  });

  it('keeps it in session storage across a reload, until it is forgotten', () => {
    // Prepare
    const storage = memoryStorage();
    const first = sessionCredential(storage);

    // Act
    first.set({ apiKey: KEY });
    const afterReload = sessionCredential(storage);

    // Assess
    expect(storage.items.get(CREDENTIAL_STORAGE_KEY)).toBe(KEY);
    expect(afterReload.get()).toEqual({ apiKey: KEY });
    afterReload.forget();
    expect(storage.items.size).toBe(0);
    expect(afterReload.get()).toBeUndefined();
  });

  it('works in memory when storage refuses or is missing', () => {
    for (const storage of [memoryStorage(true), undefined]) {
      const credential = sessionCredential(storage);
      credential.set({ token: JWT });
      expect(credential.get()).toEqual({ token: JWT });
      credential.forget();
      expect(credential.get()).toBeUndefined();
    }
  });
});
