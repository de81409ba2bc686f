import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { TENANTS_TABLE_KEYS, TenantStore } from '#shared/tenants';

let counter = 0;

/**
 * A tenants table in the run's DynamoDB Local, keyed as lib/api-auth.ts declares it (the one place the
 * tests make one: createTestEnvironment's, the CLI's, and the tests' of their own), under `tableName`
 * or a name of its own; and the TenantStore over it through the functions' own DynamoDB client (imported
 * only when asked, after the environment is stubbed, as a handler would at cold start).
 */
export const createTenantsTable = async (
  client: DynamoDBClient,
  tableName = `tenants-${process.pid}-${Date.now().toString(36)}-${counter++}`,
): Promise<{ tableName: string; tenants: () => Promise<TenantStore> }> => {
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: TENANTS_TABLE_KEYS.partitionKey, AttributeType: 'S' }],
      KeySchema: [{ AttributeName: TENANTS_TABLE_KEYS.partitionKey, KeyType: 'HASH' }],
    }),
  );
  return {
    tableName,
    tenants: async () => {
      const { dynamodb } = await import('#shared/aws-clients');
      return new TenantStore(dynamodb, tableName);
    },
  };
};
