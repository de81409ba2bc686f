import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';

/**
 * What a queue's backlog counts: the messages waiting, those in flight (at work, or hidden for a
 * retry's backoff) and those delayed. Each is approximate (SQS counts them eventually consistently).
 */
export const BACKLOG_ATTRIBUTES = [
  'ApproximateNumberOfMessages',
  'ApproximateNumberOfMessagesNotVisible',
  'ApproximateNumberOfMessagesDelayed',
] as const;

/** The messages a queue holds, in one GetQueueAttributes call. */
export const readQueueBacklog = async (sqs: SQSClient, queueUrl: string): Promise<number> => {
  const { Attributes: attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: [...BACKLOG_ATTRIBUTES] }),
  );
  return BACKLOG_ATTRIBUTES.reduce((sum, name) => {
    const count = Number(attributes[name] ?? 0);
    if (!Number.isFinite(count))
      throw new Error(`${name} of ${queueUrl} is not a number: ${attributes[name]}`);
    return sum + count;
  }, 0);
};
