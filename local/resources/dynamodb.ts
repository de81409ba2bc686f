/**
 * DynamoDB tables on DynamoDB Local: created with their key, indexes, stream and time to live. On
 * existing data, global secondary indexes, the stream and the TTL are brought in line; a changed key or
 * local secondary index cannot be (DynamoDB fixes them at creation), so that stops with what to do.
 */
import {
  type AttributeDefinition,
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
  type KeySchemaElement,
  type LocalSecondaryIndex,
  ResourceNotFoundException,
  type StreamSpecification,
  type TableDescription,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../types.ts';
import { ProvisionError, type Provisioner } from './context.ts';
import { declaredOrPhysicalName, NAME_RULES, sameJson } from './names.ts';
import { accepted, emulated, type ResourceSupport, TAGS } from './support-entry.ts';

export const support: Readonly<Record<string, ResourceSupport>> = {
  'AWS::DynamoDB::Table': {
    kind: 'emulated',
    emulation: 'DynamoDB Local table',
    properties: {
      TableName: emulated(),
      KeySchema: emulated(),
      AttributeDefinitions: emulated(),
      BillingMode: emulated('DynamoDB Local does not enforce capacity'),
      ProvisionedThroughput: emulated('DynamoDB Local does not enforce capacity'),
      GlobalSecondaryIndexes: emulated(),
      LocalSecondaryIndexes: emulated(),
      TimeToLiveSpecification: emulated('UpdateTimeToLive'),
      StreamSpecification: emulated(),
      PointInTimeRecoverySpecification: accepted('no backups locally'),
      SSESpecification: accepted('DynamoDB Local does not encrypt'),
      DeletionProtectionEnabled: accepted('the runtime never deletes tables'),
      ContributorInsightsSpecification: accepted('no CloudWatch locally'),
      TableClass: accepted('no storage classes locally'),
      Tags: TAGS,
    },
  },
};

/** The table as the template declares it, in the DynamoDB API's terms. */
interface TableDeclaration {
  name: string;
  keySchema: KeySchemaElement[];
  attributeDefinitions: AttributeDefinition[];
  billingMode: 'PAY_PER_REQUEST' | 'PROVISIONED';
  capacity: { ProvisionedThroughput?: { ReadCapacityUnits: number; WriteCapacityUnits: number } };
  globalIndexes: GlobalSecondaryIndex[];
  localIndexes: LocalSecondaryIndex[];
  streamViewType: string | undefined;
  stream: StreamSpecification;
}

const declarationOf = (properties: Record<string, unknown>, name: string): TableDeclaration => {
  const streamViewType = (properties.StreamSpecification as { StreamViewType?: string } | undefined)
    ?.StreamViewType;
  const billingMode = ((properties.BillingMode as string | undefined) ??
    'PROVISIONED') as TableDeclaration['billingMode'];
  const throughput = properties.ProvisionedThroughput as
    | { ReadCapacityUnits: number; WriteCapacityUnits: number }
    | undefined;
  const capacity =
    billingMode === 'PAY_PER_REQUEST'
      ? {}
      : {
          ProvisionedThroughput: {
            ReadCapacityUnits: Number(throughput?.ReadCapacityUnits ?? 5),
            WriteCapacityUnits: Number(throughput?.WriteCapacityUnits ?? 5),
          },
        };
  const declaredGlobal = (properties.GlobalSecondaryIndexes as GlobalSecondaryIndex[] | undefined) ?? [];
  const declaredLocal = (properties.LocalSecondaryIndexes as LocalSecondaryIndex[] | undefined) ?? [];
  return {
    name,
    keySchema: properties.KeySchema as KeySchemaElement[],
    attributeDefinitions: properties.AttributeDefinitions as AttributeDefinition[],
    billingMode,
    capacity,
    globalIndexes: declaredGlobal.map((index) => ({
      IndexName: index.IndexName,
      KeySchema: index.KeySchema,
      Projection: index.Projection,
      ...(billingMode === 'PAY_PER_REQUEST' ? {} : capacity),
    })),
    localIndexes: declaredLocal.map((index) => ({
      IndexName: index.IndexName,
      KeySchema: index.KeySchema,
      Projection: index.Projection,
    })),
    streamViewType,
    stream: streamViewType
      ? { StreamEnabled: true, StreamViewType: streamViewType as StreamSpecification['StreamViewType'] }
      : { StreamEnabled: false },
  };
};

const createTable = async (dynamodb: DynamoDBClient, table: TableDeclaration): Promise<void> => {
  await dynamodb.send(
    new CreateTableCommand({
      TableName: table.name,
      KeySchema: table.keySchema,
      AttributeDefinitions: table.attributeDefinitions,
      BillingMode: table.billingMode,
      ...table.capacity,
      ...(table.globalIndexes.length ? { GlobalSecondaryIndexes: table.globalIndexes } : {}),
      ...(table.localIndexes.length ? { LocalSecondaryIndexes: table.localIndexes } : {}),
      ...(table.stream.StreamEnabled ? { StreamSpecification: table.stream } : {}),
    }),
  );
};

/** Brings an existing table's indexes and stream in line with the template; returns what changed. */
const updateTable = async (
  dynamodb: DynamoDBClient,
  existing: TableDescription,
  table: TableDeclaration,
  path: string,
): Promise<string[]> => {
  const { name } = table;
  if (!sameJson(existing.KeySchema, table.keySchema)) {
    throw new ProvisionError(
      `${path}: table ${name} exists with the key ${JSON.stringify(existing.KeySchema)}, but the template ` +
        `declares ${JSON.stringify(table.keySchema)}; a key cannot change: delete the local data to start over`,
    );
  }
  const existingLocal = (existing.LocalSecondaryIndexes ?? []).map((index) => index.IndexName).sort();
  if (!sameJson(existingLocal, table.localIndexes.map((index) => index.IndexName).sort())) {
    throw new ProvisionError(
      `${path}: table ${name} has other local secondary indexes than the template declares; they cannot ` +
        'change after creation: delete the local data to start over',
    );
  }
  const changes: string[] = [];
  const existingGlobal = new Set((existing.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName));
  const declared = new Set(table.globalIndexes.map((index) => index.IndexName));
  for (const index of table.globalIndexes.filter((index) => !existingGlobal.has(index.IndexName))) {
    await dynamodb.send(
      new UpdateTableCommand({
        TableName: name,
        AttributeDefinitions: table.attributeDefinitions,
        GlobalSecondaryIndexUpdates: [{ Create: index }],
      }),
    );
    changes.push(`index ${index.IndexName} created`);
  }
  for (const indexName of [...existingGlobal].filter((indexName) => !declared.has(indexName))) {
    await dynamodb.send(
      new UpdateTableCommand({
        TableName: name,
        GlobalSecondaryIndexUpdates: [{ Delete: { IndexName: indexName } }],
      }),
    );
    changes.push(`index ${indexName} deleted`);
  }
  const currentStream = existing.StreamSpecification?.StreamEnabled
    ? existing.StreamSpecification.StreamViewType
    : undefined;
  if (currentStream !== table.streamViewType) {
    if (currentStream) {
      await dynamodb.send(
        new UpdateTableCommand({ TableName: name, StreamSpecification: { StreamEnabled: false } }),
      );
    }
    if (table.stream.StreamEnabled) {
      await dynamodb.send(new UpdateTableCommand({ TableName: name, StreamSpecification: table.stream }));
    }
    changes.push(`stream ${currentStream ?? 'off'} → ${table.streamViewType ?? 'off'}`);
  }
  return changes;
};

/** Brings the table's time to live in line with the template; returns the change, if any. */
const applyTimeToLive = async (
  dynamodb: DynamoDBClient,
  name: string,
  specification: unknown,
): Promise<string | undefined> => {
  const ttl = specification as { AttributeName?: string; Enabled?: boolean } | undefined;
  const wantedTtl = ttl && String(ttl.Enabled) === 'true' ? ttl.AttributeName : undefined;
  const { TimeToLiveDescription: currentTtl } = await dynamodb.send(
    new DescribeTimeToLiveCommand({ TableName: name }),
  );
  const enabledTtl =
    currentTtl?.TimeToLiveStatus === 'ENABLED' || currentTtl?.TimeToLiveStatus === 'ENABLING'
      ? currentTtl.AttributeName
      : undefined;
  if (enabledTtl === wantedTtl) return undefined;
  if (enabledTtl) {
    await dynamodb.send(
      new UpdateTimeToLiveCommand({
        TableName: name,
        TimeToLiveSpecification: { AttributeName: enabledTtl, Enabled: false },
      }),
    );
  }
  if (wantedTtl) {
    await dynamodb.send(
      new UpdateTimeToLiveCommand({
        TableName: name,
        TimeToLiveSpecification: { AttributeName: wantedTtl, Enabled: true },
      }),
    );
  }
  return `TTL ${enabledTtl ?? 'off'} → ${wantedTtl ?? 'off'}`;
};

const provisionTable: Provisioner = async (context, logicalId, resource) => {
  const { dynamodb } = context.clients;
  const properties = context.propertiesOf(logicalId, resource);
  const name = declaredOrPhysicalName(properties.TableName, context.stackName, logicalId, NAME_RULES.table);
  const table = declarationOf(properties, name);

  const existing = await dynamodb
    .send(new DescribeTableCommand({ TableName: name }))
    .then((response) => response.Table)
    .catch((error: unknown) => {
      if (error instanceof ResourceNotFoundException) return undefined;
      throw error;
    });
  const created = existing === undefined;
  const changes: string[] = [];
  if (existing) changes.push(...(await updateTable(dynamodb, existing, table, `Resources.${logicalId}`)));
  else await createTable(dynamodb, table);
  const ttlChange = await applyTimeToLive(dynamodb, name, properties.TimeToLiveSpecification);
  // A new table's TTL is part of its creation, not a change to report.
  if (ttlChange && !created) changes.push(ttlChange);
  context.recordChanges(logicalId, resource.Type, created, changes);

  const latest = table.stream.StreamEnabled
    ? ((await dynamodb.send(new DescribeTableCommand({ TableName: name }))).Table?.LatestStreamArn ??
      undefined)
    : undefined;
  return {
    type: resource.Type,
    ref: name,
    attributes: {
      Arn: `arn:aws:dynamodb:${LOCAL_REGION}:${LOCAL_ACCOUNT}:table/${name}`,
      ...(latest ? { StreamArn: latest } : {}),
    },
  };
};

export const provisioners: Readonly<Record<string, Provisioner>> = {
  'AWS::DynamoDB::Table': provisionTable,
};
