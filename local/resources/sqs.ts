/**
 * SQS queues on fauxqs: created with the template's attributes (the redrive policy's target resolved to
 * the local dead-letter queue's ARN), and an existing queue's attributes brought in line. Queue
 * policies mean nothing locally.
 */
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueDoesNotExist,
  SetQueueAttributesCommand,
} from '@aws-sdk/client-sqs';
import type { Provisioner } from './context.ts';
import { NAME_RULES, physicalName, sameJson } from './names.ts';
import { accepted, emulated, NO_RESOURCE_POLICIES, type ResourceSupport, TAGS } from './support-entry.ts';

export const support: Readonly<Record<string, ResourceSupport>> = {
  'AWS::SQS::Queue': {
    kind: 'emulated',
    emulation: 'fauxqs queue',
    properties: {
      QueueName: emulated(),
      VisibilityTimeout: emulated(),
      MessageRetentionPeriod: emulated(),
      RedrivePolicy: emulated('deadLetterTargetArn resolved to the local ARN'),
      DelaySeconds: emulated(),
      ReceiveMessageWaitTimeSeconds: emulated(),
      MaximumMessageSize: emulated(),
      FifoQueue: emulated(),
      ContentBasedDeduplication: emulated(),
      RedriveAllowPolicy: accepted('any queue may be a dead-letter queue locally'),
      SqsManagedSseEnabled: accepted('messages are not encrypted locally'),
      KmsMasterKeyId: accepted('messages are not encrypted locally'),
      KmsDataKeyReusePeriodSeconds: accepted('messages are not encrypted locally'),
      Tags: TAGS,
    },
  },
  'AWS::SQS::QueuePolicy': { kind: 'ignored', reason: NO_RESOURCE_POLICIES },
};

/** Attributes SQS gives a queue the template says nothing about (fauxqs agrees). */
const SQS_DEFAULTS: Readonly<Record<string, string>> = {
  VisibilityTimeout: '30',
  MessageRetentionPeriod: '345600',
  DelaySeconds: '0',
  ReceiveMessageWaitTimeSeconds: '0',
};

const QUEUE_ATTRIBUTES = [
  'VisibilityTimeout',
  'MessageRetentionPeriod',
  'DelaySeconds',
  'ReceiveMessageWaitTimeSeconds',
  'MaximumMessageSize',
  'FifoQueue',
  'ContentBasedDeduplication',
] as const;

/** A redrive policy in a comparable form (SQS answers maxReceiveCount as a string or a number). */
const redriveOf = (value: string | undefined): unknown => {
  if (!value) return undefined;
  const policy = JSON.parse(value) as { deadLetterTargetArn?: string; maxReceiveCount?: unknown };
  return { deadLetterTargetArn: policy.deadLetterTargetArn, maxReceiveCount: Number(policy.maxReceiveCount) };
};

/** The attributes the template asks for, SQS's defaults filling in what it leaves out. */
const wantedAttributes = (properties: Record<string, unknown>): Record<string, string> => {
  const wanted: Record<string, string> = { ...SQS_DEFAULTS };
  for (const attribute of QUEUE_ATTRIBUTES) {
    if (properties[attribute] !== undefined) wanted[attribute] = String(properties[attribute]);
  }
  if (properties.RedrivePolicy !== undefined) {
    const policy = properties.RedrivePolicy as { deadLetterTargetArn?: unknown; maxReceiveCount?: unknown };
    wanted.RedrivePolicy = JSON.stringify({
      deadLetterTargetArn: policy.deadLetterTargetArn,
      maxReceiveCount: Number(policy.maxReceiveCount),
    });
  }
  return wanted;
};

const provisionQueue: Provisioner = async (context, logicalId, resource) => {
  const { sqs } = context.clients;
  const properties = context.propertiesOf(logicalId, resource);
  const fifo = String(properties.FifoQueue) === 'true';
  const name =
    (properties.QueueName as string | undefined) ??
    `${physicalName(context.stackName, logicalId, NAME_RULES.queue)}${fifo ? '.fifo' : ''}`;
  const wanted = wantedAttributes(properties);
  const existingUrl = await sqs
    .send(new GetQueueUrlCommand({ QueueName: name }))
    .then((response) => response.QueueUrl)
    .catch((error: unknown) => {
      if (error instanceof QueueDoesNotExist || (error as Error).name.includes('NonExistentQueue'))
        return undefined;
      throw error;
    });
  let url: string;
  if (existingUrl) {
    url = existingUrl;
    const current: Record<string, string | undefined> =
      (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] })))
        .Attributes ?? {};
    const differs = (attribute: string, value: string) =>
      attribute === 'RedrivePolicy'
        ? !sameJson(JSON.parse(value), redriveOf(current.RedrivePolicy))
        : current[attribute] !== value;
    const changed = Object.fromEntries(
      Object.entries(wanted).filter(([attribute, value]) => differs(attribute, value)),
    );
    if (Object.keys(changed).length > 0) {
      await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: changed }));
      const detail = Object.keys(changed)
        .map((attribute) => `${attribute} ${current[attribute] ?? '(none)'} → ${changed[attribute]}`)
        .join(', ');
      context.record(logicalId, resource.Type, 'updated', detail);
    } else {
      context.record(logicalId, resource.Type, 'unchanged');
    }
  } else {
    const response = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: wanted }));
    url = response.QueueUrl as string;
    context.record(logicalId, resource.Type, 'created');
  }
  const { Attributes: attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  return {
    type: resource.Type,
    ref: url,
    attributes: { Arn: attributes.QueueArn as string, QueueUrl: url, QueueName: name },
  };
};

export const provisioners: Readonly<Record<string, Provisioner>> = {
  'AWS::SQS::Queue': provisionQueue,
};
