import { GetQueueAttributesCommand, ListQueuesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getAtt, type ProvisioningHarness, startProvisioning } from '#test/provisioning';
import { UnsupportedTemplateError } from '../../../local/support.ts';
import type { CfnResource } from '../../../local/types.ts';

let harness: ProvisioningHarness;

beforeAll(async () => {
  harness = await startProvisioning();
});

afterAll(async () => {
  await harness?.close();
});

const queueAttributes = async (url: string) =>
  (await harness.clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] })))
    .Attributes ?? {};

/** A FIFO queue whose messages go to a FIFO dead-letter queue after `maxReceiveCount` receives. */
const fifoPair = (maxReceiveCount: number): Record<string, CfnResource> => ({
  OrdersDlq: { Type: 'AWS::SQS::Queue', Properties: { FifoQueue: true, MessageRetentionPeriod: 1_209_600 } },
  Orders: {
    Type: 'AWS::SQS::Queue',
    Properties: {
      FifoQueue: true,
      ContentBasedDeduplication: true,
      VisibilityTimeout: 120,
      RedrivePolicy: { deadLetterTargetArn: getAtt('OrdersDlq', 'Arn'), maxReceiveCount },
      SqsManagedSseEnabled: true,
    },
  },
});

describe('AWS::SQS::Queue', () => {
  it('creates a FIFO queue with its attributes and a redrive policy to the local dead-letter queue', async () => {
    const provisioned = await harness.provision({ Resources: fifoPair(3) });
    const { Orders: queue, OrdersDlq: dlq } = provisioned.resources;
    const attributes = await queueAttributes(queue?.ref ?? '');

    expect(queue?.attributes.QueueName).toMatch(
      new RegExp(`^${harness.stackName}-Orders-[0-9a-f]{8}\\.fifo$`),
    );
    expect(dlq?.attributes.QueueName).toMatch(/\.fifo$/);
    expect(queue?.attributes.Arn).toBe(attributes.QueueArn);
    expect(attributes).toMatchObject({
      FifoQueue: 'true',
      ContentBasedDeduplication: 'true',
      VisibilityTimeout: '120',
      MessageRetentionPeriod: '345600',
    });
    expect(JSON.parse(attributes.RedrivePolicy ?? '{}')).toEqual({
      deadLetterTargetArn: dlq?.attributes.Arn,
      maxReceiveCount: 3,
    });
    expect((await queueAttributes(dlq?.ref ?? '')).MessageRetentionPeriod).toBe('1209600');
    expect(provisioned.actions.map(({ logicalId, action }) => [logicalId, action])).toEqual([
      ['OrdersDlq', 'created'],
      ['Orders', 'created'],
    ]);
  });

  it('leaves the queues alone when provisioned again, and updates a changed redrive policy', async () => {
    const again = await harness.provision({ Resources: fifoPair(3) });
    const changed = await harness.provision({ Resources: fifoPair(5) });
    const attributes = await queueAttributes(changed.resources.Orders?.ref ?? '');

    expect(again.actions.map((action) => action.action)).toEqual(['unchanged', 'unchanged']);
    expect(changed.actions.find((action) => action.logicalId === 'Orders')).toMatchObject({
      action: 'updated',
      detail: expect.stringMatching(/^RedrivePolicy .*"maxReceiveCount":3.* → .*"maxReceiveCount":5/),
    });
    expect(JSON.parse(attributes.RedrivePolicy ?? '{}')).toMatchObject({ maxReceiveCount: 5 });
  });

  it('refuses a property it does not emulate, before creating anything', async () => {
    const { QueueUrls: before } = await harness.clients.sqs.send(new ListQueuesCommand({}));
    const template = {
      Resources: {
        HighThroughput: {
          Type: 'AWS::SQS::Queue',
          Properties: {
            FifoQueue: true,
            DeduplicationScope: 'messageGroup',
            FifoThroughputLimit: 'perMessageGroupId',
          },
        },
      },
    };

    await expect(harness.provision(template)).rejects.toThrow(UnsupportedTemplateError);
    await expect(harness.provision(template)).rejects.toMatchObject({
      problems: [
        {
          path: 'Resources.HighThroughput.Properties.DeduplicationScope',
          reason: 'property DeduplicationScope of AWS::SQS::Queue is not supported locally',
        },
        {
          path: 'Resources.HighThroughput.Properties.FifoThroughputLimit',
          reason: 'property FifoThroughputLimit of AWS::SQS::Queue is not supported locally',
        },
      ],
    });
    const { QueueUrls: after } = await harness.clients.sqs.send(new ListQueuesCommand({}));
    expect(after).toEqual(before);
  });
});
