import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { lambdaContext } from './lambda-context.ts';

type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/** The SQS event Lambda builds from received messages (the fields our functions and Powertools read). */
export const sqsEventFrom = (messages: Message[], queueArn: string): SQSEvent => ({
  Records: messages.map((message) => ({
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: message.Attributes?.ApproximateReceiveCount ?? '1',
      SentTimestamp: message.Attributes?.SentTimestamp ?? String(Date.now()),
      SenderId: 'local',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: 'us-east-1',
  })),
});

export interface Delivery {
  /** Bodies of the messages handed to the function, parsed. */
  delivered: unknown[];
  response: SQSBatchResponse | undefined;
}

/**
 * One poll of an SQS event source mapping with ReportBatchItemFailures: receive up to `batchSize`
 * messages, invoke the handler, delete the ones it did not report as failed. Failed ones stay in
 * flight until their visibility timeout (which the handler may have changed) ends.
 */
export const deliverOnce = async (
  sqs: SQSClient,
  queue: { url: string; arn: string },
  handler: SqsHandler,
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
  const response = await handler(sqsEventFrom(messages, queue.arn), lambdaContext());
  const failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
  const done = messages.filter((message) => !failed.has(message.MessageId ?? ''));
  if (done.length > 0) {
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queue.url,
        Entries: done.map((message, index) => ({
          Id: String(index),
          ReceiptHandle: message.ReceiptHandle ?? '',
        })),
      }),
    );
  }
  return { delivered: messages.map((message) => JSON.parse(message.Body ?? 'null')), response };
};
