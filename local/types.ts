/**
 * Shared vocabulary of the local runtime: the synthesized CloudFormation template it reads, what each
 * resource becomes locally, and how functions are invoked. The template is the single source of truth:
 * nothing here lists the stack's functions, queues or routes by name.
 */

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string | string[];
  Metadata?: Record<string, unknown>;
  Condition?: string;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
}

export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown; Description?: string; Export?: unknown }>;
  Parameters?: Record<string, { Type: string; Default?: unknown }>;
  Conditions?: Record<string, unknown>;
  Mappings?: Record<string, unknown>;
  Rules?: Record<string, unknown>;
}

/** A synthesized stack as the runtime uses it: its template and the directory its assets live in. */
export interface SynthesizedStack {
  stackName: string;
  template: CfnTemplate;
  /** cdk.out (or the directory synth wrote to): `aws:asset:path` metadata is relative to it. */
  assemblyDir: string;
}

/** Where the embedded emulators listen. */
export interface LocalEndpoints {
  s3: string;
  sqs: string;
  dynamodb: string;
  secretsManager: string;
}

export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT = '000000000000';
/** s3rver only accepts this access key; the other emulators accept anything. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** What `Ref` and `Fn::GetAtt` of a resource resolve to locally. */
export interface ResolvedResource {
  type: string;
  ref: string;
  attributes: Record<string, string>;
}

/** A Lambda function from the template, resolved to local paths and values. */
export interface FunctionSpec {
  logicalId: string;
  /** FunctionName if set, else the logical id: shown in logs. */
  name: string;
  /** `file.export` relative to `codeDir`, as in the template (`index.handler`). */
  handler: string;
  /** Absolute path of the function's bundled asset directory. */
  codeDir: string;
  /** Absolute paths of its layers' asset directories, in template order (each is what Lambda mounts at /opt). */
  layerDirs: string[];
  /** The template's environment with every reference resolved to local values. */
  environment: Record<string, string>;
  timeoutSeconds: number;
  memoryMb: number;
  /** ARN of the SQS dead-letter queue for asynchronous invocations (DeadLetterConfig.TargetArn), if any. */
  deadLetterTargetArn?: string;
}

export type InvokeOutcome =
  | { ok: true; result: unknown; durationMs: number }
  | {
      ok: false;
      /** handler: the handler threw or rejected; timeout: it ran past its timeout; crash: the process died. */
      kind: 'handler' | 'timeout' | 'crash';
      error: { name: string; message: string };
      durationMs: number;
    };

export interface InvokeMeta {
  /** What fired the invocation, for the one-line log: `http POST /api/media`, `sqs ImageQueue`, `s3 uploads/…`. */
  trigger: string;
}

/** Runs functions in warm worker processes, like Lambda execution environments. */
export interface FunctionInvoker {
  invoke(logicalId: string, event: unknown, meta: InvokeMeta): Promise<InvokeOutcome>;
  close(): Promise<void>;
}

/** A thing the runtime started and must stop on shutdown. */
export interface Stoppable {
  stop(): Promise<void>;
}
