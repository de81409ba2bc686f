import { DescribeTableCommand, DescribeTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProvisioningHarness, startProvisioning } from '#test/provisioning';
import { ProvisionError } from '../../../local/provision.ts';
import type { CfnResource } from '../../../local/types.ts';

let harness: ProvisioningHarness;

beforeAll(async () => {
  harness = await startProvisioning();
});

afterAll(async () => {
  await harness?.close();
});

const key = [
  { AttributeName: 'pk', KeyType: 'HASH' },
  { AttributeName: 'sk', KeyType: 'RANGE' },
];
const byStatus = {
  IndexName: 'byStatus',
  KeySchema: [{ AttributeName: 'status', KeyType: 'HASH' }],
  Projection: { ProjectionType: 'KEYS_ONLY' },
};
const byOwner = {
  IndexName: 'byOwner',
  KeySchema: [{ AttributeName: 'owner', KeyType: 'HASH' }],
  Projection: { ProjectionType: 'ALL' },
};
const byCreated = {
  IndexName: 'byCreated',
  KeySchema: [
    { AttributeName: 'pk', KeyType: 'HASH' },
    { AttributeName: 'createdAt', KeyType: 'RANGE' },
  ],
  Projection: { ProjectionType: 'ALL' },
};

/** A pay-per-request table with a GSI, an LSI, a stream and a TTL, unless `properties` say otherwise. */
const table = (overrides: Record<string, unknown> = {}): CfnResource => {
  const properties: Record<string, unknown> = {
    KeySchema: key,
    BillingMode: 'PAY_PER_REQUEST',
    GlobalSecondaryIndexes: [byStatus],
    LocalSecondaryIndexes: [byCreated],
    StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
    TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    ...overrides,
  };
  // DynamoDB refuses attribute definitions that no key or index uses, so they follow the keys.
  const keys = [
    properties.KeySchema,
    ...[properties.GlobalSecondaryIndexes, properties.LocalSecondaryIndexes].flatMap((indexes) =>
      ((indexes as { KeySchema: unknown }[] | undefined) ?? []).map((index) => index.KeySchema),
    ),
  ].flatMap((schema) => (schema as { AttributeName: string }[]).map((element) => element.AttributeName));
  const AttributeDefinitions = [...new Set(keys)].map((name) => ({
    AttributeName: name,
    AttributeType: 'S',
  }));
  return { Type: 'AWS::DynamoDB::Table', Properties: { ...properties, AttributeDefinitions } };
};

const describeTable = async (name: string) => {
  const [{ Table }, { TimeToLiveDescription }] = await Promise.all([
    harness.clients.dynamodb.send(new DescribeTableCommand({ TableName: name })),
    harness.clients.dynamodb.send(new DescribeTimeToLiveCommand({ TableName: name })),
  ]);
  return { table: Table, ttl: TimeToLiveDescription };
};

describe('AWS::DynamoDB::Table', () => {
  it('creates the table with its key, indexes, stream and time to live', async () => {
    const provisioned = await harness.provision({ Resources: { Jobs: table() } });
    const resolved = provisioned.resources.Jobs;
    const { table: created, ttl } = await describeTable(resolved?.ref ?? '');

    expect(resolved?.ref).toMatch(new RegExp(`^${harness.stackName}-Jobs-[0-9a-f]{8}$`));
    expect(provisioned.actions).toEqual([
      { logicalId: 'Jobs', type: 'AWS::DynamoDB::Table', action: 'created' },
    ]);
    expect(created?.KeySchema).toEqual(key);
    expect(created?.BillingModeSummary?.BillingMode ?? 'PAY_PER_REQUEST').toBe('PAY_PER_REQUEST');
    expect(created?.GlobalSecondaryIndexes).toEqual([expect.objectContaining(byStatus)]);
    expect(created?.LocalSecondaryIndexes).toEqual([expect.objectContaining(byCreated)]);
    expect(created?.StreamSpecification).toEqual({
      StreamEnabled: true,
      StreamViewType: 'NEW_AND_OLD_IMAGES',
    });
    expect(resolved?.attributes).toEqual({
      Arn: `arn:aws:dynamodb:us-east-1:000000000000:table/${resolved?.ref}`,
      StreamArn: created?.LatestStreamArn,
    });
    expect(ttl).toMatchObject({ AttributeName: 'expiresAt', TimeToLiveStatus: 'ENABLED' });
  });

  it('changes nothing when provisioned again', async () => {
    const first = await harness.provision({ Resources: { Again: table() } });

    const second = await harness.provision({ Resources: { Again: table() } });

    expect(second.actions).toEqual([
      { logicalId: 'Again', type: 'AWS::DynamoDB::Table', action: 'unchanged' },
    ]);
    expect(second.resources).toEqual(first.resources);
  });

  it('brings global indexes, the stream and the TTL of existing data in line, and says what changed', async () => {
    await harness.provision({ Resources: { Changed: table() } });

    const changed = await harness.provision({
      Resources: {
        Changed: table({
          GlobalSecondaryIndexes: [byStatus, byOwner],
          StreamSpecification: undefined,
          TimeToLiveSpecification: undefined,
        }),
      },
    });
    const { table: after, ttl } = await describeTable(changed.resources.Changed?.ref ?? '');

    expect(changed.actions).toEqual([
      {
        logicalId: 'Changed',
        type: 'AWS::DynamoDB::Table',
        action: 'updated',
        detail: 'index byOwner created, stream NEW_AND_OLD_IMAGES → off, TTL expiresAt → off',
      },
    ]);
    expect(after?.GlobalSecondaryIndexes?.map((index) => index.IndexName).sort()).toEqual([
      'byOwner',
      'byStatus',
    ]);
    expect(after?.StreamSpecification?.StreamEnabled ?? false).toBe(false);
    expect(changed.resources.Changed?.attributes.StreamArn).toBeUndefined();
    expect(ttl?.TimeToLiveStatus).not.toBe('ENABLED');
  });

  it('deletes a global index the template no longer declares', async () => {
    await harness.provision({ Resources: { Dropped: table() } });

    const changed = await harness.provision({
      Resources: { Dropped: table({ GlobalSecondaryIndexes: [] }) },
    });
    const { table: after } = await describeTable(changed.resources.Dropped?.ref ?? '');

    expect(changed.actions).toEqual([
      {
        logicalId: 'Dropped',
        type: 'AWS::DynamoDB::Table',
        action: 'updated',
        detail: 'index byStatus deleted',
      },
    ]);
    // DynamoDB Local deletes an index asynchronously, like DynamoDB: gone or on its way out.
    expect((after?.GlobalSecondaryIndexes ?? []).map((index) => index.IndexStatus)).not.toContain('ACTIVE');
  });

  it('refuses a changed key or local index on existing data, naming the table and what to do', async () => {
    await harness.provision({ Resources: { Fixed: table() } });

    await expect(
      harness.provision({
        Resources: {
          Fixed: table({
            KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
            LocalSecondaryIndexes: undefined,
          }),
        },
      }),
    ).rejects.toThrow(ProvisionError);
    await expect(
      harness.provision({ Resources: { Fixed: table({ LocalSecondaryIndexes: [] }) } }),
    ).rejects.toThrow(
      /^Resources\.Fixed: table \S+ has other local secondary indexes than the template declares; .*delete the local data/,
    );
  });

  it('gives a provisioned table its throughput, and its indexes the same', async () => {
    const provisioned = await harness.provision({
      Resources: {
        Provisioned: table({
          BillingMode: undefined,
          ProvisionedThroughput: { ReadCapacityUnits: 2, WriteCapacityUnits: 3 },
        }),
      },
    });
    const { table: created } = await describeTable(provisioned.resources.Provisioned?.ref ?? '');

    expect(created?.ProvisionedThroughput).toMatchObject({ ReadCapacityUnits: 2, WriteCapacityUnits: 3 });
    expect(created?.GlobalSecondaryIndexes?.[0]?.ProvisionedThroughput).toMatchObject({
      ReadCapacityUnits: 2,
      WriteCapacityUnits: 3,
    });
  });
});
