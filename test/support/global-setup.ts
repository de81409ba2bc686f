import type { TestProject } from 'vitest/node';
import { startDynamoDb } from '../../local/emulators.ts';

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

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dynamodb = await startDynamoDb();
  project.provide('dynamodbEndpoint', dynamodb.endpoint);
  return () => dynamodb.stop();
}
