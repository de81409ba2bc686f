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
  /** Retries of a failed asynchronous invocation (EventInvokeConfig.MaximumRetryAttempts; Lambda's default 2). */
  maximumRetryAttempts?: number;
  /** Age after which an asynchronous event is dropped (EventInvokeConfig.MaximumEventAgeInSeconds; default 6 h). */
  maximumEventAgeSeconds?: number;
  /**
   * Set by the runtime, not the template, and applied last: this function's own endpoints where they
   * differ from every other function's (a fault proxy in front of an emulator, local/fault-proxy.ts).
   */
  runtimeOverrides?: Record<string, string>;
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
  /** The invocation's request id (context.awsRequestId); Lambda keeps one for every retry of an async event. @default - a new one */
  requestId?: string;
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

/*
 * Added for provisioning (local/provision.ts, local/resources/): what the template's wiring becomes, for the HTTP API
 * emulation, the SQS pollers and the S3 notification bridge to consume.
 */

/** The runtime's substitute for Secrets Manager, as provisioning sees it. */
export interface LocalSecrets {
  /** A value imposed from outside (the runtime maps `WEBHOOK_SECRET` from its environment), or undefined. */
  valueFor(logicalId: string): string | undefined;
  /** Registers (or replaces) a secret in the Secrets Manager substitute under this name and ARN. */
  register(secret: { name: string; arn: string; value: string }): void;
}

/** CORS of an HTTP API (the Api's CorsConfiguration): API Gateway answers preflights itself. */
export interface HttpApiCorsSpec {
  allowOrigins: string[];
  allowMethods: string[];
  allowHeaders: string[];
  exposeHeaders: string[];
  maxAgeSeconds?: number;
  allowCredentials: boolean;
}

export interface HttpRouteSpec {
  /** As in the template and as the function sees it in `event.routeKey`: `GET /api/media/{id}`, or `$default`. */
  routeKey: string;
  /** `GET`, `POST`, … or `ANY`; `ANY` for `$default`. */
  method: string;
  /** The route's path template (`/api/media/{id}`); undefined for `$default`. */
  path?: string;
  /**
   * The request paths' spellings this route serves: its path and, as API Gateway matches it, the same
   * path with a trailing slash (unless another route declares that spelling itself).
   */
  paths: string[];
  functionLogicalId: string;
  payloadFormatVersion: '1.0' | '2.0';
  /** The integration's timeout (TimeoutInMillis; API Gateway's default and maximum is 30 s). */
  timeoutMs: number;
  /**
   * The route's authorizer (AuthorizationType CUSTOM or JWT with its AuthorizerId): the gateway asks it
   * before the function runs. @default - none (AuthorizationType NONE)
   */
  authorizer?: HttpAuthorizerSpec;
}

/**
 * Where an authorizer reads a request's identity, as the template's IdentitySource names it:
 * `$request.header.Authorization` → `{ from: 'header', name: 'authorization' }` (header names
 * lower-cased, as the event carries them).
 */
export interface IdentitySourceSpec {
  /** As written in the template (shown in logs). */
  expression: string;
  from: 'header' | 'querystring' | 'context' | 'stageVariables';
  name: string;
}

/** An HTTP API's Lambda REQUEST authorizer: payload format 2.0 with simple responses (`isAuthorized`). */
export interface HttpRequestAuthorizerSpec {
  kind: 'request';
  logicalId: string;
  name: string;
  functionLogicalId: string;
  identitySources: IdentitySourceSpec[];
  /** AuthorizerResultTtlInSeconds: answers are cached by the identity values this long; 0 = never. */
  resultTtlSeconds: number;
}

/** An HTTP API's JWT authorizer: API Gateway verifies the token against the issuer's published keys. */
export interface HttpJwtAuthorizerSpec {
  kind: 'jwt';
  logicalId: string;
  name: string;
  /** The one header the token comes from. */
  identitySources: IdentitySourceSpec[];
  issuer: string;
  /** The token's `aud` (or, when it has no `aud`, its `client_id`) must be one of these. */
  audience: string[];
}

export type HttpAuthorizerSpec = HttpRequestAuthorizerSpec | HttpJwtAuthorizerSpec;

/** The stack's HTTP API (API Gateway v2, protocol HTTP, Lambda proxy integrations). */
export interface HttpApiSpec {
  logicalId: string;
  name: string;
  /** The local base URL the runtime serves it on (what the Api's ApiEndpoint resolves to). */
  baseUrl: string;
  /** `$default` serves at the base URL; another stage name is the first path segment. */
  stageName: string;
  cors?: HttpApiCorsSpec;
  routes: HttpRouteSpec[];
}

/** An SQS event source mapping: a poller that invokes the function with batches from the queue. */
/** An EventBridge scheduled rule: its target functions are invoked every `periodSeconds`. */
export interface ScheduleSpec {
  logicalId: string;
  ruleArn: string;
  expression: string;
  periodSeconds: number;
  enabled: boolean;
  functionLogicalIds: string[];
}

export interface EventSourceMappingSpec {
  logicalId: string;
  functionLogicalId: string;
  queueLogicalId: string;
  queueUrl: string;
  queueArn: string;
  /** Messages per invocation (SQS default 10). */
  batchSize: number;
  /** How long to gather a batch before invoking (default 0). */
  maximumBatchingWindowSeconds: number;
  /** FunctionResponseTypes has ReportBatchItemFailures: the handler returns `batchItemFailures`. */
  reportBatchItemFailures: boolean;
  /** ScalingConfig.MaximumConcurrency: at most this many batches in flight. */
  maximumConcurrency?: number;
  enabled: boolean;
}

/** An S3 event notification to a function (asynchronous invocation), from CDK's Custom::S3BucketNotifications. */
export interface BucketNotificationSpec {
  bucketLogicalId: string;
  bucketName: string;
  /** As S3 names them: `s3:ObjectCreated:*`, `s3:ObjectRemoved:Delete`, … */
  events: string[];
  prefix?: string;
  suffix?: string;
  functionLogicalId: string;
}

/** What one stateful resource's provisioning did (a restart on existing data is all `unchanged`). */
export interface ProvisionAction {
  logicalId: string;
  type: string;
  action: 'created' | 'updated' | 'unchanged';
  /** What was created or changed, for the log: `CORS rules`, `VisibilityTimeout 30 → 60`. */
  detail?: string;
}

/** The stack as provisioned on the emulators, ready to run. */
export interface ProvisionedStack {
  /** What every resource's `Ref` and `Fn::GetAtt` resolve to locally. */
  resources: Record<string, ResolvedResource>;
  /** One per application function; CDK's deploy-time custom-resource providers are left out. */
  functions: FunctionSpec[];
  httpApi: HttpApiSpec | undefined;
  /**
   * The template's function URLs (AWS::Lambda::Url), each served on a port of its own: an HttpApiSpec
   * with one `$default` route to its function, its `baseUrl` what the URL's FunctionUrl resolves to.
   */
  functionUrls: HttpApiSpec[];
  eventSourceMappings: EventSourceMappingSpec[];
  bucketNotifications: BucketNotificationSpec[];
  schedules: ScheduleSpec[];
  /** The template's Outputs, resolved (AWS URLs of the HTTP API replaced by the local one). */
  outputs: Record<string, string>;
  actions: ProvisionAction[];
}
