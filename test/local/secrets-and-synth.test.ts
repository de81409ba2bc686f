import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  generateSecretValue,
  secretEnvironmentName,
  secretOverridesFromEnvironment,
} from '../../local/secrets-manager.ts';
import { customResourceProviders } from '../../local/support.ts';
import { newestSource, staleReason } from '../../local/synth.ts';
import type { CfnTemplate } from '../../local/types.ts';

describe('generateSecretValue', () => {
  it('follows GenerateSecretString: length, no punctuation, no space', () => {
    const values = Array.from({ length: 20 }, () =>
      generateSecretValue({ PasswordLength: 32, ExcludePunctuation: true, IncludeSpace: false }),
    );

    for (const value of values) expect(value).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(new Set(values).size).toBe(20);
  });

  it('includes every type by default, honours excluded characters and fills a JSON template', () => {
    const value = generateSecretValue({ PasswordLength: 40, ExcludeCharacters: 'aA0"\\' });
    const json = JSON.parse(
      generateSecretValue({ SecretStringTemplate: '{"username":"app"}', GenerateStringKey: 'password' }),
    ) as Record<string, string>;

    expect(value).toHaveLength(40);
    expect(value).toMatch(/[a-z]/);
    expect(value).toMatch(/[A-Z]/);
    expect(value).toMatch(/[0-9]/);
    expect(value).toMatch(/[^A-Za-z0-9]/);
    expect(value).not.toMatch(/[aA0"\\]/);
    expect(json).toEqual({ username: 'app', password: expect.stringMatching(/^.{32}$/) });
  });

  it('refuses settings that leave no characters', () => {
    expect(() =>
      generateSecretValue({
        ExcludeLowercase: true,
        ExcludeUppercase: true,
        ExcludeNumbers: true,
        ExcludePunctuation: true,
      }),
    ).toThrow('leaves nothing to generate a secret from');
  });
});

describe('secret overrides from the environment', () => {
  const template: CfnTemplate = {
    Resources: {
      NotificationsWebhookSecretAE320227: {
        Type: 'AWS::SecretsManager::Secret',
        Metadata: { 'aws:cdk:path': 'MediaPipeline/Notifications/WebhookSecret/Resource' },
      },
      ApiKey: { Type: 'AWS::SecretsManager::Secret' },
    },
  };

  it('names the variable after the construct id (else the logical id)', () => {
    const resources = template.Resources;
    expect(
      secretEnvironmentName(
        'NotificationsWebhookSecretAE320227',
        resources.NotificationsWebhookSecretAE320227 ?? { Type: '' },
      ),
    ).toBe('WEBHOOK_SECRET');
    expect(secretEnvironmentName('ApiKey', resources.ApiKey ?? { Type: '' })).toBe('API_KEY');
  });

  it('maps set, non-empty variables to the logical ids of their secrets', () => {
    expect(secretOverridesFromEnvironment(template, { WEBHOOK_SECRET: 'whsec_abc', API_KEY: '' })).toEqual({
      NotificationsWebhookSecretAE320227: 'whsec_abc',
    });
  });
});

describe('customResourceProviders', () => {
  it("recognises CDK's deploy-time functions by the custom resources that use them as ServiceToken", () => {
    const template: CfnTemplate = {
      Resources: {
        App: { Type: 'AWS::Lambda::Function' },
        Handler: { Type: 'AWS::Lambda::Function' },
        AutoDelete: { Type: 'AWS::Lambda::Function' },
        Notifications: {
          Type: 'Custom::S3BucketNotifications',
          Properties: { ServiceToken: { 'Fn::GetAtt': ['Handler', 'Arn'] } },
        },
        Empty: {
          Type: 'Custom::S3AutoDeleteObjects',
          Properties: { ServiceToken: { 'Fn::GetAtt': 'AutoDelete.Arn' } },
        },
      },
    };

    expect([...customResourceProviders(template)].sort()).toEqual(['AutoDelete', 'Handler']);
  });
});

describe('the local synth freshness check', () => {
  let root: string;
  let outdir: string;
  const context = { allowLoopbackCallbacks: true, flags: { b: 1, a: 2 } };
  const writeStamp = async (startedAtMs: number, stampContext: Record<string, unknown> = context) => {
    await writeFile(
      join(outdir, 'local-synth.json'),
      JSON.stringify({
        startedAtMs,
        context: stampContext,
        stackName: 'MediaPipeline',
        templateFile: 'T.json',
      }),
    );
    await writeFile(join(outdir, 'T.json'), '{"Resources":{}}');
  };
  const touch = async (path: string, at: number) => {
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, 'x');
    await utimes(path, at / 1000, at / 1000);
  };

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'synth-root-'));
    outdir = join(root, 'cdk.out.local');
    await mkdir(outdir);
    await touch(join(root, 'lib', 'stack.ts'), 1_000_000);
    await touch(join(root, 'functions', 'api', 'handler.ts'), 2_000_000);
    // Outputs under the sources never count.
    await touch(join(root, 'functions', 'node_modules', 'x', 'index.js'), 9_000_000);
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  const check = (stampContext = context) =>
    staleReason(outdir, stampContext, { root, sources: ['lib', 'functions'] });

  it('reuses an assembly made after the newest source, with the same context in any key order', async () => {
    await writeStamp(3_000_000);

    expect((await newestSource(root, ['lib', 'functions']))?.mtimeMs).toBe(2_000_000);
    expect(await check({ flags: { a: 2, b: 1 }, allowLoopbackCallbacks: true })).toBeUndefined();
  });

  it('synthesizes again when a source changed, the context changed, or there is no stamp', async () => {
    expect(await check()).toBe('no previous local synth');
    await writeStamp(3_000_000);
    expect(await check({ ...context, allowLoopbackCallbacks: false })).toBe('the context changed');
    await touch(join(root, 'lib', 'stack.ts'), 4_000_000);
    expect(await check()).toBe(`${join(root, 'lib', 'stack.ts')} changed`);
  });
});
