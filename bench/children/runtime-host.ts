/**
 * The local runtime in a process of its own, so that the load generator and the clients in the
 * benchmark process do not share its event loop. Started by bench/lib/runtime-session.ts over IPC:
 * it reports `ready` with what the benchmarks need, then one `invocation` per finished invocation.
 */
import { randomUUID } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { findJobIds, type InvocationRecord } from '../../local/invocation-log.ts';
import { startLocalRuntime } from '../../local/runtime.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../local/types.ts';
import type { HostMessage, InvocationSummary, ParentMessage } from '../lib/runtime-protocol.ts';

const dataDir = process.argv[2];
if (!dataDir || typeof process.send !== 'function') {
  throw new Error('runtime-host.ts <data dir> runs as a child forked by bench/lib/runtime-session.ts');
}
const send = (message: HostMessage) => process.send?.(message);

// Every run starts empty; only the synth cache (cdk.out) is kept.
for (const entry of await readdir(dataDir).catch(() => [])) {
  if (entry !== 'cdk.out') await rm(join(dataDir, entry), { recursive: true, force: true });
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Job ids of the SQS records a batch response reported as failed. */
const failedJobIds = (record: InvocationRecord): string[] => {
  const { outcome, event } = record;
  if (!outcome.ok || !isRecord(outcome.result) || !Array.isArray(outcome.result.batchItemFailures)) return [];
  const records = isRecord(event) && Array.isArray(event.Records) ? (event.Records as unknown[]) : [];
  return outcome.result.batchItemFailures.flatMap((failure: unknown) => {
    const id = isRecord(failure) ? failure.itemIdentifier : undefined;
    const match = records.find((item) => isRecord(item) && item.messageId === id);
    return match ? findJobIds(match) : [];
  });
};

/**
 * Called when the invocation has finished, so now is its end. `startedAt` is when the pool gave it an
 * environment; `durationMs` is the handler's own time (the pool starts that clock once the module is
 * loaded), so a cold start's init phase is what lies between them.
 */
const summarize = (record: InvocationRecord): InvocationSummary => {
  const startedAt = record.startedAt.getTime();
  const endedAt = Date.now();
  return {
    logicalId: record.logicalId,
    functionName: record.functionName,
    trigger: record.trigger,
    coldStart: record.coldStart,
    ok: record.outcome.ok,
    error: record.outcome.ok ? undefined : `${record.outcome.kind}: ${record.outcome.error.message}`,
    startedAt,
    endedAt,
    durationMs: record.outcome.durationMs,
    initMs: Math.max(0, endedAt - startedAt - record.outcome.durationMs),
    jobIds: findJobIds(record.outcome.ok ? record.outcome.result : undefined, record.event),
    failedJobIds: failedJobIds(record),
  };
};

const started = Date.now();
const runtime = await startLocalRuntime({
  dataDir,
  port: 0,
  s3Port: 0,
  quiet: true,
  // Lambda's asynchronous retries after 1 and 2 seconds instead of minutes.
  asyncRetryScale: 1 / 60,
  log: (message) => send({ type: 'log', message }),
  onInvocation: (record) => send({ type: 'invocation', invocation: summarize(record) }),
});

const { provisioned } = runtime;
const uploadsBucket = provisioned.bucketNotifications[0]?.bucketName;
if (!uploadsBucket) throw new Error('the template has no bucket notification (the uploads bucket)');

send({
  type: 'ready',
  apiUrl: runtime.apiUrl,
  apiKey: runtime.apiKey,
  s3Endpoint: runtime.s3Endpoint,
  uploadsBucket,
  startupMs: Date.now() - started,
  functions: provisioned.functions,
  httpRoutes: (provisioned.httpApi?.routes ?? []).map((route) => ({
    method: route.method,
    path: route.path,
    functionLogicalId: route.functionLogicalId,
  })),
  eventSources: provisioned.eventSourceMappings.map((mapping) => ({
    functionLogicalId: mapping.functionLogicalId,
    queueUrl: mapping.queueUrl,
  })),
  notifications: provisioned.bucketNotifications.map((notification) => notification.functionLogicalId),
});

/**
 * fauxqs names its own host in queue URLs (`http://sqs.us-east-1.127.0.0.1:PORT/…`, not even a valid
 * URL host): reach that port on loopback.
 */
const sendToQueue = async (queueUrl: string, body: string) => {
  const port = /^https?:\/\/[^/]*:(\d+)\//.exec(queueUrl)?.[1];
  if (!port) throw new Error(`no port in the queue URL ${queueUrl}`);
  const client = new SQSClient({
    endpoint: `http://127.0.0.1:${port}`,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    useQueueUrlAsEndpoint: false,
  });
  try {
    await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
  } finally {
    client.destroy();
  }
};

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await runtime.stop();
  process.exit(0);
};

process.on('message', (message: ParentMessage) => {
  if (message.type === 'stop') void stop();
  if (message.type === 'send-to-queue') {
    sendToQueue(message.queueUrl, message.body ?? JSON.stringify({ job_id: randomUUID() })).then(
      () => send({ type: 'sent', requestId: message.requestId }),
      (error: unknown) => send({ type: 'sent', requestId: message.requestId, error: String(error) }),
    );
  }
});
process.on('disconnect', () => void stop());
