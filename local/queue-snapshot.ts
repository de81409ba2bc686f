import { readFile, rm, writeFile } from 'node:fs/promises';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SqsEmulator } from './emulators.ts';

/**
 * fauxqs keeps queues in memory. So that a restart of `npm start` loses no work, the runtime writes
 * every message still on a queue (waiting, delayed or in flight) to a file when it stops, and sends
 * them again when it starts. What does not survive: receive counts and delays start afresh.
 */
interface SavedMessage {
  body: string;
}

type Snapshot = Record<string, SavedMessage[]>;

export const saveQueues = async (
  sqs: SqsEmulator,
  queueNames: readonly string[],
  file: string,
): Promise<number> => {
  const snapshot: Snapshot = {};
  let count = 0;
  for (const name of queueNames) {
    const queue = sqs.server.inspectQueue(name);
    if (!queue) continue;
    const messages = [
      ...queue.messages.ready,
      ...queue.messages.delayed,
      ...queue.messages.inflight.map((entry) => entry.message),
    ].map((message) => ({ body: message.body }));
    if (messages.length > 0) snapshot[name] = messages;
    count += messages.length;
  }
  await writeFile(file, JSON.stringify(snapshot));
  return count;
};

export const restoreQueues = async (
  client: SQSClient,
  queueUrls: Readonly<Record<string, string>>,
  file: string,
): Promise<number> => {
  let snapshot: Snapshot;
  try {
    snapshot = JSON.parse(await readFile(file, 'utf8')) as Snapshot;
  } catch {
    return 0;
  }
  let count = 0;
  for (const [name, messages] of Object.entries(snapshot)) {
    const queueUrl = queueUrls[name];
    if (!queueUrl) continue;
    for (let start = 0; start < messages.length; start += 10) {
      const batch = messages.slice(start, start + 10);
      await client.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: batch.map((message, index) => ({ Id: String(index), MessageBody: message.body })),
        }),
      );
      count += batch.length;
    }
  }
  await rm(file, { force: true });
  return count;
};
