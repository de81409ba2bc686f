import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { keyIdOf, TenantError, TenantStore } from '#shared/tenants';
import { describeCreatedKey, describeKeys, describeRotation, type Output, painter } from './render.ts';
import { UsageError } from './usage-error.ts';

/**
 * `media-pipeline keys …`: API keys and tenants' webhook secrets, written straight to the Tenants table
 * (functions/shared/tenants.ts) with the caller's own access, never through the API: whoever may
 * write that table may make keys. The table is the deployed stack's (`--stack NAME`: its output
 * TenantsTableName, read with the caller's AWS credentials), else the running local runtime's, found
 * through the `runtime.json` it writes into its data directory.
 */

/** What the local runtime writes at start to `<data dir>/runtime.json`, and removes at stop. */
export const RuntimeFile = z.object({
  pid: z.number().int().positive(),
  apiUrl: z.string(),
  dynamodbEndpoint: z.string(),
  region: z.string(),
  tenantsTable: z.string().min(1),
  jobsTable: z.string().optional(),
  authMode: z.string().optional(),
});
export type RuntimeFile = z.infer<typeof RuntimeFile>;

/** Where the keys commands write, and what they say about it. */
export interface KeysTarget {
  store: TenantStore;
  /** `the local runtime (…)` or `stack NAME`, for messages. */
  description: string;
  /** The deployment's auth mode when it says (keys only matter with `api-key`). */
  authMode: string | undefined;
  close(): void;
}

/** DynamoDB Local runs with a shared database: any credentials and region reach the same tables. */
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

export const runtimeFilePath = (env: NodeJS.ProcessEnv): string =>
  resolve(env.MEDIA_PIPELINE_DATA_DIR || '.local', 'runtime.json');

/** Whether a process with this id runs (EPERM: it does, as another user). */
export const processIsAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

const documentClient = (client: DynamoDBClient) =>
  DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });

/** The running local runtime's Tenants table, or an error that says how to start one. */
export const localTarget = async (
  env: NodeJS.ProcessEnv,
  isAlive: (pid: number) => boolean = processIsAlive,
): Promise<KeysTarget> => {
  const path = runtimeFilePath(env);
  const start =
    'start the runtime with npm start (MEDIA_PIPELINE_DATA_DIR names its data directory), or pass --stack NAME for a deployed stack';
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw new Error(`the local runtime is not running (no ${path}): ${start}`);
    throw error;
  });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const runtime = RuntimeFile.safeParse(parsed);
  if (!runtime.success) throw new Error(`${path} is not a runtime file this CLI can read: ${start}`);
  if (!isAlive(runtime.data.pid)) {
    throw new Error(
      `the local runtime that wrote ${path} (pid ${runtime.data.pid}) is no longer running: ${start}`,
    );
  }
  const client = new DynamoDBClient({
    endpoint: runtime.data.dynamodbEndpoint,
    region: runtime.data.region,
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 2,
  });
  return {
    store: new TenantStore(documentClient(client), runtime.data.tenantsTable),
    description: `the local runtime at ${runtime.data.apiUrl}`,
    authMode: runtime.data.authMode,
    close: () => client.destroy(),
  };
};

/** A deployed stack's Tenants table, from its outputs, with the caller's AWS credentials. */
export const stackTarget = async (stackName: string, region: string | undefined): Promise<KeysTarget> => {
  const config = region ? { region } : {};
  const cloudFormation = new CloudFormationClient(config);
  let outputs: Record<string, string>;
  try {
    const described = await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }));
    const stack = described.Stacks?.[0];
    if (!stack) throw new Error(`there is no stack ${stackName}`);
    outputs = Object.fromEntries(
      (stack.Outputs ?? []).map((output) => [output.OutputKey ?? '', output.OutputValue ?? '']),
    );
  } finally {
    cloudFormation.destroy();
  }
  const table = outputs.TenantsTableName;
  if (!table) {
    throw new Error(
      `stack ${stackName} has no output TenantsTableName: deploy this version of the stack first (npm run deploy)`,
    );
  }
  const client = new DynamoDBClient(config);
  return {
    store: new TenantStore(documentClient(client), table),
    description: `stack ${stackName}`,
    authMode: outputs.AuthMode,
    close: () => client.destroy(),
  };
};

export interface KeysFlags {
  tenant?: string | undefined;
  json?: boolean | undefined;
  finish?: boolean | undefined;
  stack?: string | undefined;
  region?: string | undefined;
}

export interface KeysIo {
  stdout: Output;
  stderr: Output;
  env: NodeJS.ProcessEnv;
}

const SUBCOMMANDS = ['create', 'add-tenant', 'list', 'revoke', 'rotate-secret'] as const;

/** Key ids are 12 hex digits (`keys list`); a key pasted in their place is refused without being echoed. */
const assertKeyId = (value: string): void => {
  if (/^[0-9a-f]{12}$/.test(value)) return;
  const pastedKeyId = keyIdOf(value);
  throw new UsageError(
    pastedKeyId
      ? `keys revoke takes a key id, not the key itself (whose id is ${pastedKeyId}): media-pipeline keys revoke ${pastedKeyId}`
      : 'keys revoke takes a key id: 12 hex digits, as `media-pipeline keys list` shows them',
  );
};

const needTenant = (flags: KeysFlags, command: string): string => {
  if (!flags.tenant) throw new UsageError(`keys ${command} needs --tenant NAME`);
  return flags.tenant;
};

/** Runs `keys <subcommand>`; `openTarget` is for tests. */
export const keysCommand = async (
  positionals: string[],
  flags: KeysFlags,
  io: KeysIo,
  openTarget: () => Promise<KeysTarget> = () =>
    flags.stack ? stackTarget(flags.stack, flags.region) : localTarget(io.env),
): Promise<number> => {
  const [sub, ...rest] = positionals;
  if (!sub || !(SUBCOMMANDS as readonly string[]).includes(sub)) {
    throw new UsageError(
      sub ? `unknown keys command "${sub}"` : `keys needs a command: ${SUBCOMMANDS.join(', ')}`,
    );
  }
  if (sub === 'revoke' ? rest.length !== 1 : rest.length > 0) {
    throw new UsageError(
      sub === 'revoke' ? 'keys revoke takes one key id' : `keys ${sub} takes no arguments`,
    );
  }
  if (sub === 'revoke') assertKeyId(rest[0] ?? '');
  if (flags.region && !flags.stack) throw new UsageError('--region goes with --stack NAME');
  if (flags.finish && sub !== 'rotate-secret') throw new UsageError('--finish goes with keys rotate-secret');
  const tenant =
    sub === 'create' || sub === 'add-tenant' || sub === 'rotate-secret' ? needTenant(flags, sub) : undefined;
  const json = (value: unknown) => io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  const paint = painter(io.stdout, io.env);

  const target = await openTarget();
  try {
    if (target.authMode && target.authMode !== 'api-key' && !flags.json) {
      io.stderr.write(
        `note: ${target.description} runs with auth mode "${target.authMode}": its API does not check API keys\n`,
      );
    }
    switch (sub) {
      case 'create': {
        const created = await target.store.createKey(tenant ?? '');
        if (flags.json) {
          json({
            key: created.key,
            key_id: created.key_id,
            tenant: created.tenant,
            webhook_secret: created.webhook_secret ?? null,
          });
        } else io.stdout.write(describeCreatedKey(created, target.description));
        return 0;
      }
      case 'add-tenant': {
        // A JWT deployment's tenants are token subjects with no key: this gives one its own webhook secret.
        const added = await target.store.createTenant(tenant ?? '');
        if (flags.json)
          json({ tenant, created: added.created, webhook_secret: added.webhook_secret ?? null });
        else {
          io.stdout.write(
            added.created
              ? `tenant ${tenant} registered in ${target.description}; its webhooks are signed with this secret (shown once):\n${added.webhook_secret}\n`
              : `tenant ${tenant} exists already; \`media-pipeline keys rotate-secret --tenant ${tenant}\` gives it a new secret\n`,
          );
        }
        return 0;
      }
      case 'list': {
        const keys = await target.store.listKeys();
        if (flags.json) json({ keys });
        else io.stdout.write(describeKeys(keys, paint));
        return 0;
      }
      case 'revoke': {
        const record = await target.store.revokeKey(rest[0] ?? '');
        if (flags.json) json(record);
        else {
          io.stdout.write(
            `key ${record.key_id} of tenant ${record.tenant} is revoked (${record.revoked_at}); ` +
              'the API may still accept it for up to 5 minutes (its authorizer caches answers for 300 s)\n',
          );
        }
        return 0;
      }
      case 'rotate-secret': {
        const name = tenant ?? '';
        const secrets = flags.finish
          ? await target.store.finishRotation(name)
          : await target.store.rotateWebhookSecret(name);
        if (flags.json) json({ tenant: name, webhook_secrets: secrets });
        else io.stdout.write(describeRotation(name, secrets, Boolean(flags.finish)));
        return 0;
      }
    }
    return 2;
  } catch (error) {
    // The store's refusals (an invalid tenant name, an unknown key id) say what to fix: exit 1, not a crash.
    if (error instanceof TenantError) throw new Error(`${error.message} [${error.code}]`, { cause: error });
    throw error;
  } finally {
    target.close();
  }
};
