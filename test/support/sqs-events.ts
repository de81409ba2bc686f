import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { toSqsRecord as runtimeSqsRecord } from '../../local/events/sqs-record.ts';
import { REGION } from './emulators.ts';
import { lambdaContext } from './lambda-context.ts';

/**
 * The record Lambda's SQS event source mapping would build from a message it received: the local
 * runtime's own builder, so handler tests and the runtime agree. Receive with `ApproximateReceiveCount`
 * requested. (`deliverOnce` below wraps a whole poll; these are its pieces.)
 */
export const toSqsRecord = (message: Message, queueArn: string): SQSRecord =>
  runtimeSqsRecord(message, queueArn, REGION);

export const toSqsEvent = (messages: Message[], queueArn: string): SQSEvent => ({
  Records: messages.map((message) => toSqsRecord(message, queueArn)),
});

/**
 * What the event source mapping does with a handler's answer: deletes every record not reported in
 * `batchItemFailures`; the failed ones stay on the queue, to come back when their visibility ends.
 */
export const settleBatch = async (
  sqs: SQSClient,
  queueUrl: string,
  event: SQSEvent,
  response: SQSBatchResponse | undefined,
): Promise<void> => {
  const failed = new Set((response?.batchItemFailures ?? []).map(({ itemIdentifier }) => itemIdentifier));
  const succeeded = event.Records.filter(({ messageId }) => !failed.has(messageId));
  if (succeeded.length === 0) return;
  await sqs.send(
    new DeleteMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: succeeded.map(({ receiptHandle }, index) => ({
        Id: String(index),
        ReceiptHandle: receiptHandle,
      })),
    }),
  );
};

export interface Delivery {
  /** Bodies of the messages handed to the function, parsed. */
  delivered: unknown[];
  response: SQSBatchResponse | undefined;
}

/**
 * One poll of an SQS event source mapping with ReportBatchItemFailures: receive up to `batchSize`
 * messages, invoke the handler, delete the ones it did not report as failed.
 */
/** A message's body, parsed when it is JSON (tests also send bodies that are not). */
const bodyOf = (message: Message): unknown => {
  try {
    return JSON.parse(message.Body ?? 'null');
  } catch {
    return message.Body;
  }
};

export const deliverOnce = async (
  sqs: SQSClient,
  queue: { url: string; arn: string },
  handler: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>,
  batchSize = 10,
): Promise<Delivery> => {
  const received = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queue.url,
      MaxNumberOfMessages: batchSize,
      WaitTimeSeconds: 1,
      MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
    }),
  );
  const messages = received.Messages ?? [];
  if (messages.length === 0) return { delivered: [], response: undefined };
  const event = toSqsEvent(messages, queue.arn);
  const response = await handler(event, lambdaContext());
  await settleBatch(sqs, queue.url, event, response);
  return { delivered: messages.map((message) => bodyOf(message)), response };
};
