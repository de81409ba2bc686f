import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { JobStore } from '#shared/job-store';
import { type AuthMode, isAuthMode } from '#shared/tenants';
import { startAsyncInvoker } from './async-invoke.ts';
import { devKey, localTenantStore, registerDefaultTenant } from './dev-key.ts';
import { superviseDynamoDb } from './dynamodb-supervisor.ts';
import { freePort, localSqsClient, startSqs } from './emulators.ts';
import type { ExternalS3Options } from './external-s3.ts';
import { startFaultProxies } from './fault-proxy.ts';
import { type FaultSpec, withInvocationFaults } from './faults.ts';
import { functionLogOutput } from './function-log.ts';
import { startHttpApi } from './http-api.ts';
import { createInvocationLog, type InvocationRecord, type JobVerdict } from './invocation-log.ts';
import { LambdaPool } from './lambda-pool.ts';
import { provisionStack } from './provision.ts';
import { restoreQueues, saveQueues } from './queue-snapshot.ts';
import { removeRuntimeFile, writeRuntimeFile } from './runtime-file.ts';
import { startS3Backend } from './s3-backend.ts';
import { startS3Notifications } from './s3-notifications.ts';
import { startScheduler } from './scheduler.ts';
import {
  localSecrets,
  secretEnvironmentName,
  secretOverridesFromEnvironment,
  startSecretsManager,
} from './secrets-manager.ts';
import { startSqsEventSources } from './sqs-event-source.ts';
import { synthesizeStack } from './synth.ts';
import {
  type CfnTemplate,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type LocalEndpoints,
  type ProvisionedStack,
} from './types.ts';

export interface LocalRuntimeOptions {
  /** Where objects, tables, generated secrets, queued messages and the synth cache live. */
  dataDir: string;
  /** The HTTP API's port; 0 picks a free one. */
  port: number;
  /**
   * The address the HTTP API (and the S3 events endpoint) listens on. MinIO in Docker on Linux reaches
   * the host at the Docker bridge's address, not 127.0.0.1. @default '127.0.0.1'
   */
  host?: string;
  /** The S3 emulator's port (presigned URLs carry it, so keep it stable); 0 picks a free one. @default 0 */
  s3Port?: number;
  /** The webhook signing secret; otherwise WEBHOOK_SECRET from the environment, else a generated, persisted one. */
  webhookSecret?: string;
  /**
   * The dev key of tenant `default` in api-key mode (`npm start` reads MEDIA_PIPELINE_API_KEY).
   * @default - a key generated once and kept in `<dataDir>/api-key`
   */
  apiKey?: string;
  /** No invocation lines and no function logs (the test suite). */
  quiet?: boolean;
  /** Where the runtime's own messages go. @default stderr */
  log?: (message: string) => void;
  /** CDK context over cdk.json's and the local defaults (e.g. `{ multipartThresholdBytes: 8388608 }`). */
  context?: Record<string, unknown>;
  /**
   * An S3 server (MinIO) to use instead of the embedded s3rver: buckets are created there, the functions
   * and presigned URLs use it, and its webhook notification target posts ObjectCreated events to
   * `S3_EVENTS_PATH` on the API port (local/s3-backend.ts, local/external-s3.ts). @default - the embedded s3rver
   */
  externalS3?: ExternalS3Options;
  /**
   * Multiplies Lambda's asynchronous retry delays (1 and 2 minutes) and event age cut-off
   * (local/async-invoke.ts): the test suites use 1/60, retrying after 1 and 2 seconds.
   * @default 1 (Lambda's real delays; `npm start` reads MEDIA_PIPELINE_ASYNC_RETRY_SCALE)
   */
  asyncRetryScale?: number;
  /**
   * Multiplies the periods of the template's scheduled rules (local/scheduler.ts): the fault suite runs
   * the five-minute reconciler every few seconds. @default 1 (`npm start` reads MEDIA_PIPELINE_SCHEDULE_SCALE)
   */
  scheduleScale?: number;
  /** Faults to inject (local/faults.ts; `npm start` reads MEDIA_PIPELINE_FAULTS). @default none */
  faults?: readonly FaultSpec[];
  /**
   * Environment values over the template's, for the functions whose logical id or name contains the
   * key (e.g. `{ Reconciler: { UPLOAD_DEADLINE_SECONDS: '5' } }` to watch the reconciler at work;
   * `npm start` reads MEDIA_PIPELINE_FUNCTION_ENV). @default none
   */
  functionEnvironment?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /**
   * Called when a part the runtime cannot run without is gone for good (DynamoDB Local could not be
   * restarted). @default - the message is logged
   */
  onFatal?: (error: Error) => void;
  /**
   * Called once per finished invocation (cold starts and durations included), quiet or not: the
   * benchmarks time the pipeline with it. @default - one log line per invocation, unless quiet
   */
  onInvocation?: (record: InvocationRecord) => void;
}

export interface LocalRuntime {
  apiUrl: string;
  s3Endpoint: string;
  /** Where an external S3 server's webhook target must POST events; undefined with the embedded s3rver. */
  s3EventsUrl: string | undefined;
  /** The URL of each function URL of the template (what its FunctionUrl resolves to locally). */
  functionUrls: string[];
  buckets: string[];
  /** Every secret the template declares, with the value the functions read locally. */
  secrets: Array<{ name: string; value: string }>;
  /**
   * How the API knows its callers: the stack's AuthMode output, else what its routes' authorizers say
   * (a Lambda authorizer: api-key, a JWT one: jwt, none: none).
   */
  authMode: AuthMode;
  /** The dev key of tenant `default` (registered at every start); undefined unless authMode is api-key. */
  apiKey: string | undefined;
  /** The stack's Tenants table (output TenantsTableName), if it has one. */
  tenantsTable: string | undefined;
  /** DynamoDB Local's endpoint (the tables of the stack: a TenantStore on it manages keys). */
  dynamodbEndpoint: string;
  provisioned: ProvisionedStack;
  stop(): Promise<void>;
}

const authModeOf = (provisioned: ProvisionedStack): AuthMode => {
  const declared = provisioned.outputs.AuthMode;
  if (isAuthMode(declared)) return declared;
  const kinds = new Set(provisioned.httpApi?.routes.map((route) => route.authorizer?.kind));
  return kinds.has('request') ? 'api-key' : kinds.has('jwt') ? 'jwt' : 'none';
};

/** The logical id of the secret WEBHOOK_SECRET sets (the stack's webhook signing secret), if any. */
const webhookSecretLogicalId = (template: CfnTemplate): string | undefined =>
  Object.entries(template.Resources).find(
    ([logicalId, resource]) =>
      resource.Type === 'AWS::SecretsManager::Secret' &&
      secretEnvironmentName(logicalId, resource) === 'WEBHOOK_SECRET',
  )?.[0];

const QUEUE_SNAPSHOT = 'sqs-messages.json';
const SNAPSHOT_EVERY_MS = 1_000;
/** Lambda's asynchronous event queue is durable: so is the local one. */
const ASYNC_JOURNAL = 'async-events.json';

/**
 * Runs the synthesized stack on this machine: synthesizes it (or reuses an up-to-date assembly),
 * starts the embedded emulators, creates what the template declares, and serves its functions
 * behind the HTTP API, SQS event source mappings and S3 notifications the template wires. Nothing
 * here names a function, queue or route: they all come from the template.
 *
 * Local substitutes chosen here, so that no function has an `if (local)` branch:
 * - AWS endpoints and credentials reach the functions through the SDK's own variables
 *   (AWS_ENDPOINT_URL_<SERVICE>), plus path-style S3 and on-demand checksums for s3rver;
 * - Secrets Manager is a protocol-compatible server (local/secrets-manager.ts);
 * - layers are not mounted at /opt: environment paths under /opt point into the layer assets
 *   (local/lambda-pool.ts);
 * - SQS messages survive a restart through a snapshot file (local/queue-snapshot.ts).
 */
export const startLocalRuntime = async (options: LocalRuntimeOptions): Promise<LocalRuntime> => {
  const log = options.log ?? ((message: string) => process.stderr.write(`${message}\n`));
  const cleanups: Array<() => Promise<unknown>> = [];
  /** What takes new work from outside: closed first, before anything drains or stops. */
  const intake: Array<() => Promise<unknown>> = [];
  const stopAll = async () => {
    for (const step of [...intake.splice(0), ...cleanups.splice(0).reverse()]) {
      await step().catch((error: unknown) => log(`while stopping: ${String(error)}`));
    }
  };

  try {
    const stack = await synthesizeStack({
      outdir: join(options.dataDir, 'cdk.out'),
      ...(options.context ? { context: options.context } : {}),
      ...(options.quiet
        ? {}
        : {
            onSynthesize: (reason: string, functionCount: number) =>
              log(
                `synthesizing the stack and bundling ${functionCount} functions (${reason}): about a minute, ` +
                  'with only "Bundling asset" lines meanwhile; the result is reused until a source changes',
              ),
          }),
    });
    if (!options.quiet) log(`template ${stack.reused ? 'reused' : 'synthesized'} in ${stack.durationMs} ms`);

    const [s3, sqs, dynamodb, secretsManager] = await Promise.all([
      startS3Backend({
        external: options.externalS3,
        directory: join(options.dataDir, 's3'),
        port: options.s3Port ?? 0,
      }),
      startSqs(),
      superviseDynamoDb({ dataDir: options.dataDir, dbPath: join(options.dataDir, 'dynamodb'), log }),
      startSecretsManager(),
    ]);
    dynamodb.events.on('gave-up', (error) => (options.onFatal ?? ((e: Error) => log(e.message)))(error));
    intake.push(async () => s3.closeIntake());
    cleanups.push(
      () => dynamodb.stop(),
      () => s3.stop(),
      () => sqs.stop(),
      () => secretsManager.close(),
    );
    const endpoints: LocalEndpoints = {
      s3: s3.endpoint,
      sqs: sqs.endpoint,
      dynamodb: dynamodb.endpoint,
      secretsManager: secretsManager.endpoint,
    };

    const port = options.port === 0 ? await freePort() : options.port;
    const apiHost = options.host && options.host !== '0.0.0.0' ? options.host : '127.0.0.1';
    const apiBaseUrl = `http://${apiHost}:${port}`;
    const secretEnv = options.webhookSecret ? { WEBHOOK_SECRET: options.webhookSecret } : process.env;
    const localSecretStore = localSecrets(
      secretsManager,
      secretOverridesFromEnvironment(stack.template, secretEnv),
    );
    const secrets: LocalRuntime['secrets'] = [];
    const secretValuesByArn = new Map<string, string>();
    const provisioned = await provisionStack(stack, endpoints, {
      secrets: {
        valueFor: (logicalId) => localSecretStore.valueFor(logicalId),
        register: (secret) => {
          secrets.push({ name: secret.name, value: secret.value });
          secretValuesByArn.set(secret.arn, secret.value);
          localSecretStore.register(secret);
        },
      },
      dataDir: options.dataDir,
      apiBaseUrl,
      functionUrlBaseUrl: async () => `http://127.0.0.1:${await freePort()}`,
      s3Access: s3.access,
    });
    await s3.connectNotifications(provisioned.bucketNotifications, { apiBaseUrl, log });

    // Before the API takes requests: the dev key must work from the first one.
    const authMode = authModeOf(provisioned);
    const tenantsTable = provisioned.outputs.TenantsTableName;
    const webhookSecretId = webhookSecretLogicalId(stack.template);
    const webhookSecretArn = webhookSecretId && provisioned.resources[webhookSecretId]?.ref;
    const key =
      authMode === 'api-key' && tenantsTable ? await devKey(options.dataDir, options.apiKey) : undefined;
    if (tenantsTable) {
      const tenants = localTenantStore(endpoints.dynamodb, tenantsTable);
      try {
        await registerDefaultTenant(tenants.store, {
          ...(key ? { key } : {}),
          ...(webhookSecretArn ? { webhookSecret: secretValuesByArn.get(webhookSecretArn) } : {}),
        });
      } finally {
        tenants.destroy();
      }
    }

    const queues = Object.values(provisioned.resources).filter(
      (resource) => resource.type === 'AWS::SQS::Queue',
    );
    const queueUrlsByName = Object.fromEntries(
      queues.map((queue) => [queue.attributes.QueueName ?? '', queue.ref]),
    );
    const queueUrlsByArn = Object.fromEntries(queues.map((queue) => [queue.attributes.Arn ?? '', queue.ref]));
    const sqsClient = localSqsClient({ endpoint: sqs.endpoint });
    const snapshot = join(options.dataDir, QUEUE_SNAPSHOT);
    const restored = await restoreQueues(sqsClient, queueUrlsByName, snapshot);
    if (restored > 0 && !options.quiet) log(`restored ${restored} queued message(s) from the last run`);
    // Kept every second as well, so that a runtime killed without a word (SIGKILL, a power cut) loses
    // at most the last second's messages (the reconciler sends those again from the jobs table).
    const keeper = setInterval(() => {
      saveQueues(sqs, Object.keys(queueUrlsByName), snapshot).catch((error: unknown) =>
        log(`could not keep the queued messages: ${String(error)}`),
      );
    }, SNAPSHOT_EVERY_MS);
    // Runs before the emulators stop (cleanups run in reverse): what is still queued is kept.
    cleanups.push(async () => {
      clearInterval(keeper);
      const saved = await saveQueues(sqs, Object.keys(queueUrlsByName), snapshot);
      if (saved > 0) log(`kept ${saved} queued message(s) for the next start`);
      sqsClient.destroy();
    });

    // What a job became, for the invocation lines (`failed Image::Corrupt` rather than `ok`).
    const jobsTable = provisioned.outputs.JobsTableName;
    const jobsClient = jobsTable
      ? new DynamoDBClient({
          region: LOCAL_REGION,
          credentials: LOCAL_CREDENTIALS,
          endpoint: endpoints.dynamodb,
          maxAttempts: 1,
        })
      : undefined;
    if (jobsClient) cleanups.push(async () => jobsClient.destroy());
    const jobs =
      jobsClient && jobsTable ? new JobStore(DynamoDBDocumentClient.from(jobsClient), jobsTable) : undefined;
    const jobVerdict = async (jobId: string): Promise<JobVerdict | undefined> => {
      const job = await jobs?.get(jobId);
      return job && { jobId, status: job.status, errorCode: job.error_code, updatedAt: job.updated_at };
    };

    const faults = options.faults ?? [];
    const functions = provisioned.functions.map((spec) => {
      const overrides = Object.entries(options.functionEnvironment ?? {})
        .filter(([key]) => spec.logicalId.includes(key) || spec.name.includes(key))
        .map(([, values]) => values);
      return overrides.length > 0
        ? { ...spec, environment: Object.assign({}, spec.environment, ...overrides) }
        : spec;
    });
    // The pool exists only once the proxies gave the functions their endpoints; a crash comes later still.
    let crashTarget: LambdaPool | undefined;
    const faultProxies = await startFaultProxies(functions, faults, endpoints, {
      onCrash: (functionLogicalId, fault, operation) => {
        const pids = crashTarget?.workerPids(functionLogicalId) ?? [];
        for (const pid of pids) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // Gone already.
          }
        }
        log(
          `fault ${fault.error} at ${fault.service} ${operation}: killed ${functionLogicalId}'s ${pids.length} worker(s)`,
        );
      },
    });
    cleanups.push(() => Promise.all(faultProxies.proxies.map((proxy) => proxy.stop())));
    const pool = new LambdaPool(faultProxies.functions, {
      // The other emulators accept any credentials and region, so the S3 server's are everyone's.
      region: s3.access.region,
      extraEnv: {
        AWS_ACCESS_KEY_ID: s3.access.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.access.credentials.secretAccessKey,
        AWS_ENDPOINT_URL_S3: endpoints.s3,
        AWS_ENDPOINT_URL_SQS: endpoints.sqs,
        AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
        AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoints.secretsManager,
        AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
        AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
        S3_FORCE_PATH_STYLE: 'true',
        // Presigned URLs are for the client on this machine, whatever host the template names.
        S3_PUBLIC_ENDPOINT: endpoints.s3,
        // One line per invocation is the local log; function logs below WARN only with FUNCTION_LOG_LEVEL.
        POWERTOOLS_LOG_LEVEL: process.env.FUNCTION_LOG_LEVEL ?? 'WARN',
        POWERTOOLS_METRICS_DISABLED: 'true',
      },
      output: options.quiet ? () => undefined : functionLogOutput,
      ...(options.onInvocation || !options.quiet
        ? { onInvocation: options.onInvocation ?? createInvocationLog({ jobVerdict }) }
        : {}),
    });
    crashTarget = pool;
    cleanups.push(() => pool.close());
    const invoker = withInvocationFaults(pool, faults, (logicalId) => pool.spec(logicalId));
    if (faults.length > 0) log(`injecting ${faults.length} fault(s) from MEDIA_PIPELINE_FAULTS`);

    const extraRoutes = s3.routes(log);
    if (provisioned.httpApi || extraRoutes.length > 0) {
      const api = provisioned.httpApi ?? {
        logicalId: 'none',
        name: 'none',
        baseUrl: apiBaseUrl,
        stageName: '$default',
        routes: [],
      };
      const http = await startHttpApi(api, invoker, {
        port,
        log,
        extraRoutes,
        ...(options.host ? { host: options.host } : {}),
      });
      intake.push(() => http.stop());
    }
    for (const functionUrl of provisioned.functionUrls) {
      const server = await startHttpApi(functionUrl, invoker, {
        port: Number(new URL(functionUrl.baseUrl).port),
        log,
      });
      intake.push(() => server.stop());
    }
    const eventSources = startSqsEventSources(provisioned.eventSourceMappings, invoker, {
      endpoint: sqs.endpoint,
      log,
    });
    cleanups.push(() => eventSources.stop());
    // Stopped before the pool closes (cleanups run in reverse), so that invocations in flight finish.
    const asyncInvoker = startAsyncInvoker(invoker, {
      journal: join(options.dataDir, ASYNC_JOURNAL),
      functions: provisioned.functions,
      queueUrlsByArn,
      sqs: { endpoint: sqs.endpoint },
      ...(options.asyncRetryScale !== undefined ? { retryScale: options.asyncRetryScale } : {}),
      log,
    });
    cleanups.push(() => asyncInvoker.stop());
    const notifications = startS3Notifications(s3.events, provisioned.bucketNotifications, asyncInvoker);
    cleanups.push(() => notifications.stop());
    const scheduler = startScheduler(provisioned.schedules, {
      scale: options.scheduleScale ?? 1,
      invoke: async (functionLogicalId, event) => {
        asyncInvoker.invokeAsync(functionLogicalId, event, {
          trigger: `schedule ${event.resources[0]?.split('/').at(-1) ?? ''}`,
        });
      },
      log,
    });
    cleanups.push(() => scheduler.stop());

    const buckets = Object.values(provisioned.resources)
      .filter((resource) => resource.type === 'AWS::S3::Bucket')
      .map((bucket) => bucket.ref);
    await writeRuntimeFile(options.dataDir, {
      pid: process.pid,
      apiUrl: apiBaseUrl,
      dynamodbEndpoint: endpoints.dynamodb,
      region: LOCAL_REGION,
      tenantsTable,
      jobsTable: provisioned.outputs.JobsTableName,
      authMode,
    });
    // Gone with the intake on a stop, so the keys CLI does not work on a runtime that is going away; after
    // S3's intake closes, which must happen at once (synchronously) when the stop begins.
    intake.push(() => removeRuntimeFile(options.dataDir));
    return {
      apiUrl: apiBaseUrl,
      s3Endpoint: s3.endpoint,
      s3EventsUrl: s3.eventsUrl(apiBaseUrl),
      functionUrls: provisioned.functionUrls.map((functionUrl) => `${functionUrl.baseUrl}/`),
      buckets,
      secrets,
      authMode,
      apiKey: key?.key,
      tenantsTable,
      dynamodbEndpoint: endpoints.dynamodb,
      provisioned,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
};
