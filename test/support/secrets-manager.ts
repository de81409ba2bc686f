import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for Secrets Manager, which no emulator here provides: a tiny HTTP server speaking the
 * service's real JSON protocol (POST /, `X-Amz-Target: secretsmanager.<Operation>`, awsJson1_1 bodies),
 * so the unmodified SDK client, pointed at it with AWS_ENDPOINT_URL_SECRETS_MANAGER, reads from it.
 * It answers GetSecretValue only and ignores signatures, like the other emulators.
 */
export interface SecretsManagerEmulator {
  endpoint: string;
  /** Stores (or replaces) a secret string and returns its ARN; GetSecretValue accepts the name or the ARN. */
  putSecret(name: string, value: string): string;
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
    putSecret: (name, value) => {
      const existing = byName.get(name);
      // Real ARNs end in a random six-character suffix; clients must not build them from the name.
      const arn =
        existing?.arn ??
        `arn:aws:secretsmanager:${region}:${accountId}:secret:${name}-${randomBytes(3).toString('hex')}`;
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
