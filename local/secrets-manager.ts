import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { constructName } from './cdk-metadata.ts';
import type { CfnResource, CfnTemplate, LocalSecrets } from './types.ts';

/**
 * The local runtime's substitute for Secrets Manager, which no emulator here provides (the tests use it
 * too): a tiny HTTP server speaking the service's real JSON protocol (POST /, `X-Amz-Target:
 * secretsmanager.<Operation>`, awsJson1_1 bodies), so the unmodified SDK client, pointed at it with
 * AWS_ENDPOINT_URL_SECRETS_MANAGER, reads from it. It answers GetSecretValue only and ignores
 * signatures, like the other emulators. Secrets are registered in-process while it runs: provisioning
 * registers the template's secrets (local/resources/secrets-manager.ts), a test its own.
 */
export interface SecretsManagerEmulator {
  endpoint: string;
  /**
   * Stores (or replaces) a secret string and returns its ARN; GetSecretValue accepts the name or the ARN.
   * The ARN is the one given, else the secret's existing one, else a new one with a random suffix.
   */
  putSecret(name: string, value: string, options?: { arn?: string }): string;
  close(): Promise<void>;
}

interface StoredSecret {
  arn: string;
  name: string;
  value: string;
  versionId: string;
  createdAt: number;
}

const JSON_CONTENT_TYPE = 'application/x-amz-json-1.1';

const send = (response: ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': JSON_CONTENT_TYPE,
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
  });
  response.end(text);
};

const clientError = (response: ServerResponse, type: string, message: string) =>
  send(response, 400, { __type: type, message, Message: message });

const readBody = async (request: IncomingMessage): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};

export const startSecretsManager = async (
  options: { region?: string; accountId?: string } = {},
): Promise<SecretsManagerEmulator> => {
  const { region = 'us-east-1', accountId = '000000000000' } = options;
  const byName = new Map<string, StoredSecret>();
  const byArn = new Map<string, StoredSecret>();

  const getSecretValue = (response: ServerResponse, input: unknown) => {
    const secretId = (input as { SecretId?: unknown } | null)?.SecretId;
    if (typeof secretId !== 'string' || secretId === '') {
      return clientError(response, 'InvalidParameterException', 'SecretId is required.');
    }
    const secret = byArn.get(secretId) ?? byName.get(secretId);
    if (!secret) {
      return clientError(
        response,
        'ResourceNotFoundException',
        "Secrets Manager can't find the specified secret.",
      );
    }
    return send(response, 200, {
      ARN: secret.arn,
      Name: secret.name,
      SecretString: secret.value,
      VersionId: secret.versionId,
      VersionStages: ['AWSCURRENT'],
      CreatedDate: secret.createdAt,
    });
  };

  const server = createServer(async (request, response) => {
    try {
      const target = request.headers['x-amz-target'];
      const body = await readBody(request);
      if (request.method !== 'POST' || typeof target !== 'string' || !target.startsWith('secretsmanager.')) {
        return clientError(
          response,
          'UnknownOperationException',
          'expected a POST with X-Amz-Target: secretsmanager.*',
        );
      }
      let input: unknown;
      try {
        input = body === '' ? {} : JSON.parse(body);
      } catch {
        return clientError(response, 'SerializationException', 'the request body is not JSON');
      }
      if (target === 'secretsmanager.GetSecretValue') return getSecretValue(response, input);
      return clientError(
        response,
        'UnknownOperationException',
        `${target} is not implemented by this emulator`,
      );
    } catch (error) {
      send(response, 500, { __type: 'InternalServiceError', message: String(error) });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    putSecret: (name, value, options = {}) => {
      const existing = byName.get(name);
      // Real ARNs end in a random six-character suffix; clients must not build them from the name.
      const arn =
        options.arn ??
        existing?.arn ??
        `arn:aws:secretsmanager:${region}:${accountId}:secret:${name}-${randomBytes(3).toString('hex')}`;
      if (existing && existing.arn !== arn) byArn.delete(existing.arn);
      const secret = { arn, name, value, versionId: randomUUID(), createdAt: Math.floor(Date.now() / 1000) };
      byName.set(name, secret);
      byArn.set(arn, secret);
      return arn;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
};

/**
 * What provisioning registers the template's secrets through: `overrides` (by logical id) replace the
 * value a secret would get, the rest is generated and kept by provisioning.
 */
export const localSecrets = (
  emulator: Pick<SecretsManagerEmulator, 'putSecret'>,
  overrides: Readonly<Record<string, string>> = {},
): LocalSecrets => ({
  valueFor: (logicalId) => overrides[logicalId],
  register: ({ name, arn, value }) => {
    emulator.putSecret(name, value, { arn });
  },
});

/**
 * The environment variable that overrides a secret's value: its construct id in SCREAMING_SNAKE_CASE,
 * from the resource's `aws:cdk:path` (`MediaPipeline/Notifications/WebhookSecret/Resource` →
 * `WEBHOOK_SECRET`), else from its logical id.
 */
export const secretEnvironmentName = (logicalId: string, resource: CfnResource): string => {
  const id = constructName(resource) ?? logicalId;
  return id
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .toUpperCase();
};

/**
 * The secrets of `template` whose value `env` overrides, by logical id: `WEBHOOK_SECRET=…` sets the
 * secret whose construct id is WebhookSecret, so a developer can sign webhooks with a key their
 * receiver already knows.
 */
export const secretOverridesFromEnvironment = (
  template: CfnTemplate,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Record<string, string> => {
  const overrides: Record<string, string> = {};
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::SecretsManager::Secret') continue;
    const value = env[secretEnvironmentName(logicalId, resource)];
    if (value !== undefined && value !== '') overrides[logicalId] = value;
  }
  return overrides;
};

/** GenerateSecretString of AWS::SecretsManager::Secret (the options of Secrets Manager's GetRandomPassword). */
export interface GenerateSecretStringSpec {
  PasswordLength?: number;
  ExcludeCharacters?: string;
  ExcludeLowercase?: boolean;
  ExcludeUppercase?: boolean;
  ExcludeNumbers?: boolean;
  ExcludePunctuation?: boolean;
  IncludeSpace?: boolean;
  RequireEachIncludedType?: boolean;
  SecretStringTemplate?: string;
  GenerateStringKey?: string;
}

const LOWERCASE = 'abcdefghijklmnopqrstuvwxyz';
const UPPERCASE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const NUMBERS = '0123456789';
const PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

const randomIndex = (size: number): number => {
  // Rejection sampling keeps every character equally likely.
  const limit = 256 - (256 % size);
  for (;;) {
    const [byte = 0] = randomBytes(1);
    if (byte < limit) return byte % size;
  }
};

/** A value as Secrets Manager generates it for GenerateSecretString (defaults: 32 characters, every type). */
export const generateSecretValue = (spec: GenerateSecretStringSpec = {}): string => {
  const length = spec.PasswordLength ?? 32;
  const excluded = new Set(spec.ExcludeCharacters ?? '');
  const keep = (characters: string) =>
    [...characters].filter((character) => !excluded.has(character)).join('');
  const groups = [
    spec.ExcludeLowercase ? '' : keep(LOWERCASE),
    spec.ExcludeUppercase ? '' : keep(UPPERCASE),
    spec.ExcludeNumbers ? '' : keep(NUMBERS),
    spec.ExcludePunctuation ? '' : keep(PUNCTUATION),
    spec.IncludeSpace ? keep(' ') : '',
  ].filter((group) => group !== '');
  const alphabet = groups.join('');
  if (alphabet === '' || length < 1 || length > 4096) {
    throw new Error(`GenerateSecretString ${JSON.stringify(spec)} leaves nothing to generate a secret from`);
  }
  const requireEach = spec.RequireEachIncludedType ?? true;
  for (;;) {
    const value = Array.from({ length }, () => alphabet[randomIndex(alphabet.length)]).join('');
    const complete =
      !requireEach ||
      length < groups.length ||
      groups.every((group) => [...value].some((c) => group.includes(c)));
    if (!complete) continue;
    if (spec.GenerateStringKey === undefined) return value;
    const template = JSON.parse(spec.SecretStringTemplate ?? '{}') as Record<string, unknown>;
    return JSON.stringify({ ...template, [spec.GenerateStringKey]: value });
  }
};
