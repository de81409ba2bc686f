import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTenantsTable } from '#test/tenants-table';
import { LocalConfigError, localSettingsFromEnvironment } from '../../local/config.ts';
import { API_KEY_FILE, devKey, localTenantStore, registerDefaultTenant } from '../../local/dev-key.ts';
import { RUNTIME_FILE, removeRuntimeFile, writeRuntimeFile } from '../../local/runtime-file.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../local/types.ts';

/**
 * What the local runtime does for its tenants at every start (local/dev-key.ts), against DynamoDB
 * Local: the dev key kept across restarts or taken from MEDIA_PIPELINE_API_KEY, registered for tenant
 * `default` with the stack's webhook secret; the settings that become CDK context; runtime.json.
 */

let dataDir: string;
let tenants: ReturnType<typeof localTenantStore>;
let table: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'dev-key-'));
  const endpoint = inject('dynamodbEndpoint');
  const client = new DynamoDBClient({ region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, endpoint });
  table = (await createTenantsTable(client)).tableName;
  client.destroy();
  tenants = localTenantStore(endpoint, table);
});

afterAll(async () => {
  tenants?.destroy();
  await rm(dataDir, { recursive: true, force: true });
});

describe('the dev key', () => {
  it('is generated once, kept owner-only in the data directory, and the same on the next start', async () => {
    // Act
    const first = await devKey(dataDir);
    const again = await devKey(dataDir);

    // Assess
    expect(first.key).toMatch(/^mpk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    expect(again).toEqual(first);
    expect((await readFile(join(dataDir, API_KEY_FILE), 'utf8')).trim()).toBe(first.key);
    expect((await stat(join(dataDir, API_KEY_FILE))).mode & 0o777).toBe(0o600);
  });

  it('is MEDIA_PIPELINE_API_KEY when that is set, which is not written down', async () => {
    // Prepare
    const elsewhere = await mkdtemp(join(tmpdir(), 'dev-key-given-'));

    // Act
    const given = await devKey(elsewhere, 'local-dev-key-0123456789');

    // Assess
    expect(given.key).toBe('local-dev-key-0123456789');
    expect(existsSync(join(elsewhere, API_KEY_FILE))).toBe(false);
    await rm(elsewhere, { recursive: true, force: true });
  });

  it("is registered for tenant default at every start, with the stack's webhook secret", async () => {
    // Prepare
    const key = await devKey(dataDir);

    // Act
    await registerDefaultTenant(tenants.store, { key, webhookSecret: 'whsec_first' });
    await registerDefaultTenant(tenants.store, { key, webhookSecret: 'whsec_second' });

    // Assess
    expect(await tenants.store.authenticate(`Bearer ${key.key}`)).toMatchObject({ tenant: 'default' });
    expect(await tenants.store.webhookSecrets('default')).toEqual(['whsec_second']);
    expect((await tenants.store.listKeys()).filter((record) => record.tenant === 'default')).toHaveLength(1);
  });

  it('stops the start, saying what to do, when the kept key was revoked', async () => {
    // Prepare
    const key = await devKey(dataDir);
    await registerDefaultTenant(tenants.store, { key });
    const [record] = await tenants.store.listKeys();
    await tenants.store.revokeKey(record?.key_id ?? '');

    // Act
    const start = registerDefaultTenant(tenants.store, { key });

    // Assess
    await expect(start).rejects.toThrow(
      `delete ${join(dataDir, API_KEY_FILE)} to have a new one made, or set MEDIA_PIPELINE_API_KEY`,
    );
  });
});

describe('auth settings', () => {
  it('become CDK context: mode, JWT issuer and audiences, tenant claim, quotas', () => {
    // Act
    const settings = localSettingsFromEnvironment({
      MEDIA_PIPELINE_AUTH: 'jwt',
      MEDIA_PIPELINE_JWT_ISSUER: 'https://issuer.example.com/',
      MEDIA_PIPELINE_JWT_AUDIENCE: 'media, spa-client',
      MEDIA_PIPELINE_JWT_TENANT_CLAIM: 'custom:tenant',
      MEDIA_PIPELINE_QUOTA_JOBS_PER_DAY: '10',
      MEDIA_PIPELINE_QUOTA_BYTES_PER_DAY: '0',
      MEDIA_PIPELINE_API_KEY: 'local-dev-key-0123456789',
    });

    // Assess
    expect(settings).toMatchObject({ auth: 'jwt', apiKey: 'local-dev-key-0123456789' });
    expect(settings.context).toEqual({
      auth: 'jwt',
      jwtIssuer: 'https://issuer.example.com/',
      jwtAudience: ['media', 'spa-client'],
      jwtTenantClaim: 'custom:tenant',
      quotaJobsPerDay: 10,
      quotaBytesPerDay: 0,
    });
    expect(localSettingsFromEnvironment({}).context).toEqual({});
  });

  it('refuses JWT mode without its issuer and audience, an unknown mode and a malformed key', () => {
    // Act
    const attempt = (env: Record<string, string>) => () => localSettingsFromEnvironment(env);

    // Assess
    expect(attempt({ MEDIA_PIPELINE_AUTH: 'jwt' })).toThrow(LocalConfigError);
    expect(attempt({ MEDIA_PIPELINE_AUTH: 'jwt' })).toThrow(/MEDIA_PIPELINE_JWT_ISSUER: required/);
    expect(attempt({ MEDIA_PIPELINE_AUTH: 'jwt' })).toThrow(/MEDIA_PIPELINE_JWT_AUDIENCE: required/);
    expect(attempt({ MEDIA_PIPELINE_AUTH: 'open' })).toThrow(/MEDIA_PIPELINE_AUTH/);
    expect(attempt({ MEDIA_PIPELINE_API_KEY: 'short' })).toThrow(
      /MEDIA_PIPELINE_API_KEY: an API key is 16 to 512/,
    );
    expect(attempt({ MEDIA_PIPELINE_QUOTA_JOBS_PER_DAY: '-1' })).toThrow(/MEDIA_PIPELINE_QUOTA_JOBS_PER_DAY/);
  });
});

describe('runtime.json', () => {
  it("is written at start and removed at stop, unless another runtime's has replaced it", async () => {
    // Prepare
    const content = {
      pid: process.pid,
      apiUrl: 'http://127.0.0.1:3000',
      dynamodbEndpoint: 'http://127.0.0.1:8000',
      region: LOCAL_REGION,
      tenantsTable: table,
      jobsTable: 'jobs',
      authMode: 'api-key',
    };
    const path = join(dataDir, RUNTIME_FILE);

    // Act
    await writeRuntimeFile(dataDir, content);
    const written = JSON.parse(await readFile(path, 'utf8'));
    await removeRuntimeFile(dataDir);
    const removed = !existsSync(path);
    await writeRuntimeFile(dataDir, { ...content, pid: process.pid + 1 });
    await removeRuntimeFile(dataDir);

    // Assess
    expect(written).toEqual(content);
    expect(removed).toBe(true);
    expect(JSON.parse(await readFile(path, 'utf8')).pid).toBe(process.pid + 1);
  });
});
