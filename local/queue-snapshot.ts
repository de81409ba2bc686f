import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SqsEmulator } from './emulators.ts';

/**
 * fauxqs keeps queues in memory. So that a restart of `npm start` loses no work, the runtime writes
 * every message still on a queue (waiting, delayed or in flight) to a file every second and when it
 * stops, and sends them again when it starts. What does not survive: receive counts and delays start
 * afresh (attempts are counted on the jobs, so nothing depends on them), and after a crash the last
 * second's changes (a message sent then is the reconciler's to send again; one deleted then comes back
 * once more, which the conditional writes on the job absorb).
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
  // Written aside and renamed into place: a runtime killed mid-write leaves the previous snapshot whole.
  const partial = `${file}.partial`;
  await writeFile(partial, JSON.stringify(snapshot));
  await rename(partial, file);
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
