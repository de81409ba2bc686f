/**
 * What the resource modules share while a stack is provisioned: the emulators' clients, the resolve
 * scope, and the collections the runtime's other parts are built from (functions, layers, event source
 * mappings, bucket notifications, the HTTP API's parts, function URLs). Each provisioner gets it as an
 * argument, so what a module reads and adds is visible in its code rather than closed over.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { localS3Client } from '../emulators.ts';
import { localPseudoParameters, type ResolveScope, resolveValue } from '../intrinsics.ts';
import {
  type BucketNotificationSpec,
  type CfnResource,
  type EventSourceMappingSpec,
  type FunctionSpec,
  type HttpApiSpec,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type LocalEndpoints,
  type LocalSecrets,
  type ProvisionAction,
  type ResolvedResource,
  type ScheduleSpec,
  type SynthesizedStack,
} from '../types.ts';
import type { ApiParts } from './apigatewayv2.ts';
import { functionKey } from './names.ts';
import type { SecretStore } from './secrets-manager.ts';
import type { ResourceSupport } from './support-entry.ts';

export interface ProvisionOptions {
  /** The Secrets Manager substitute the template's secrets are registered in, and value overrides. */
  secrets: LocalSecrets;
  /** The runtime's data directory: generated secret values are kept in `secrets.json` there. */
  dataDir: string;
  /** Base URL the runtime serves the HTTP API on (what the Api's ApiEndpoint resolves to). */
  apiBaseUrl: string;
  /**
   * The base URL a function URL (AWS::Lambda::Url) is served on: the runtime gives each a port of its own.
   * @default - a template with function URLs is refused
   */
  functionUrlBaseUrl?: (logicalId: string) => Promise<string>;
  /**
   * Credentials and region for the S3 endpoint when it is not the embedded s3rver (an external S3 such as
   * MinIO). @default LOCAL_CREDENTIALS in LOCAL_REGION
   */
  s3Access?: { credentials: { accessKeyId: string; secretAccessKey: string }; region: string };
}

/** A resource the emulators refused, or a template the runtime cannot wire; names the resource. */
export class ProvisionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProvisionError';
  }
}

/** A function of the template as provisioning collected it (asynchronous retries are added at the end). */
export interface FunctionEntry {
  logicalId: string;
  spec: FunctionSpec;
}

/** EventInvokeConfig of a function, by the function's logical id. */
export interface InvokeConfig {
  maximumRetryAttempts?: number;
  maximumEventAgeSeconds?: number;
}

export interface ProvisionContext {
  readonly stackName: string;
  readonly options: ProvisionOptions;
  readonly clients: { readonly s3: S3Client; readonly sqs: SQSClient; readonly dynamodb: DynamoDBClient };
  /** What references resolve against; its `resources` grow as resources are provisioned. */
  readonly scope: ResolveScope;
  /** Every resource provisioned so far, by logical id (the scope's, writable by the orchestration). */
  readonly resources: Record<string, ResolvedResource>;
  /** CDK's deploy-time custom-resource providers: functions that are never run locally. */
  readonly providers: ReadonlySet<string>;
  /** Generated secret values kept across restarts. */
  readonly secretStore: SecretStore;
  readonly actions: ProvisionAction[];
  readonly functions: FunctionEntry[];
  /** Logical id of each application function, by its local ARN. */
  readonly functionIds: Map<string, string>;
  /** Asset directory of each layer, by its local ARN. */
  readonly layerDirs: Map<string, string>;
  readonly invokeConfigs: Map<string, InvokeConfig>;
  readonly eventSourceMappings: EventSourceMappingSpec[];
  readonly bucketNotifications: BucketNotificationSpec[];
  readonly schedules: ScheduleSpec[];
  readonly api: ApiParts;
  readonly functionUrls: HttpApiSpec[];
  /** Records what provisioning a stateful resource did, for the log. */
  record(logicalId: string, type: string, action: ProvisionAction['action'], detail?: string): void;
  /** Records a resource as created, updated with `changes`, or unchanged when there are none. */
  recordChanges(logicalId: string, type: string, created: boolean, changes: readonly string[]): void;
  /** The resource's emulated properties, resolved (accepted ones are left alone: they may reference anything). */
  propertiesOf(logicalId: string, resource: CfnResource): Record<string, unknown>;
  /** The resource's bundled asset directory (its `aws:asset:path` metadata), which must exist. */
  assetDir(logicalId: string, resource: CfnResource): string;
  /** The logical id of the template's function that `value` (a name, ARN or invocation URI) names. */
  functionOf(value: unknown, path: string): string;
}

/** Turns one resource of the template into what it resolves to locally, creating it where it lives. */
export type Provisioner = (
  context: ProvisionContext,
  logicalId: string,
  resource: CfnResource,
) => Promise<ResolvedResource>;

export const createProvisionContext = (
  stack: SynthesizedStack,
  endpoints: LocalEndpoints,
  options: ProvisionOptions,
  shared: {
    support: Readonly<Record<string, ResourceSupport>>;
    providers: ReadonlySet<string>;
    secretStore: SecretStore;
  },
): ProvisionContext => {
  const { template, stackName } = stack;
  const common = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, maxAttempts: 2 };
  const resources: Record<string, ResolvedResource> = {};
  const scope: ResolveScope = {
    resources,
    pseudo: localPseudoParameters(stackName),
    parameters: Object.fromEntries(
      Object.entries(template.Parameters ?? {})
        .filter(([, parameter]) => parameter.Default !== undefined)
        .map(([name, parameter]) => [name, String(parameter.Default)]),
    ),
    declared: new Set(Object.keys(template.Resources)),
  };
  const actions: ProvisionAction[] = [];
  const functionIds = new Map<string, string>();
  return {
    stackName,
    options,
    clients: {
      s3: localS3Client(endpoints.s3, { ...common, ...(options.s3Access ?? {}) }),
      sqs: new SQSClient({ ...common, endpoint: endpoints.sqs, useQueueUrlAsEndpoint: false }),
      dynamodb: new DynamoDBClient({ ...common, endpoint: endpoints.dynamodb }),
    },
    scope,
    resources,
    providers: shared.providers,
    secretStore: shared.secretStore,
    actions,
    functions: [],
    functionIds,
    layerDirs: new Map(),
    invokeConfigs: new Map(),
    eventSourceMappings: [],
    bucketNotifications: [],
    schedules: [],
    api: { apis: [], stages: [], integrations: new Map(), routes: [], authorizers: new Map() },
    functionUrls: [],

    record: (logicalId, type, action, detail) => {
      actions.push({ logicalId, type, action, ...(detail ? { detail } : {}) });
    },
    recordChanges: (logicalId, type, created, changes) => {
      const action = created ? 'created' : changes.length ? 'updated' : 'unchanged';
      const detail = changes.join(', ');
      actions.push({ logicalId, type, action, ...(detail ? { detail } : {}) });
    },

    propertiesOf: (logicalId, resource) => {
      const support = shared.support[resource.Type];
      const properties = resource.Properties ?? {};
      const emulatedOnly = Object.fromEntries(
        Object.entries(properties).filter(
          ([name]) => support?.kind === 'emulated' && support.properties[name]?.handling === 'emulated',
        ),
      );
      return resolveValue(emulatedOnly, scope, `Resources.${logicalId}.Properties`) as Record<
        string,
        unknown
      >;
    },

    assetDir: (logicalId, resource) => {
      const path = resource.Metadata?.['aws:asset:path'];
      if (typeof path !== 'string') {
        throw new ProvisionError(`Resources.${logicalId}: no aws:asset:path metadata to find its code by`);
      }
      const directory = resolve(stack.assemblyDir, path);
      if (!existsSync(directory)) {
        throw new ProvisionError(
          `Resources.${logicalId}: its asset ${directory} is missing (synthesize again)`,
        );
      }
      return directory;
    },

    functionOf: (value, path) => {
      if (typeof value !== 'string') throw new ProvisionError(`${path}: expected a function name or ARN`);
      const id = functionIds.get(functionKey(value));
      if (!id) throw new ProvisionError(`${path}: ${value} is not a function of this template`);
      return id;
    },
  };
};
