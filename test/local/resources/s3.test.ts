import { GetBucketCorsCommand, ListBucketsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getAtt, nodeFunction, type ProvisioningHarness, startProvisioning } from '#test/provisioning';
import { UnsupportedTemplateError } from '../../../local/support.ts';
import type { CfnResource } from '../../../local/types.ts';

let harness: ProvisioningHarness;

beforeAll(async () => {
  harness = await startProvisioning();
});

afterAll(async () => {
  await harness?.close();
});

const corsRule = {
  AllowedMethods: ['GET', 'PUT'],
  AllowedOrigins: ['http://localhost:5173'],
  AllowedHeaders: ['*'],
  ExposedHeaders: ['ETag'],
  MaxAge: 3000,
};

const bucket = (properties: Record<string, unknown> = {}): CfnResource => ({
  Type: 'AWS::S3::Bucket',
  Properties: {
    BucketEncryption: { ServerSideEncryptionConfiguration: [] },
    Tags: [{ Key: 'project', Value: 'media' }],
    ...properties,
  },
});

const corsOf = (name: string) =>
  harness.clients.s3
    .send(new GetBucketCorsCommand({ Bucket: name }))
    .then((response) => response.CORSRules)
    .catch(() => undefined);

describe('AWS::S3::Bucket', () => {
  it('creates the bucket with its CORS rules and resolves its attributes', async () => {
    const provisioned = await harness.provision({
      Resources: { Uploads: bucket({ CorsConfiguration: { CorsRules: [corsRule] } }) },
    });
    const name = provisioned.resources.Uploads?.ref ?? '';
    const { Buckets = [] } = await harness.clients.s3.send(new ListBucketsCommand({}));

    expect(name).toMatch(new RegExp(`^${harness.stackName.toLowerCase()}-uploads-[0-9a-f]{8}$`));
    expect(Buckets.map((found) => found.Name)).toContain(name);
    expect(await corsOf(name)).toEqual([
      {
        AllowedMethods: ['GET', 'PUT'],
        AllowedOrigins: ['http://localhost:5173'],
        AllowedHeaders: ['*'],
        ExposeHeaders: ['ETag'],
        MaxAgeSeconds: 3000,
      },
    ]);
    expect(provisioned.resources.Uploads?.attributes).toMatchObject({
      Arn: `arn:aws:s3:::${name}`,
      RegionalDomainName: `${name}.s3.us-east-1.amazonaws.com`,
    });
    expect(provisioned.actions).toEqual([
      { logicalId: 'Uploads', type: 'AWS::S3::Bucket', action: 'created', detail: 'CORS rules' },
    ]);
  });

  it('leaves matching CORS rules alone, and removes rules the template dropped', async () => {
    const declared = { Resources: { Web: bucket({ CorsConfiguration: { CorsRules: [corsRule] } }) } };
    await harness.provision(declared);

    const again = await harness.provision(declared);
    const dropped = await harness.provision({ Resources: { Web: bucket() } });

    expect(again.actions).toEqual([{ logicalId: 'Web', type: 'AWS::S3::Bucket', action: 'unchanged' }]);
    expect(dropped.actions).toEqual([
      { logicalId: 'Web', type: 'AWS::S3::Bucket', action: 'updated', detail: 'CORS rules removed' },
    ]);
    expect(await corsOf(dropped.resources.Web?.ref ?? '')).toBeUndefined();
  });

  it("collects the bucket's own notifications to functions, with their key filters", async () => {
    const provisioned = await harness.provision({
      Resources: {
        Ingest: nodeFunction(),
        Inbox: {
          ...bucket({
            NotificationConfiguration: {
              LambdaConfigurations: [
                {
                  Event: 's3:ObjectCreated:Put',
                  Function: getAtt('Ingest', 'Arn'),
                  Filter: {
                    S3Key: {
                      Rules: [
                        { Name: 'prefix', Value: 'in/' },
                        { Name: 'suffix', Value: '.jpg' },
                      ],
                    },
                  },
                },
              ],
            },
          }),
          DependsOn: 'Ingest',
        },
      },
    });

    const [notification, ...others] = provisioned.bucketNotifications;

    expect(others).toEqual([]);
    expect(notification).toMatchObject({ bucketLogicalId: 'Inbox', events: ['s3:ObjectCreated:Put'] });
    expect(notification).toMatchObject({ prefix: 'in/', suffix: '.jpg', functionLogicalId: 'Ingest' });
    expect(notification?.bucketName).toBe(provisioned.resources.Inbox?.ref);
  });

  it('refuses notifications to anything but functions, and unknown properties', async () => {
    await expect(
      harness.provision({
        Resources: {
          Refused: bucket({
            VersioningConfiguration: { Status: 'Enabled' },
            NotificationConfiguration: { QueueConfigurations: [] },
          }),
        },
      }),
    ).rejects.toMatchObject({
      constructor: UnsupportedTemplateError,
      problems: [
        {
          path: 'Resources.Refused.Properties.VersioningConfiguration',
          reason: 'property VersioningConfiguration of AWS::S3::Bucket is not supported locally',
        },
        {
          path: 'Resources.Refused.Properties.NotificationConfiguration.QueueConfigurations',
          reason: 'only notifications to functions are bridged locally',
        },
      ],
    });
  });
});
