/**
 * Secrets Manager secrets, registered in the runtime's substitute (local/secrets-manager.ts) in-process;
 * the functions read them through the real SDK client. A generated value is kept in the data directory
 * (`secrets.json`), so that it survives restarts like a deployed secret.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type GenerateSecretStringSpec, generateSecretValue } from '../secrets-manager.ts';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../types.ts';
import type { Provisioner } from './context.ts';
import { hashOf } from './names.ts';
import { accepted, DESCRIPTION, emulated, type ResourceSupport, TAGS } from './support-entry.ts';

export const support: Readonly<Record<string, ResourceSupport>> = {
  'AWS::SecretsManager::Secret': {
    kind: 'emulated',
    emulation: "the runtime's Secrets Manager substitute (local/secrets-manager.ts)",
    properties: {
      Name: emulated(),
      SecretString: emulated(),
      GenerateSecretString: emulated('generated once and kept in the data directory'),
      Description: DESCRIPTION,
      KmsKeyId: accepted('secrets are not encrypted locally'),
      Tags: TAGS,
    },
  },
};

/** Generated secret values by `<stack>/<logical id>`, as kept in the data directory. */
export interface SecretStore {
  path: string;
  values: Record<string, string>;
  dirty: boolean;
}

export const loadSecretStore = async (dataDir: string): Promise<SecretStore> => {
  const path = join(dataDir, 'secrets.json');
  const values = existsSync(path) ? (JSON.parse(await readFile(path, 'utf8')) as Record<string, string>) : {};
  return { path, values, dirty: false };
};

export const saveSecretStore = async (store: SecretStore): Promise<void> => {
  if (!store.dirty) return;
  await mkdir(resolve(store.path, '..'), { recursive: true });
  await writeFile(`${store.path}.tmp`, `${JSON.stringify(store.values, null, 2)}\n`, { mode: 0o600 });
  await rename(`${store.path}.tmp`, store.path);
};

const provisionSecret: Provisioner = async (context, logicalId, resource) => {
  const { stackName, secretStore } = context;
  const properties = context.propertiesOf(logicalId, resource);
  // CloudFormation names a secret `<logical id>-<10 random characters>` (CDK's secretName parses that
  // shape out of the ARN); here the random part is hashed, so the name is the same on every start.
  const name =
    (properties.Name as string | undefined) ?? `${logicalId}-${hashOf(`${stackName}/${logicalId}`, 10)}`;
  const arn = `arn:aws:secretsmanager:${LOCAL_REGION}:${LOCAL_ACCOUNT}:secret:${name}-${hashOf(name, 6)}`;
  const key = `${stackName}/${logicalId}`;
  const override = context.options.secrets.valueFor(logicalId);
  let value: string;
  if (override !== undefined) {
    value = override;
    context.record(logicalId, resource.Type, 'unchanged', 'value from the environment');
  } else if (typeof properties.SecretString === 'string') {
    value = properties.SecretString;
    context.record(logicalId, resource.Type, 'unchanged');
  } else if (secretStore.values[key] !== undefined) {
    value = secretStore.values[key];
    context.record(logicalId, resource.Type, 'unchanged');
  } else {
    value = generateSecretValue(properties.GenerateSecretString as GenerateSecretStringSpec | undefined);
    secretStore.values[key] = value;
    secretStore.dirty = true;
    context.record(logicalId, resource.Type, 'created', `value generated and kept in ${secretStore.path}`);
  }
  context.options.secrets.register({ name, arn, value });
  return { type: resource.Type, ref: arn, attributes: { Id: arn } };
};

export const provisioners: Readonly<Record<string, Provisioner>> = {
  'AWS::SecretsManager::Secret': provisionSecret,
};
