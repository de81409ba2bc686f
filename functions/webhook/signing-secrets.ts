import type { TenantStore } from '#shared/tenants';

/** A tenant's secrets are asked of the tenants table at most this often per execution environment. */
export const TENANT_SECRETS_MAX_AGE_MS = 60_000;

/** Enough for every tenant a deployment has; past it the cache starts over rather than grow. */
const MAX_CACHED_TENANTS = 1_000;

export interface SigningSecretsSource {
  /** The tenants table: each tenant's current secrets, newest first. */
  tenants: Pick<TenantStore, 'webhookSecrets'>;
  /** The stack's own secret (Secrets Manager), for tenants the table does not know. */
  stackSecret: () => Promise<string>;
  /** @default TENANT_SECRETS_MAX_AGE_MS */
  maxAgeMs?: number;
  /** Milliseconds of a monotonic clock; performance.now by default. */
  now?: () => number;
}

/** The secrets that sign a tenant's webhooks: all of them, so a receiver mid-rotation verifies with either. */
export type SigningSecrets = (tenant: string) => Promise<string[]>;

/**
 * Each job's webhook is signed with its tenant's secrets (rotations show within a minute, the cache's
 * age). A tenant the table does not know (a JWT subject never registered, jobs from before tenants)
 * gets the stack's secret, as every webhook did before. A failed read of the table throws: the delivery
 * is retried later rather than signed with a secret its receiver may not have.
 */
export const signingSecretsFrom = (source: SigningSecretsSource): SigningSecrets => {
  const maxAgeMs = source.maxAgeMs ?? TENANT_SECRETS_MAX_AGE_MS;
  const now = source.now ?? (() => performance.now());
  const cache = new Map<string, { secrets: string[] | undefined; readAt: number }>();

  return async (tenant) => {
    let entry = cache.get(tenant);
    if (!entry || now() - entry.readAt >= maxAgeMs) {
      const secrets = await source.tenants.webhookSecrets(tenant);
      if (cache.size >= MAX_CACHED_TENANTS) cache.clear();
      entry = { secrets, readAt: now() };
      cache.set(tenant, entry);
    }
    return entry.secrets ?? [await source.stackSecret()];
  };
};
