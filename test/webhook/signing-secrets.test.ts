import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TenantStore } from '#shared/tenants';
import { createTestEnvironment, type TestEnvironment } from '#test/emulators';
import { signingSecretsFrom, TENANT_SECRETS_MAX_AGE_MS } from '../../functions/webhook/signing-secrets.ts';

const STACK_SECRET = `whsec_${Buffer.from('the stack secret, thirty-two b!!').toString('base64')}`;

let env: TestEnvironment;
let tenants: TenantStore;

beforeAll(async () => {
  env = await createTestEnvironment();
  tenants = await env.tenantStore();
});
afterAll(() => env.close());

/** The store, counting the reads that reach the table. */
const countingStore = () => {
  const counter = {
    reads: 0,
    webhookSecrets: async (tenant: string) => {
      counter.reads++;
      return tenants.webhookSecrets(tenant);
    },
  };
  return counter;
};

describe('signingSecretsFrom', () => {
  it("gives a tenant's secrets, newest first, and the stack's secret for a tenant the table does not know", async () => {
    // Prepare
    const { tenant, webhook_secret } = await tenants.createKey('signing-known');
    const rotated = await tenants.rotateWebhookSecret(tenant);
    const secrets = signingSecretsFrom({ tenants, stackSecret: async () => STACK_SECRET });

    // Act / Assess
    expect(rotated[1]).toBe(webhook_secret);
    expect(await secrets(tenant)).toEqual(rotated);
    expect(await secrets('signing-unknown')).toEqual([STACK_SECRET]);
  });

  it('reads the table at most once a minute per tenant, then sees a rotation', async () => {
    // Prepare: a clock the test moves
    const { tenant, webhook_secret } = await tenants.createKey('signing-cached');
    const store = countingStore();
    let clock = 0;
    const secrets = signingSecretsFrom({
      tenants: store,
      stackSecret: async () => STACK_SECRET,
      now: () => clock,
    });

    // Act: two reads within the minute, a rotation, a read just before and just after it ends
    await secrets(tenant);
    clock = TENANT_SECRETS_MAX_AGE_MS - 1;
    const cached = await secrets(tenant);
    const [next] = await tenants.rotateWebhookSecret(tenant);
    const stillCached = await secrets(tenant);
    clock = TENANT_SECRETS_MAX_AGE_MS;
    const fresh = await secrets(tenant);

    // Assess
    expect(store.reads).toBe(2);
    expect(cached).toEqual([webhook_secret]);
    expect(stillCached).toEqual([webhook_secret]);
    expect(fresh).toEqual([next, webhook_secret]);
  });

  it('remembers that a tenant is unknown for the minute too, without asking the table again', async () => {
    // Prepare
    const store = countingStore();
    const secrets = signingSecretsFrom({
      tenants: store,
      stackSecret: async () => STACK_SECRET,
      now: () => 0,
    });

    // Act
    await secrets('signing-nobody');
    const again = await secrets('signing-nobody');

    // Assess
    expect(again).toEqual([STACK_SECRET]);
    expect(store.reads).toBe(1);
  });
});
