import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { LOCAL_CREDENTIALS, REGION } from '#test/emulators';
import { createTenantsTable } from '#test/tenants-table';
import { localTarget } from '../../cli/keys.ts';
import { credentialOf, run } from '../../cli/media-pipeline.ts';

const collect = () => {
  const chunks: string[] = [];
  return { write: (text: string) => void chunks.push(text), text: () => chunks.join('') };
};

/** Runs the CLI in-process; `fetch` answers the API calls and records what they sent. */
const cli = async (argv: string[], env: NodeJS.ProcessEnv = {}, answer?: (url: URL) => Response) => {
  const stdout = collect();
  const stderr = collect();
  const requests: Array<{ method: string; url: URL; authorization: string | undefined }> = [];
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    const headers = (init?.headers ?? {}) as Record<string, string>;
    requests.push({ method: init?.method ?? 'GET', url, authorization: headers.authorization });
    return answer?.(url) ?? new Response('{"message":"Not Found"}', { status: 404 });
  }) as typeof fetch;
  const code = await run(argv, { stdout, stderr, env, fetch: fetchImpl });
  return { code, stdout: stdout.text(), stderr: stderr.text(), requests };
};

const JOB = {
  id: 'job-1',
  status: 'done',
  preset: 'default',
  file_name: 'harbour.jpg',
  size: 2048,
  created_at: '2026-12-03T10:04:05.123Z',
  duplicate_of: null,
};

describe('the CLI’s credentials', () => {
  it('takes a flag over the environment, and the API key over nothing', () => {
    expect(credentialOf({ 'api-key': 'flag' }, { MEDIA_PIPELINE_API_KEY: 'env' })).toEqual({
      apiKey: 'flag',
    });
    expect(credentialOf({ token: 't' }, { MEDIA_PIPELINE_API_KEY: 'env' })).toEqual({ token: 't' });
    expect(credentialOf({}, { MEDIA_PIPELINE_API_KEY: 'env' })).toEqual({ apiKey: 'env' });
    expect(credentialOf({}, { MEDIA_PIPELINE_TOKEN: 'jwt' })).toEqual({ token: 'jwt' });
    expect(credentialOf({}, {})).toBeUndefined();
  });

  it('refuses two kinds of credential at once', async () => {
    const both = await cli(['list', '--api-key', 'a', '--token', 'b']);
    const bothEnv = await cli(['list'], { MEDIA_PIPELINE_API_KEY: 'a', MEDIA_PIPELINE_TOKEN: 'b' });

    expect(both.code).toBe(2);
    expect(both.stderr).toContain('pass --api-key or --token, not both');
    expect(bothEnv.code).toBe(2);
    expect(bothEnv.requests).toEqual([]);
  });

  it('sends the key from MEDIA_PIPELINE_API_KEY and lists a page with the hint to the next one', async () => {
    // Act
    const listed = await cli(
      ['list', '--status', 'done', '--limit', '1', '--api-url', 'http://api.test'],
      { MEDIA_PIPELINE_API_KEY: 'mpk_key' },
      () => Response.json({ items: [JOB], next_cursor: 'c2' }),
    );

    // Assess
    expect(listed.code).toBe(0);
    expect(
      listed.requests.map((r) => [r.method, `${r.url.pathname}${r.url.search}`, r.authorization]),
    ).toEqual([['GET', '/api/media/?limit=1&status=done', 'Bearer mpk_key']]);
    expect(listed.stdout.split('\n')).toEqual([
      'ID     STATUS  PRESET   FILE                   CREATED',
      '─────  ──────  ───────  ─────────────────────  ────────────────────',
      'job-1  done    default  harbour.jpg (2.0 KiB)  2026-12-03 10:04:05Z',
      '',
      'More jobs: media-pipeline list --status done --limit 1 --cursor c2',
      '',
    ]);
  });

  it('says how to pass a key when the API wants one, and exits 1', async () => {
    const refused = await cli(['delete', 'job-1', '--api-url', 'http://api.test'], {}, () =>
      Response.json({ message: 'Unauthorized' }, { status: 401 }),
    );

    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/none was sent: pass --api-key KEY or set MEDIA_PIPELINE_API_KEY/);
    expect(refused.requests.map((r) => `${r.method} ${r.url.pathname}`)).toEqual([
      'DELETE /api/media/job-1/',
    ]);
  });

  it.each([
    [['list', '--status', 'finished'], '--status must be one of awaiting_upload, queued'],
    [['list', '--limit', '101'], '--limit must be a whole number from 1 to 100'],
    [['list', 'extra'], 'list takes no arguments'],
    [['delete'], 'delete takes one job id'],
    [['keys'], 'keys needs a command: create, add-tenant, list, revoke, rotate-secret'],
    [['keys', 'create'], 'keys create needs --tenant NAME'],
    [['keys', 'revoke'], 'keys revoke takes one key id'],
    [['keys', 'list', '--finish'], '--finish goes with keys rotate-secret'],
    [['keys', 'list', '--region', 'eu-west-1'], '--region goes with --stack NAME'],
  ])('refuses %j as a usage error (exit 2)', async (argv, message) => {
    const result = await cli(argv);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.requests).toEqual([]);
  });
});

describe('media-pipeline keys, against a runtime’s Tenants table', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    // Prepare: a Tenants table in the test run's DynamoDB Local, and the runtime file that names it.
    const endpoint = inject('dynamodbEndpoint');
    const client = new DynamoDBClient({ endpoint, region: REGION, credentials: LOCAL_CREDENTIALS });
    const { tableName: table } = await createTenantsTable(client);
    client.destroy();
    dir = await mkdtemp(join(tmpdir(), 'media-cli-keys-'));
    await writeFile(
      join(dir, 'runtime.json'),
      JSON.stringify({
        pid: process.pid,
        apiUrl: 'http://127.0.0.1:3000',
        dynamodbEndpoint: endpoint,
        region: REGION,
        tenantsTable: table,
        jobsTable: 'jobs',
        authMode: 'api-key',
      }),
    );
    env = { MEDIA_PIPELINE_DATA_DIR: dir, NO_COLOR: '1' };
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('creates a key, lists it, revokes it, and rotates the tenant’s webhook secret', async () => {
    // Act: the first key of a new tenant, then a second one
    const first = await cli(['keys', 'create', '--tenant', 'acme'], env);
    const second = await cli(['keys', 'create', '--tenant', 'acme', '--json'], env);

    // Assess: the key is the last line; the webhook secret only when the tenant was made
    expect(first.code).toBe(0);
    const lines = first.stdout.trimEnd().split('\n');
    expect(lines.at(-1)).toMatch(/^mpk_[0-9a-f]{12}_[\w-]{43}$/);
    expect(first.stdout).toMatch(/^ {2}whsec_/m);
    const created = JSON.parse(second.stdout);
    expect(created).toEqual({
      key: expect.stringMatching(/^mpk_/),
      key_id: expect.stringMatching(/^[0-9a-f]{12}$/),
      tenant: 'acme',
      webhook_secret: null,
    });

    // Act + Assess: the listing names both, and a revoked key says when
    const revoked = await cli(['keys', 'revoke', created.key_id], env);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toMatch(/is revoked .*up to 5 minutes/);
    const listed = await cli(['keys', 'list', '--json'], env);
    const keys = JSON.parse(listed.stdout).keys as Array<{ key_id: string; revoked_at?: string }>;
    expect(keys.map((key) => key.key_id)).toContain(created.key_id);
    expect(keys.find((key) => key.key_id === created.key_id)?.revoked_at).toEqual(expect.any(String));
    const table = await cli(['keys', 'list'], env);
    expect(table.stdout).toMatch(/^KEY ID\s+TENANT\s+CREATED\s+REVOKED$/m);

    // Act + Assess: a rotation signs with two secrets until it is finished
    const rotated = await cli(['keys', 'rotate-secret', '--tenant', 'acme', '--json'], env);
    expect(JSON.parse(rotated.stdout).webhook_secrets).toHaveLength(2);
    const finished = await cli(['keys', 'rotate-secret', '--tenant', 'acme', '--finish', '--json'], env);
    expect(JSON.parse(finished.stdout).webhook_secrets).toEqual([
      JSON.parse(rotated.stdout).webhook_secrets[0],
    ]);
  });

  it('registers a tenant without a key (a JWT subject) with its own webhook secret, shown once', async () => {
    // Act
    const added = await cli(['keys', 'add-tenant', '--tenant', 'auth0|alice', '--json'], env);
    const again = await cli(['keys', 'add-tenant', '--tenant', 'auth0|alice'], env);
    const rotated = await cli(['keys', 'rotate-secret', '--tenant', 'auth0|alice', '--json'], env);

    // Assess
    expect(added.code).toBe(0);
    const secret = JSON.parse(added.stdout).webhook_secret as string;
    expect(JSON.parse(added.stdout)).toEqual({
      tenant: 'auth0|alice',
      created: true,
      webhook_secret: expect.stringMatching(/^whsec_/),
    });
    expect(again.stdout).toContain('exists already');
    expect(again.stdout).not.toContain('whsec_');
    expect(JSON.parse(rotated.stdout).webhook_secrets).toEqual([expect.any(String), secret]);
  });

  it('says what is wrong with a key id or a tenant it does not know, and exits 1', async () => {
    const unknown = await cli(['keys', 'revoke', '000000000000'], env);
    const nobody = await cli(['keys', 'rotate-secret', '--tenant', 'nobody'], env);

    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('there is no key with id 000000000000 [Key::NotFound]');
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toContain('there is no tenant nobody');
  });

  it('refuses a key where a key id goes, without printing the key', async () => {
    // Prepare: a key pasted where its id was wanted (revoke takes the id `keys list` shows).
    const key = `mpk_0123456789ab_${'s'.repeat(43)}`;

    // Act
    const pasted = await cli(['keys', 'revoke', key], env);

    // Assess
    expect(pasted.code).toBe(2);
    expect(pasted.stderr).toContain('keys revoke takes a key id');
    expect(pasted.stderr).toContain('0123456789ab');
    expect(`${pasted.stdout}${pasted.stderr}`).not.toContain('s'.repeat(43));
  });

  it('tells how to start the runtime when it is not running', async () => {
    // Act
    const missing = await cli(['keys', 'list'], { MEDIA_PIPELINE_DATA_DIR: join(dir, 'nowhere') });
    const stale = await localTarget(env, () => false).catch((error: unknown) => error);

    // Assess
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      /the local runtime is not running \(no .*runtime\.json\): start the runtime with npm start/,
    );
    expect(String(stale)).toMatch(/\(pid \d+\) is no longer running: start the runtime with npm start/);
  });
});
