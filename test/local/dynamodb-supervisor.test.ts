import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SupervisedDynamoDb, superviseDynamoDb } from '../../local/dynamodb-supervisor.ts';
import { startDynamoDb } from '../../local/emulators.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../local/types.ts';

/** DynamoDB Local killed under a running runtime, and one orphaned by a runtime that was SIGKILLed. */
let dataDir: string;
let supervised: SupervisedDynamoDb | undefined;
const logged: string[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'ddb-supervised-'));
});
afterAll(async () => {
  await supervised?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

const clientFor = (endpoint: string) =>
  new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, maxAttempts: 1 });

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('DynamoDB Local under supervision', () => {
  it('stops one a previous run left behind on the data directory, then starts its own', async () => {
    // Prepare: an orphan from a runtime that died, recorded in the data directory
    const orphan = await startDynamoDb({ dbPath: join(dataDir, 'orphan-db'), detached: true });
    const orphanPid = orphan.process.pid ?? 0;
    await writeFile(join(dataDir, 'dynamodb-local.pid'), String(orphanPid));
    const orphanExited = once(orphan.process, 'exit');

    // Act
    supervised = await superviseDynamoDb({
      dataDir,
      dbPath: join(dataDir, 'db'),
      log: (m) => logged.push(m),
    });

    // Assess
    await orphanExited;
    expect(isRunning(orphanPid)).toBe(false);
    expect(logged[0]).toMatch(/stopping DynamoDB Local \(pid \d+\) left running by a previous run/);
    expect(await readFile(join(dataDir, 'dynamodb-local.pid'), 'utf8')).toBe(String(supervised.pid()));
  });

  it('says so when DynamoDB Local dies, and restarts it on the same data and port', async () => {
    // Prepare: a table with an item
    if (!supervised) throw new Error('the previous test starts it');
    const client = clientFor(supervised.endpoint);
    await client.send(
      new CreateTableCommand({
        TableName: 'jobs',
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      }),
    );
    await client.send(new PutItemCommand({ TableName: 'jobs', Item: { pk: { S: 'job-1' } } }));
    const before = supervised.pid() ?? 0;
    const restarted = once(supervised.events, 'restarted');

    // Act: killed as an OOM killer would
    process.kill(before, 'SIGKILL');
    await restarted;

    // Assess
    expect(supervised.pid()).not.toBe(before);
    expect(logged).toContain(
      `DynamoDB Local exited (SIGKILL); restarting it on the same data (${join(dataDir, 'db')})`,
    );
    expect((await client.send(new ListTablesCommand({}))).TableNames).toEqual(['jobs']);
    const item = await client.send(new GetItemCommand({ TableName: 'jobs', Key: { pk: { S: 'job-1' } } }));
    expect(item.Item?.pk?.S).toBe('job-1');
    client.destroy();
  });
});
