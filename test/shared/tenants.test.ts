import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { hashApiKey, keyIdOf, type TenantStore } from '#shared/tenants';
import { LOCAL_CREDENTIALS, REGION } from '#test/emulators';
import { createTenantsTable } from '#test/tenants-table';

let client: DynamoDBClient;
let tableName: string;
let tenants: TenantStore;
let counter = 0;
/** A tenant name of this test alone: the table is shared by the file's tests. */
const tenantName = (name: string) => `${name}-${counter++}`;

beforeAll(async () => {
  const endpoint = inject('dynamodbEndpoint');
  for (const [name, value] of Object.entries({
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: endpoint,
  })) {
    vi.stubEnv(name, value);
  }
  client = new DynamoDBClient({ region: REGION, credentials: LOCAL_CREDENTIALS, endpoint });
  const table = await createTenantsTable(client);
  tableName = table.tableName;
  tenants = await table.tenants();
});
afterAll(() => {
  vi.unstubAllEnvs();
  client.destroy();
});

/** Every item of the table, as stored. */
const items = async () => {
  const { dynamodb } = await import('#shared/aws-clients');
  return (await dynamodb.send(new ScanCommand({ TableName: tableName }))).Items ?? [];
};

describe('TenantStore', () => {
  describe('createKey', () => {
    it('makes the tenant with its first key, showing its webhook secret once, and later keys without it', async () => {
      // Prepare
      const tenant = tenantName('acme');

      // Act
      const first = await tenants.createKey(tenant, { now: new Date('2026-12-01T10:00:00Z') });
      const second = await tenants.createKey(tenant);

      // Assess
      expect(first).toEqual({
        key: expect.stringMatching(/^mpk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/),
        key_id: keyIdOf(first.key),
        tenant,
        created_at: '2026-12-01T10:00:00.000Z',
        webhook_secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
      });
      expect(second).not.toHaveProperty('webhook_secret');
      expect(second.key).not.toBe(first.key);
      expect(await tenants.webhookSecrets(tenant)).toEqual([first.webhook_secret]);
    });

    it('stores no key in clear: only its SHA-256, under which the authorizer finds it', async () => {
      // Act
      const { key, key_id } = await tenants.createKey(tenantName('acme'));

      // Assess
      expect(JSON.stringify(await items())).not.toContain(key);
      const { dynamodb } = await import('#shared/aws-clients');
      const lookup = await dynamodb.send(
        new GetCommand({ TableName: tableName, Key: { pk: `key#${hashApiKey(key)}` } }),
      );
      expect(lookup.Item).toMatchObject({ key_id });
      expect(await tenants.authenticate(`Bearer ${key}`)).toEqual({
        tenant: expect.any(String),
        key_id,
      });
    });

    it.each(['', 'has#hash', '-leading-dash', 'x'.repeat(129)])(
      'refuses the tenant name %j',
      async (name) => {
        // Act / Assess
        await expect(tenants.createKey(name)).rejects.toMatchObject({ code: 'Tenant::InvalidName' });
      },
    );

    it('registers a given key once, and refuses it a second time', async () => {
      // Prepare
      const key = 'a-chosen-development-key-0001';
      const tenant = tenantName('dev');

      // Act
      const created = await tenants.createKey(tenant, { key });

      // Assess
      expect(created).toMatchObject({ key, key_id: hashApiKey(key).slice(0, 12), tenant });
      await expect(tenants.createKey(tenant, { key })).rejects.toMatchObject({ code: 'Key::Exists' });
    });

    it('refuses a given key that is not a bearer token', async () => {
      // Act / Assess
      await expect(tenants.createKey(tenantName('dev'), { key: 'short' })).rejects.toMatchObject({
        code: 'Key::Malformed',
      });
    });
  });

  describe('listKeys and revokeKey', () => {
    it('lists public records only, oldest first, and shows a revoked key as revoked', async () => {
      // Prepare
      const tenant = tenantName('list');
      const older = await tenants.createKey(tenant, { now: new Date('2020-01-01T00:00:00Z') });
      const newer = await tenants.createKey(tenant, { now: new Date('2020-01-02T00:00:00Z') });

      // Act
      const revoked = await tenants.revokeKey(older.key_id, new Date('2020-01-03T00:00:00Z'));
      const listed = (await tenants.listKeys()).filter((record) => record.tenant === tenant);

      // Assess
      expect(revoked).toEqual({
        key_id: older.key_id,
        tenant,
        created_at: '2020-01-01T00:00:00.000Z',
        revoked_at: '2020-01-03T00:00:00.000Z',
      });
      expect(listed).toEqual([revoked, { key_id: newer.key_id, tenant, created_at: newer.created_at }]);
      expect(JSON.stringify(listed)).not.toContain('key_hash');
    });

    it('makes a revoked key fail authentication, and revoking it again changes nothing', async () => {
      // Prepare
      const { key, key_id } = await tenants.createKey(tenantName('revoke'));

      // Act
      const first = await tenants.revokeKey(key_id, new Date('2021-01-01T00:00:00Z'));
      const again = await tenants.revokeKey(key_id, new Date('2022-01-01T00:00:00Z'));

      // Assess
      expect(await tenants.authenticate(`Bearer ${key}`)).toBeUndefined();
      expect(again).toEqual(first);
    });

    it('says which key id it does not know', async () => {
      // Act / Assess
      await expect(tenants.revokeKey('000000000000')).rejects.toMatchObject({
        code: 'Key::NotFound',
        message: 'there is no key with id 000000000000',
      });
    });
  });

  describe('ensureKey', () => {
    it('registers a key the first time and finds it afterwards, making the tenant once', async () => {
      // Prepare
      const tenant = tenantName('default');
      const key = 'local-development-key-0123456789';

      // Act
      const first = await tenants.ensureKey(tenant, key);
      const secret = await tenants.webhookSecrets(tenant);
      const second = await tenants.ensureKey(tenant, key);

      // Assess
      expect(second).toEqual(first);
      expect(await tenants.authenticate(`Bearer ${key}`)).toEqual({ tenant, key_id: first.key_id });
      expect(await tenants.webhookSecrets(tenant)).toEqual(secret);
    });

    it("refuses a key that is another tenant's", async () => {
      // Prepare
      const { key } = await tenants.createKey(tenantName('owner'));

      // Act / Assess
      await expect(tenants.ensureKey(tenantName('thief'), key)).rejects.toMatchObject({
        code: 'Key::OtherTenant',
      });
    });
  });

  describe('webhook secret rotation', () => {
    it('puts the new secret first beside the old, then keeps the new one alone', async () => {
      // Prepare
      const { tenant, webhook_secret: old } = await tenants.createKey(tenantName('rotate'));

      // Act
      const during = await tenants.rotateWebhookSecret(tenant);
      const after = await tenants.finishRotation(tenant);

      // Assess
      expect(during).toHaveLength(2);
      expect(during[1]).toBe(old);
      expect(during[0]).toMatch(/^whsec_/);
      expect(after).toEqual([during[0]]);
      expect(await tenants.webhookSecrets(tenant)).toEqual(after);
    });

    it('keeps at most two secrets when a rotation starts before the last one finished', async () => {
      // Prepare
      const { tenant } = await tenants.createKey(tenantName('rotate'));
      const [first] = await tenants.rotateWebhookSecret(tenant);

      // Act
      const secrets = await tenants.rotateWebhookSecret(tenant);

      // Assess
      expect(secrets).toHaveLength(2);
      expect(secrets[1]).toBe(first);
    });

    it('refuses to rotate the secret of a tenant it does not know', async () => {
      // Act / Assess
      await expect(tenants.rotateWebhookSecret(tenantName('nobody'))).rejects.toMatchObject({
        code: 'Tenant::NotFound',
      });
      expect(await tenants.webhookSecrets(tenantName('nobody'))).toBeUndefined();
    });

    it('sets a given secret, creating the tenant (the local default tenant’s WEBHOOK_SECRET)', async () => {
      // Prepare
      const tenant = tenantName('default');
      const secret = `whsec_${Buffer.from('a local signing key of 32 bytes!').toString('base64')}`;

      // Act
      await tenants.setWebhookSecret(tenant, secret);

      // Assess
      expect(await tenants.webhookSecrets(tenant)).toEqual([secret]);
      expect((await tenants.createKey(tenant)).webhook_secret).toBeUndefined();
    });
  });
});
