import { createHash, randomBytes } from 'node:crypto';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';

/**
 * Tenants and their API keys, in their own table (TENANTS_TABLE_KEYS), apart from the jobs: the
 * authorizer's grant is a read of this table and nothing else, and the API function never reads it.
 *
 * Items:
 * - `key#<sha256 of the key>`: the authorizer's one lookup (tenant, key id). A key is never stored in
 *   clear: only its SHA-256, which is enough because keys are 256 random bits (no dictionary to try).
 * - `keyid#<key id>`: the key's public record (tenant, hash, created, revoked), for `keys list` and
 *   `keys revoke KEY_ID`.
 * - `tenant#<name>`: the tenant's webhook signing secrets, newest first (two during a rotation).
 */
export const TENANTS_TABLE_KEYS = { partitionKey: 'pk' } as const;

/** Tenant names: what a JWT `sub` or a chosen name looks like, without `#` (it separates key parts). */
export const TENANT_NAME = /^[A-Za-z0-9][A-Za-z0-9._@|:+=-]{0,127}$/;
export const isTenantName = (value: string): boolean => TENANT_NAME.test(value);

/**
 * How the API knows its caller (CDK context `auth`): `api-key`, a Lambda authorizer over this table;
 * `jwt`, the HTTP API's JWT authorizer (the tenant is a claim); `none`, everyone is DEFAULT_TENANT.
 */
export const AUTH_MODES = ['api-key', 'jwt', 'none'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];
export const isAuthMode = (value: unknown): value is AuthMode =>
  typeof value === 'string' && (AUTH_MODES as readonly string[]).includes(value);

/** The JWT claim that names the tenant unless `jwtTenantClaim` says otherwise. */
export const DEFAULT_TENANT_CLAIM = 'sub';

/** The tenant the local runtime's dev key (and `auth: none`) acts for. */
export const DEFAULT_TENANT = 'default';

/** Longer credentials are not keys: they are refused without being hashed. */
const MAX_KEY_LENGTH = 512;

/** `mpk_<key id>_<secret>`: the id is public (lists, logs, revocation); the secret is 32 random bytes. */
const KEY_FORMAT = /^mpk_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$/;

export interface ApiKeyRecord {
  key_id: string;
  tenant: string;
  created_at: string;
  revoked_at?: string;
}

export interface CreatedKey extends ApiKeyRecord {
  /** The key itself: shown once, never stored. */
  key: string;
  /** The tenant's current webhook signing secret, when this key's creation made the tenant. */
  webhook_secret?: string;
}

export interface Caller {
  tenant: string;
  key_id: string;
}

export const hashApiKey = (key: string): string => createHash('sha256').update(key, 'utf8').digest('hex');
export const keyIdOf = (key: string): string | undefined => KEY_FORMAT.exec(key)?.[1];

export const newApiKey = (): { key: string; key_id: string } => {
  const key_id = randomBytes(6).toString('hex');
  return { key: `mpk_${key_id}_${randomBytes(32).toString('base64url')}`, key_id };
};

/** A Standard Webhooks signing secret: `whsec_` and 32 random bytes in base64. */
export const newWebhookSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`;

/** The key from an `Authorization: Bearer <key>` header value, if it has that form. */
export const bearerCredential = (header: string | undefined): string | undefined => {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
};

export class TenantError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'TenantError';
  }
}

const isConditionFailure = (error: unknown): boolean =>
  error instanceof Error &&
  (error.name === 'ConditionalCheckFailedException' || error.name === 'TransactionCanceledException');

export class TenantStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /**
   * The caller an `Authorization` header value names, or undefined for anything that is not a live key
   * (malformed, unknown, revoked). One GetItem by the key's hash; the format check spares malformed ones.
   */
  async authenticate(authorization: string | undefined): Promise<Caller | undefined> {
    const key = bearerCredential(authorization);
    if (!key || key.length > MAX_KEY_LENGTH) return undefined;
    const response = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: `key#${hashApiKey(key)}` } }),
    );
    const item = response.Item;
    if (!item || typeof item.tenant !== 'string' || typeof item.key_id !== 'string') return undefined;
    return { tenant: item.tenant, key_id: item.key_id };
  }

  /**
   * A new key for `tenant`, creating the tenant (with its first webhook secret) if it does not exist.
   * `key` registers a given key instead of a random one (the local runtime's MEDIA_PIPELINE_API_KEY).
   */
  async createKey(tenant: string, options: { key?: string; now?: Date } = {}): Promise<CreatedKey> {
    assertTenantName(tenant);
    const created_at = (options.now ?? new Date()).toISOString();
    const { key, key_id } = options.key ? givenKey(options.key) : newApiKey();
    const key_hash = hashApiKey(key);
    const webhookSecret = await this.ensureTenant(tenant, created_at);
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: { pk: `key#${key_hash}`, tenant, key_id, created_at },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            {
              Put: {
                TableName: this.tableName,
                Item: { pk: `keyid#${key_id}`, tenant, key_id, key_hash, created_at },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
          ],
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      throw new TenantError('Key::Exists', `a key with id ${key_id} is already registered`);
    }
    return {
      key,
      key_id,
      tenant,
      created_at,
      ...(webhookSecret ? { webhook_secret: webhookSecret } : {}),
    };
  }

  /**
   * Registers a tenant without a key, for a JWT deployment whose tenants are the token's subjects: it
   * gets its own webhook signing secret (otherwise its webhooks are signed with the stack's). The secret
   * is returned only when this call made the tenant.
   */
  async createTenant(
    tenant: string,
    now: Date = new Date(),
  ): Promise<{ created: boolean; webhook_secret?: string }> {
    assertTenantName(tenant);
    const secret = await this.ensureTenant(tenant, now.toISOString());
    return secret ? { created: true, webhook_secret: secret } : { created: false };
  }

  /**
   * Makes sure `key` is a live key of `tenant` (the local runtime's MEDIA_PIPELINE_API_KEY and dev key,
   * at every start): registers it if it is not, and refuses if it is registered for another tenant.
   */
  async ensureKey(tenant: string, key: string): Promise<ApiKeyRecord> {
    const known = await this.authenticate(`Bearer ${key}`);
    if (known) {
      if (known.tenant !== tenant) {
        throw new TenantError('Key::OtherTenant', `key ${known.key_id} belongs to tenant ${known.tenant}`);
      }
      const record = await this.keyRecord(known.key_id);
      if (record) return record;
    }
    const { key: _key, webhook_secret: _secret, ...record } = await this.createKey(tenant, { key });
    return record;
  }

  /** Every key's public record (an operator's listing: a scan of a small table). */
  async listKeys(): Promise<ApiKeyRecord[]> {
    const records: ApiKeyRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: 'begins_with(pk, :prefix)',
          ExpressionAttributeValues: { ':prefix': 'keyid#' },
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of page.Items ?? []) records.push(publicRecord(item));
      start = page.LastEvaluatedKey;
    } while (start);
    return records.sort((a, b) => a.created_at.localeCompare(b.created_at));
  }

  /** Revokes a key by its id: its lookup item goes, its record stays with `revoked_at`. */
  async revokeKey(keyId: string, now: Date = new Date()): Promise<ApiKeyRecord> {
    const record = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: `keyid#${keyId}` }, ConsistentRead: true }),
    );
    const item = record.Item;
    if (!item) throw new TenantError('Key::NotFound', `there is no key with id ${keyId}`);
    if (item.revoked_at) return publicRecord(item);
    const revoked_at = now.toISOString();
    await this.client.send(
      new TransactWriteCommand({
        TransactItems: [
          { Delete: { TableName: this.tableName, Key: { pk: `key#${String(item.key_hash)}` } } },
          {
            Update: {
              TableName: this.tableName,
              Key: { pk: `keyid#${keyId}` },
              UpdateExpression: 'SET revoked_at = :at',
              ExpressionAttributeValues: { ':at': revoked_at },
            },
          },
        ],
      }),
    );
    return publicRecord({ ...item, revoked_at });
  }

  /** The tenant's webhook signing secrets, newest first; undefined for a tenant this table does not know. */
  async webhookSecrets(tenant: string): Promise<string[] | undefined> {
    const response = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: `tenant#${tenant}` } }),
    );
    const secrets = response.Item?.webhook_secrets;
    return Array.isArray(secrets) && secrets.length > 0 ? secrets.map(String) : undefined;
  }

  /**
   * Starts a rotation: a new secret goes first and the current one stays beside it, so receivers see
   * both signatures until they switch (Standard Webhooks allows several). `finishRotation` drops the old.
   * `secret` sets a given one (the local `default` tenant's WEBHOOK_SECRET).
   */
  async rotateWebhookSecret(tenant: string, secret: string = newWebhookSecret()): Promise<string[]> {
    const current = await this.webhookSecrets(tenant);
    if (!current) throw new TenantError('Tenant::NotFound', `there is no tenant ${tenant}`);
    const secrets = [secret, ...current.filter((s) => s !== secret)].slice(0, 2);
    await this.putSecrets(tenant, secrets);
    return secrets;
  }

  async finishRotation(tenant: string): Promise<string[]> {
    const current = await this.webhookSecrets(tenant);
    if (!current) throw new TenantError('Tenant::NotFound', `there is no tenant ${tenant}`);
    const secrets = current.slice(0, 1);
    await this.putSecrets(tenant, secrets);
    return secrets;
  }

  /** Sets the tenant's only secret, creating the tenant if needed (the local `default` tenant). */
  async setWebhookSecret(tenant: string, secret: string, now: Date = new Date()): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: `tenant#${tenant}` },
        UpdateExpression: 'SET webhook_secrets = :secrets, created_at = if_not_exists(created_at, :now)',
        ExpressionAttributeValues: { ':secrets': [secret], ':now': now.toISOString() },
      }),
    );
  }

  private async putSecrets(tenant: string, secrets: string[]): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: `tenant#${tenant}` },
        UpdateExpression: 'SET webhook_secrets = :secrets',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':secrets': secrets },
      }),
    );
  }

  /** Creates the tenant with a first webhook secret unless it exists; returns the secret if it made one. */
  private async ensureTenant(tenant: string, created_at: string): Promise<string | undefined> {
    const secret = newWebhookSecret();
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: `tenant#${tenant}`, tenant, webhook_secrets: [secret], created_at },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return secret;
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  private async keyRecord(keyId: string): Promise<ApiKeyRecord | undefined> {
    const response = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: `keyid#${keyId}` }, ConsistentRead: true }),
    );
    return response.Item ? publicRecord(response.Item) : undefined;
  }
}

/**
 * A key chosen by the operator (MEDIA_PIPELINE_API_KEY): any bearer token of 16 to 512 characters. One
 * that is not in the generated form gets an id from its hash.
 */
const assertTenantName = (tenant: string): void => {
  if (!isTenantName(tenant)) {
    throw new TenantError(
      'Tenant::InvalidName',
      `tenant ${JSON.stringify(tenant)} is not a valid name: 1 to 128 letters, digits or . _ @ | : + = -, starting with a letter or digit`,
    );
  }
};

const givenKey = (key: string): { key: string; key_id: string } => {
  if (!/^[A-Za-z0-9._~+/=-]{16,512}$/.test(key)) {
    throw new TenantError(
      'Key::Malformed',
      'an API key is 16 to 512 characters of letters, digits and . _ ~ + / = - (a bearer token); `npx media-pipeline keys create` makes one',
    );
  }
  return { key, key_id: keyIdOf(key) ?? hashApiKey(key).slice(0, 12) };
};

const publicRecord = (item: Record<string, unknown>): ApiKeyRecord => ({
  key_id: String(item.key_id),
  tenant: String(item.tenant),
  created_at: String(item.created_at),
  ...(item.revoked_at ? { revoked_at: String(item.revoked_at) } : {}),
});
