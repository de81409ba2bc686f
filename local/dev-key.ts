/**
 * The local runtime's tenants: its dev key (MEDIA_PIPELINE_API_KEY, else one generated once and kept in
 * `<data dir>/api-key`), registered for tenant `default` in the stack's Tenants table at every start, and
 * that tenant's webhook secret set to the stack secret's local value (WEBHOOK_SECRET when set), so that
 * the local default tenant signs as the single-tenant runtime always did.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DEFAULT_TENANT, newApiKey, TenantError, TenantStore } from '#shared/tenants';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from './types.ts';

export const API_KEY_FILE = 'api-key';

/** The given key, else the one kept in the data directory, else a new one (kept there, owner-only). */
export const devKey = async (dataDir: string, given?: string): Promise<{ key: string; source: string }> => {
  if (given) return { key: given, source: 'MEDIA_PIPELINE_API_KEY' };
  const path = join(dataDir, API_KEY_FILE);
  if (existsSync(path)) {
    const kept = (await readFile(path, 'utf8')).trim();
    if (kept !== '') return { key: kept, source: path };
  }
  const { key } = newApiKey();
  await mkdir(dataDir, { recursive: true });
  await writeFile(`${path}.tmp`, `${key}\n`, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
  return { key, source: path };
};

/** A TenantStore on the local DynamoDB's `table`, and how to let go of its client. */
export const localTenantStore = (
  dynamodbEndpoint: string,
  table: string,
): { store: TenantStore; destroy: () => void } => {
  const client = new DynamoDBClient({
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    endpoint: dynamodbEndpoint,
    maxAttempts: 3,
  });
  return {
    store: new TenantStore(DynamoDBDocumentClient.from(client), table),
    destroy: () => client.destroy(),
  };
};

/**
 * Registers `key` (when given) for tenant `default` and sets its webhook secret to `webhookSecret`
 * (when given). A key revoked with `keys revoke` cannot be registered again: that stops the start.
 */
export const registerDefaultTenant = async (
  store: TenantStore,
  options: { key?: { key: string; source: string }; webhookSecret?: string },
): Promise<void> => {
  if (options.key) {
    try {
      await store.ensureKey(DEFAULT_TENANT, options.key.key);
    } catch (error) {
      if (!(error instanceof TenantError)) throw error;
      throw new Error(
        `the dev key from ${options.key.source} cannot be registered for tenant ${DEFAULT_TENANT} (${error.message}): ` +
          (options.key.source === 'MEDIA_PIPELINE_API_KEY'
            ? 'set another MEDIA_PIPELINE_API_KEY'
            : `delete ${options.key.source} to have a new one made, or set MEDIA_PIPELINE_API_KEY`),
        { cause: error },
      );
    }
  }
  if (options.webhookSecret) await store.setWebhookSecret(DEFAULT_TENANT, options.webhookSecret);
};
