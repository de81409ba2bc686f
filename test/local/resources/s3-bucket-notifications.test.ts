import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getAtt, nodeFunction, type ProvisioningHarness, ref, startProvisioning } from '#test/provisioning';
import { ProvisionError } from '../../../local/provision.ts';
import { UnsupportedTemplateError } from '../../../local/support.ts';
import type { CfnResource } from '../../../local/types.ts';

let harness: ProvisioningHarness;

beforeAll(async () => {
  harness = await startProvisioning();
});

afterAll(async () => {
  await harness?.close();
});

/** What CDK synthesizes for `bucket.addEventNotification(...)`: its deploy-time handler and the custom resource. */
const notified = (configuration: Record<string, unknown>, bucketName: unknown = ref('Uploads')) => ({
  Uploads: { Type: 'AWS::S3::Bucket', Properties: {} },
  Ingest: nodeFunction(),
  // CDK's handler is Python and has no asset metadata: as a provider it is never run, so neither matters.
  NotificationsHandler: {
    Type: 'AWS::Lambda::Function',
    Properties: { Handler: 'index.handler', Runtime: 'python3.13', Role: getAtt('HandlerRole', 'Arn') },
  },
  UploadsNotifications: {
    Type: 'Custom::S3BucketNotifications',
    Properties: {
      ServiceToken: getAtt('NotificationsHandler', 'Arn'),
      BucketName: bucketName,
      NotificationConfiguration: configuration,
      Managed: true,
      SkipDestinationValidation: false,
    },
    DependsOn: ['Ingest'],
  } satisfies CfnResource,
});

const toIngest = {
  LambdaFunctionConfigurations: [
    {
      Events: ['s3:ObjectCreated:*'],
      LambdaFunctionArn: getAtt('Ingest', 'Arn'),
      Filter: { Key: { FilterRules: [{ Name: 'Prefix', Value: 'uploads/' }] } },
    },
  ],
};

describe('Custom::S3BucketNotifications', () => {
  it("becomes the bucket's notification specs, and its provider function is not a function to run", async () => {
    const provisioned = await harness.provision({ Resources: notified(toIngest) });

    expect(provisioned.bucketNotifications).toEqual([
      {
        bucketLogicalId: 'Uploads',
        bucketName: provisioned.resources.Uploads?.ref,
        events: ['s3:ObjectCreated:*'],
        prefix: 'uploads/',
        functionLogicalId: 'Ingest',
      },
    ]);
    expect(provisioned.functions.map((spec) => spec.logicalId)).toEqual(['Ingest']);
    expect(provisioned.resources.NotificationsHandler?.attributes.Arn).toMatch(
      /:function:Res-.*-NotificationsHandler-/,
    );
  });

  it('refuses notifications to queues or topics', async () => {
    await expect(
      harness.provision({ Resources: notified({ ...toIngest, QueueConfigurations: [] }) }),
    ).rejects.toMatchObject({
      constructor: UnsupportedTemplateError,
      problems: [
        {
          path: 'Resources.UploadsNotifications.Properties.NotificationConfiguration.QueueConfigurations',
          reason: 'only notifications to functions are bridged locally',
        },
      ],
    });
  });

  it('names a bucket that is not part of the template', async () => {
    await expect(
      harness.provision({ Resources: notified(toIngest, 'someone-elses-bucket') }),
    ).rejects.toThrow(
      new ProvisionError(
        'Resources.UploadsNotifications.Properties.BucketName: someone-elses-bucket is not a bucket of this template',
      ),
    );
  });
});
