import type { FunctionSpec } from '../../local/types.ts';

/** One finished invocation, as the runtime host reports it. */
export interface InvocationSummary {
  logicalId: string;
  functionName: string;
  trigger: string;
  coldStart: boolean;
  ok: boolean;
  error: string | undefined;
  /** Epoch ms: when the pool handed the invocation an execution environment. */
  startedAt: number;
  /** Epoch ms: when the result came back. */
  endedAt: number;
  /** The handler's own time. */
  durationMs: number;
  /** The rest of endedAt − startedAt: loading the module on a cold start (and IPC), about 0 when warm. */
  initMs: number;
  jobIds: string[];
  /** Jobs of the SQS records reported back in batchItemFailures. */
  failedJobIds: string[];
}

export interface RuntimeReady {
  type: 'ready';
  apiUrl: string;
  /** The runtime's dev key (tenant `default`); undefined when its API takes no keys. */
  apiKey: string | undefined;
  s3Endpoint: string;
  uploadsBucket: string;
  startupMs: number;
  functions: FunctionSpec[];
  httpRoutes: Array<{ method: string; path: string | undefined; functionLogicalId: string }>;
  eventSources: Array<{ functionLogicalId: string; queueUrl: string }>;
  /** Functions invoked by S3 notifications. */
  notifications: string[];
}

export type HostMessage =
  | RuntimeReady
  | { type: 'invocation'; invocation: InvocationSummary }
  | { type: 'log'; message: string }
  | { type: 'sent'; requestId: string; error?: string };

export type ParentMessage =
  | { type: 'stop' }
  | { type: 'send-to-queue'; requestId: string; queueUrl: string; body?: string };
