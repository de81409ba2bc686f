import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SecretsManagerEmulator, startSecretsManager } from '../../local/secrets-manager.ts';
import { readStackOutputs, targetFromOutputs } from '../e2e/from-outputs.ts';

/**
 * The end-to-end suite pointed at a deployed stack through its `cdk deploy --outputs-file` JSON
 * (E2E_OUTPUTS_FILE, test/e2e/from-outputs.ts). The local Secrets Manager substitute stands in for
 * LocalStack's at AWS_ENDPOINT_URL.
 */

const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:WebhookSecret-abc123-XyZ9';

let root: string;
let secrets: SecretsManagerEmulator;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'media-pipeline-outputs-'));
  secrets = await startSecretsManager();
  secrets.putSecret('WebhookSecret-abc123', 'AbCdEf0123456789AbCdEf0123456789', { arn: SECRET_ARN });
});
afterAll(async () => {
  await secrets?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

const outputsFile = async (stacks: unknown): Promise<string> => {
  const file = join(root, `outputs-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(file, JSON.stringify(stacks));
  return file;
};

describe('the e2e target from a deployed stack’s outputs', () => {
  it('takes the API URL without its trailing slash and reads the webhook secret from LocalStack', async () => {
    // Prepare: what cdklocal deploy --outputs-file writes for the localstack variant.
    const file = await outputsFile({
      MediaPipeline: {
        ApiUrl: 'http://abcdefgh.lambda-url.us-east-1.localhost.localstack.cloud:4566/',
        WebhookSecretArn: SECRET_ARN,
        UploadsBucketName: 'mediapipeline-uploads-1234',
      },
    });
    // Act
    const target = await targetFromOutputs(file, { AWS_ENDPOINT_URL: secrets.endpoint });
    // Assess
    expect(target).toEqual({
      apiUrl: 'http://abcdefgh.lambda-url.us-east-1.localhost.localstack.cloud:4566',
      webhookSecret: 'AbCdEf0123456789AbCdEf0123456789',
      loopbackCallbacks: false,
    });
  });

  it('prefers E2E_WEBHOOK_SECRET and E2E_LOOPBACK_CALLBACKS when they are set, and takes the API keys', async () => {
    // Prepare
    const file = await outputsFile({
      MediaPipeline: {
        ApiUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com/',
        WebhookSecretArn: SECRET_ARN,
      },
    });
    // Act
    const target = await targetFromOutputs(file, {
      E2E_WEBHOOK_SECRET: 'whsec_given',
      E2E_LOOPBACK_CALLBACKS: 'true',
      E2E_API_KEY: 'mpk_000000000001_key-of-the-first-tenant',
      E2E_OTHER_API_KEY: 'mpk_000000000002_key-of-the-second-tenant',
      E2E_OTHER_WEBHOOK_SECRET: 'whsec_other',
    });
    // Assess
    expect(target).toEqual({
      apiUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com',
      webhookSecret: 'whsec_given',
      loopbackCallbacks: true,
      apiKey: 'mpk_000000000001_key-of-the-first-tenant',
      otherApiKey: 'mpk_000000000002_key-of-the-second-tenant',
      otherWebhookSecret: 'whsec_other',
    });
  });

  it('refuses a file without the stack’s ApiUrl, naming the stacks it has', async () => {
    // Prepare
    const file = await outputsFile({ CDKToolkit: { BucketName: 'x' }, Other: {} });
    // Act and Assess
    await expect(readStackOutputs(file)).rejects.toThrow(/no MediaPipeline stack.*CDKToolkit, Other/);
  });
});
