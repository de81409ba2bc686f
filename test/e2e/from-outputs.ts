import { readFile } from 'node:fs/promises';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { E2eTarget } from './setup.ts';

/**
 * The end-to-end suite's target from a deployed stack's outputs: the JSON that
 * `cdk deploy --outputs-file FILE` (or `cdklocal deploy …`) writes, `{ "MediaPipeline": { "ApiUrl": …,
 * "WebhookSecretArn": …, … } }`. test/e2e/setup.ts uses it when E2E_OUTPUTS_FILE is set; run as a script
 * it prints the equivalent E2E_* variables:
 *
 *   eval "$(npx tsx test/e2e/from-outputs.ts .local/localstack-outputs.json)"
 *
 * The API keys of two tenants come from E2E_API_KEY and E2E_OTHER_API_KEY (`npx media-pipeline keys
 * create --stack … --tenant …` makes them; E2E_OTHER_WEBHOOK_SECRET is the second tenant's webhook
 * secret it printed). The webhook secret is E2E_WEBHOOK_SECRET when set, else read from Secrets Manager with the SDK's
 * usual credentials; a LocalStack deployment (its URLs name localhost.localstack.cloud) is read at
 * AWS_ENDPOINT_URL or http://localhost:4566 with LocalStack's test credentials. A secret that cannot
 * be read leaves the webhook test skipped rather than the suite failed.
 */

const STACK_NAME = 'MediaPipeline';
const LOCALSTACK_ENDPOINT = 'http://localhost:4566';

export interface StackOutputs {
  ApiUrl: string;
  WebhookSecretArn?: string;
  [name: string]: string | undefined;
}

/** The MediaPipeline stack's outputs (or the only stack's) from a `cdk deploy --outputs-file` JSON. */
export const readStackOutputs = async (file: string): Promise<StackOutputs> => {
  const stacks = JSON.parse(await readFile(file, 'utf8')) as Record<string, Record<string, string>>;
  const names = Object.keys(stacks);
  const name = names.includes(STACK_NAME) ? STACK_NAME : names.length === 1 ? names[0] : undefined;
  const outputs = name === undefined ? undefined : stacks[name];
  if (!outputs?.ApiUrl) {
    throw new Error(
      `${file} has no ${STACK_NAME} stack with an ApiUrl output (stacks: ${names.join(', ') || 'none'}); ` +
        'write it with cdk deploy --outputs-file',
    );
  }
  return outputs as StackOutputs;
};

const isLocalStack = (url: string): boolean => {
  const host = new URL(url).hostname;
  return host === 'localhost' || host === '127.0.0.1' || host.endsWith('localhost.localstack.cloud');
};

/** Reads the webhook signing secret of the deployment; undefined (with a warning) when it cannot. */
export const readWebhookSecret = async (
  outputs: StackOutputs,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> => {
  const arn = outputs.WebhookSecretArn;
  if (!arn) return undefined;
  const local = isLocalStack(outputs.ApiUrl);
  const region = arn.split(':')[3] || env.AWS_REGION || 'us-east-1';
  const client = new SecretsManagerClient({
    region,
    maxAttempts: 2,
    ...(local
      ? {
          endpoint: env.AWS_ENDPOINT_URL ?? LOCALSTACK_ENDPOINT,
          credentials: {
            accessKeyId: env.AWS_ACCESS_KEY_ID ?? 'test',
            secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? 'test',
          },
        }
      : {}),
  });
  try {
    const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: arn }));
    return SecretString;
  } catch (error) {
    process.stderr.write(
      `e2e: could not read the webhook secret ${arn} (${(error as Error).message}); set E2E_WEBHOOK_SECRET\n`,
    );
    return undefined;
  } finally {
    client.destroy();
  }
};

/** The e2e target of a deployed stack, from its outputs file and the E2E_* variables. */
export const targetFromOutputs = async (
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<E2eTarget> => {
  const outputs = await readStackOutputs(file);
  return {
    // Function URLs end in a slash, stage URLs too; the suite appends paths that start with one.
    apiUrl: outputs.ApiUrl.replace(/\/+$/, ''),
    webhookSecret: env.E2E_WEBHOOK_SECRET ?? (await readWebhookSecret(outputs, env)),
    // A deployed function cannot call back to this machine's loopback address.
    loopbackCallbacks: env.E2E_LOOPBACK_CALLBACKS === 'true',
    apiKey: env.E2E_API_KEY,
    otherApiKey: env.E2E_OTHER_API_KEY,
    otherWebhookSecret: env.E2E_OTHER_WEBHOOK_SECRET,
  };
};

const shellQuote = (value: string): string => `'${value.replaceAll("'", `'\\''`)}'`;

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2] ?? process.env.E2E_OUTPUTS_FILE;
  if (!file) {
    process.stderr.write('usage: tsx test/e2e/from-outputs.ts <cdk outputs JSON>\n');
    process.exit(2);
  }
  const target = await targetFromOutputs(file);
  process.stdout.write(`export E2E_API_URL=${shellQuote(target.apiUrl)}\n`);
  const exports: Array<[string, string | undefined]> = [
    ['E2E_WEBHOOK_SECRET', target.webhookSecret],
    ['E2E_API_KEY', target.apiKey],
    ['E2E_OTHER_API_KEY', target.otherApiKey],
    ['E2E_OTHER_WEBHOOK_SECRET', target.otherWebhookSecret],
  ];
  for (const [name, value] of exports) {
    if (value) process.stdout.write(`export ${name}=${shellQuote(value)}\n`);
  }
}
