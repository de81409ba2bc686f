import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProvisioningHarness, startProvisioning } from '#test/provisioning';
import { localSecrets } from '../../../local/secrets-manager.ts';
import type { CfnResource } from '../../../local/types.ts';

let harness: ProvisioningHarness;

beforeAll(async () => {
  harness = await startProvisioning();
});

afterAll(async () => {
  await harness?.close();
});

const secretValue = async (arn: string | undefined) =>
  (await harness.clients.secrets.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString;

const generated: CfnResource = {
  Type: 'AWS::SecretsManager::Secret',
  Properties: {
    Description: 'signs webhooks',
    GenerateSecretString: { PasswordLength: 40, ExcludePunctuation: true },
  },
};

describe('AWS::SecretsManager::Secret', () => {
  it('generates a value once, keeps it in the data directory and registers it under a stable name', async () => {
    const first = await harness.provision({ Resources: { Signing: generated } });
    const arn = first.resources.Signing?.ref;
    const value = await secretValue(arn);
    const kept = JSON.parse(await readFile(join(harness.dataDir, 'secrets.json'), 'utf8')) as Record<
      string,
      string
    >;

    const second = await harness.provision({ Resources: { Signing: generated } });

    expect(value).toMatch(/^[A-Za-z0-9]{40}$/);
    expect(kept).toEqual({ [`${harness.stackName}/Signing`]: value });
    expect(arn).toMatch(
      /^arn:aws:secretsmanager:us-east-1:000000000000:secret:Signing-[0-9a-f]{10}-[0-9a-f]{6}$/,
    );
    expect(first.actions).toEqual([
      expect.objectContaining({ action: 'created', detail: expect.stringContaining('secrets.json') }),
    ]);
    expect(second.actions).toEqual([
      { logicalId: 'Signing', type: 'AWS::SecretsManager::Secret', action: 'unchanged' },
    ]);
    expect(second.resources.Signing?.ref).toBe(arn);
    expect(await secretValue(arn)).toBe(value);
  });

  it('registers a literal SecretString under its own Name, and lets an override win', async () => {
    const literal: CfnResource = {
      Type: 'AWS::SecretsManager::Secret',
      Properties: { Name: 'media/api-key', SecretString: 'from-the-template' },
    };
    const provisioned = await harness.provision({ Resources: { ApiKey: literal } });
    // Prepare: a substitute that records what is registered in it, with the environment's value for ApiKey.
    const registered: string[] = [];
    const secrets = localSecrets(
      {
        putSecret: (name, value, options) => {
          registered.push(`${name}=${value}`);
          return options?.arn ?? name;
        },
      },
      { ApiKey: 'from-the-environment' },
    );

    const overridden = await harness.provision({ Resources: { ApiKey: literal } }, { secrets });

    expect(await secretValue(provisioned.resources.ApiKey?.ref)).toBe('from-the-template');
    expect(provisioned.resources.ApiKey?.ref).toMatch(/:secret:media\/api-key-[0-9a-f]{6}$/);
    expect(registered).toEqual(['media/api-key=from-the-environment']);
    expect(overridden.actions).toEqual([
      {
        logicalId: 'ApiKey',
        type: 'AWS::SecretsManager::Secret',
        action: 'unchanged',
        detail: 'value from the environment',
      },
    ]);
  });
});
