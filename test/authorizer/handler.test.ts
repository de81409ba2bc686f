import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayRequestAuthorizerEventV2, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import type { TenantStore } from '#shared/tenants';
import { LOCAL_CREDENTIALS, REGION } from '#test/emulators';
import { lambdaContext } from '#test/lambda-context';
import { createTenantsTable } from '#test/tenants-table';
import type { AuthorizerResult } from '../../functions/authorizer/handler.ts';

type Handler = (event: APIGatewayRequestAuthorizerEventV2, context: Context) => Promise<AuthorizerResult>;

let client: DynamoDBClient;
let tenants: TenantStore;
let handler: Handler;

const importHandler = async (): Promise<Handler> =>
  (await import('../../functions/authorizer/handler.ts')).handler;

/** The event API Gateway sends a payload 2.0 REQUEST authorizer whose identity source is the header. */
const authorizerEvent = (authorization?: string): APIGatewayRequestAuthorizerEventV2 => ({
  version: '2.0',
  type: 'REQUEST',
  routeArn: 'arn:aws:execute-api:us-east-1:123456789012:abc123/$default/GET/api/media/42',
  identitySource: authorization === undefined ? [] : [authorization],
  routeKey: 'GET /api/media/{id}',
  rawPath: '/api/media/42',
  rawQueryString: '',
  cookies: [],
  headers: {
    host: 'abc123.execute-api.us-east-1.amazonaws.com',
    ...(authorization === undefined ? {} : { authorization }),
  },
  queryStringParameters: {},
  requestContext: {
    accountId: '123456789012',
    apiId: 'abc123',
    domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
    domainPrefix: 'abc123',
    http: {
      method: 'GET',
      path: '/api/media/42',
      protocol: 'HTTP/1.1',
      sourceIp: '203.0.113.7',
      userAgent: 'vitest',
    },
    requestId: 'req-1',
    routeKey: 'GET /api/media/{id}',
    stage: '$default',
    time: new Date().toUTCString(),
    timeEpoch: Date.now(),
  },
  pathParameters: { id: '42' },
  stageVariables: {},
});

const authorize = (authorization?: string, invoke: Handler = handler) =>
  invoke(authorizerEvent(authorization), lambdaContext('authorizer'));

beforeAll(async () => {
  const endpoint = inject('dynamodbEndpoint');
  const env: Record<string, string> = {
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: endpoint,
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_DEV: 'true',
  };
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  client = new DynamoDBClient({ region: REGION, credentials: LOCAL_CREDENTIALS, endpoint });
  const table = await createTenantsTable(client);
  vi.stubEnv('TENANTS_TABLE', table.tableName);
  handler = await importHandler();
  tenants = await table.tenants();
});
afterAll(() => {
  vi.unstubAllEnvs();
  client.destroy();
});

describe('the API key authorizer', () => {
  it('authorizes a live key and passes its tenant and key id on', async () => {
    // Prepare
    const { key, key_id } = await tenants.createKey('acme');

    // Act
    const result = await authorize(`Bearer ${key}`);

    // Assess
    expect(result).toEqual({ isAuthorized: true, context: { tenant: 'acme', key_id } });
  });

  it('reads the scheme case-insensitively, as HTTP says', async () => {
    // Prepare
    const { key } = await tenants.createKey('acme');

    // Act / Assess
    expect(await authorize(`bearer ${key}`)).toMatchObject({ isAuthorized: true });
  });

  it('refuses a revoked key', async () => {
    // Prepare
    const { key, key_id } = await tenants.createKey('acme');
    await tenants.revokeKey(key_id);

    // Act / Assess
    expect(await authorize(`Bearer ${key}`)).toEqual({ isAuthorized: false });
  });

  it.each([
    ['an unknown key of the right form', `Bearer mpk_0123456789ab_${'A'.repeat(43)}`],
    ['a key without its scheme', `mpk_0123456789ab_${'A'.repeat(43)}`],
    ['another scheme', 'Basic dXNlcjpwYXNzd29yZA=='],
    ['an empty bearer', 'Bearer '],
    ['an oversized credential', `Bearer ${'x'.repeat(4096)}`],
    ['two credentials', 'Bearer one two'],
  ])('refuses %s', async (_case, authorization) => {
    // Act / Assess
    expect(await authorize(authorization)).toEqual({ isAuthorized: false });
  });

  it('refuses a request without an Authorization header (API Gateway answers 401 before asking)', async () => {
    // Act / Assess
    expect(await authorize(undefined)).toEqual({ isAuthorized: false });
  });

  it('never writes the key into its logs', async () => {
    // Prepare: a handler whose logger writes INFO lines
    const { key } = await tenants.createKey('acme');
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'DEBUG');
    vi.resetModules();
    const loud = await importHandler();
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
    const lines: string[] = [];
    const capture = (line: unknown) => {
      lines.push(String(line));
    };
    const spies = (['debug', 'info', 'warn', 'error', 'log'] as const).map((level) =>
      vi.spyOn(console, level).mockImplementation(capture),
    );

    // Act
    try {
      await authorize(`Bearer ${key}`, loud);
      await authorize(`Bearer ${key.slice(0, -1)}x`, loud);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }

    // Assess
    expect(lines.length).toBeGreaterThan(0);
    const secretPart = key.slice(key.lastIndexOf('_') + 1);
    for (const line of lines) expect(line).not.toContain(secretPart.slice(0, 20));
  });

  it('throws when the table cannot be read, so API Gateway answers 500 and caches nothing', async () => {
    // Prepare: a cold start pointed at a table that does not exist
    vi.stubEnv('TENANTS_TABLE', 'no-such-tenants-table');
    vi.resetModules();
    const broken = await importHandler();

    // Act / Assess
    await expect(authorize(`Bearer mpk_0123456789ab_${'A'.repeat(43)}`, broken)).rejects.toThrow(
      /non-existent table|ResourceNotFound|Cannot do operations/i,
    );
  });
});
