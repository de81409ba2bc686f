import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';

/**
 * What a queue's backlog counts: the messages waiting and those delayed, approximately (SQS counts them
 * eventually consistently). Not those in flight: a lost-message candidate has waited longer than any
 * visibility timeout and backoff, so its message, if it still exists, cannot be in flight; in-flight
 * messages are other jobs at work, or a crashed consumer's (which the candidate's own re-send is for),
 * and counting them would only hold real losses back.
 */
export const BACKLOG_ATTRIBUTES = [
  'ApproximateNumberOfMessages',
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
