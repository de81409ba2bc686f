/**
 * Creates what the template declares on the embedded emulators, and turns the rest of it (functions,
 * the HTTP API, event source mappings, bucket notifications) into specs for the parts of the runtime
 * that run them. Idempotent: the emulators' data outlives the runtime, so every resource may already
 * exist; it is then compared with the template and brought in line, and reported `unchanged` when it
 * already was. Physical names are derived from the stack name and logical id, so they are stable
 * across restarts (and unlike CloudFormation's, which end in a random suffix).
 */

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  type AttributeDefinition,
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  type GlobalSecondaryIndex,
  type KeySchemaElement,
  type LocalSecondaryIndex,
  ResourceNotFoundException,
  type StreamSpecification,
  type TableDescription,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import {
  type CORSRule,
  CreateBucketCommand,
  DeleteBucketCorsCommand,
  GetBucketCorsCommand,
  HeadBucketCommand,
  PutBucketCorsCommand,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueDoesNotExist,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { constructName } from './cdk-metadata.ts';
import { localS3Client } from './emulators.ts';
import {
  IntrinsicError,
  localPseudoParameters,
  NO_VALUE,
  type ResolveScope,
  referencedIds,
  resolveString,
  resolveValue,
} from './intrinsics.ts';
import { type GenerateSecretStringSpec, generateSecretValue } from './secrets-manager.ts';
import { checkSupport, customResourceProviders, RESOURCE_SUPPORT } from './support.ts';
import {
  type BucketNotificationSpec,
  type CfnResource,
  type EventSourceMappingSpec,
  type FunctionSpec,
  type HttpApiCorsSpec,
  type HttpApiSpec,
  type HttpRouteSpec,
  LOCAL_ACCOUNT,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type LocalEndpoints,
  type LocalSecrets,
  type ProvisionAction,
  type ProvisionedStack,
  type ResolvedResource,
  type SynthesizedStack,
} from './types.ts';

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

/** Lambda's defaults where the template says nothing. */
const LAMBDA_DEFAULTS = {
  timeoutSeconds: 3,
  memoryMb: 128,
  maximumRetryAttempts: 2,
  maximumEventAgeSeconds: 21_600,
  sqsBatchSize: 10,
} as const;
/** API Gateway's default (and maximum) integration timeout for HTTP APIs. */
const INTEGRATION_TIMEOUT_MS = 30_000;

/** Attributes SQS gives a queue the template says nothing about (fauxqs agrees). */
const SQS_DEFAULTS: Readonly<Record<string, string>> = {
  VisibilityTimeout: '30',
  MessageRetentionPeriod: '345600',
  DelaySeconds: '0',
  ReceiveMessageWaitTimeSeconds: '0',
};

const QUEUE_ATTRIBUTES = [
  'VisibilityTimeout',
  'MessageRetentionPeriod',
  'DelaySeconds',
  'ReceiveMessageWaitTimeSeconds',
  'MaximumMessageSize',
  'FifoQueue',
  'ContentBasedDeduplication',
] as const;

const hashOf = (text: string, length: number): string =>
  createHash('sha256').update(text).digest('hex').slice(0, length);

/** CDK ends logical ids in an 8-character hash of the construct path; names read better without it. */
const withoutCdkHash = (logicalId: string): string => logicalId.replace(/[0-9A-F]{8}$/, '') || logicalId;

/**
 * A physical name like CloudFormation's (`<stack>-<logical id>-<suffix>`), with a suffix hashed from
 * the stack name and logical id instead of a random one, so that it is the same on every start.
 */
export const physicalName = (
  stackName: string,
  logicalId: string,
  rules: { maxLength: number; lowercase?: boolean; invalid: RegExp },
): string => {
  const clean = (text: string) => {
    const cased = rules.lowercase ? text.toLowerCase() : text;
    return cased.replace(rules.invalid, '-');
  };
  const suffix = hashOf(`${stackName}/${logicalId}`, 8);
  const base = clean(`${stackName}-${withoutCdkHash(logicalId)}`).slice(
    0,
    rules.maxLength - suffix.length - 1,
  );
  return `${base}-${suffix}`;
};

const NAME_RULES = {
  bucket: { maxLength: 63, lowercase: true, invalid: /[^a-z0-9-]/g },
  queue: { maxLength: 75, invalid: /[^A-Za-z0-9_-]/g },
  table: { maxLength: 255, invalid: /[^A-Za-z0-9_.-]/g },
  function: { maxLength: 64, invalid: /[^A-Za-z0-9_-]/g },
  layer: { maxLength: 140, invalid: /[^A-Za-z0-9_-]/g },
} as const;

const lambdaArn = (name: string) => `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${name}`;

/** The function ARN in a function name, ARN, qualified ARN or API Gateway invocation URI. */
const functionKey = (value: string): string => {
  const arn = /arn:aws:lambda:[^:]+:\d+:function:[^/:]+/.exec(value)?.[0];
  return arn ?? lambdaArn(value);
};

interface SecretStore {
  path: string;
  values: Record<string, string>;
  dirty: boolean;
}

const loadSecretStore = async (dataDir: string): Promise<SecretStore> => {
  const path = join(dataDir, 'secrets.json');
  const values = existsSync(path) ? (JSON.parse(await readFile(path, 'utf8')) as Record<string, string>) : {};
  return { path, values, dirty: false };
};

const saveSecretStore = async (store: SecretStore): Promise<void> => {
  if (!store.dirty) return;
  await mkdir(resolve(store.path, '..'), { recursive: true });
  await writeFile(`${store.path}.tmp`, `${JSON.stringify(store.values, null, 2)}\n`, { mode: 0o600 });
  await rename(`${store.path}.tmp`, store.path);
};

/** Resources in an order where each comes after everything it references or DependsOn. */
export const dependencyOrder = (resources: Readonly<Record<string, CfnResource>>): string[] => {
  const ids = Object.keys(resources);
  const dependencies = new Map(
    ids.map((id) => {
      const resource = resources[id] as CfnResource;
      const dependsOn = resource.DependsOn === undefined ? [] : [resource.DependsOn].flat();
      const all = [...referencedIds(resource.Properties ?? {}), ...dependsOn];
      return [id, new Set(all.filter((other) => other !== id && other in resources))];
    }),
  );
  const order: string[] = [];
  const done = new Set<string>();
  while (order.length < ids.length) {
    const ready = ids.filter(
      (id) => !done.has(id) && [...(dependencies.get(id) ?? [])].every((d) => done.has(d)),
    );
    if (ready.length === 0) {
      const stuck = ids.filter((id) => !done.has(id));
      throw new ProvisionError(
        `the template's resources reference each other in a cycle: ${stuck.join(', ')}`,
      );
    }
    for (const id of ready) {
      order.push(id);
      done.add(id);
    }
  }
  return order;
};

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

const toStringMap = (value: unknown, path: string): Record<string, string> => {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ProvisionError(`${path}: expected a map of strings`);
  }
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => {
      if (typeof item === 'string') return [key, item];
      if (typeof item === 'number' || typeof item === 'boolean') return [key, String(item)];
      throw new ProvisionError(`${path}.${key}: expected a string, got ${JSON.stringify(item)}`);
    }),
  );
};

/** CloudFormation's CorsRule → the S3 API's. */
const toS3CorsRules = (configuration: unknown, path: string): CORSRule[] | undefined => {
  const rules = (configuration as { CorsRules?: Record<string, unknown>[] } | undefined)?.CorsRules;
  if (rules === undefined) return undefined;
  const known = ['AllowedHeaders', 'AllowedMethods', 'AllowedOrigins', 'ExposedHeaders', 'MaxAge', 'Id'];
  return rules.map((rule, index) => {
    const unknown = Object.keys(rule).filter((key) => !known.includes(key));
    if (unknown.length > 0) {
      throw new ProvisionError(`${path}.CorsRules[${index}]: unknown CORS rule fields ${unknown.join(', ')}`);
    }
    return {
      ...(rule.Id !== undefined ? { ID: String(rule.Id) } : {}),
      AllowedMethods: rule.AllowedMethods as string[],
      AllowedOrigins: rule.AllowedOrigins as string[],
      ...(rule.AllowedHeaders !== undefined ? { AllowedHeaders: rule.AllowedHeaders as string[] } : {}),
      ...(rule.ExposedHeaders !== undefined ? { ExposeHeaders: rule.ExposedHeaders as string[] } : {}),
      ...(rule.MaxAge !== undefined ? { MaxAgeSeconds: Number(rule.MaxAge) } : {}),
    };
  });
};

/** A CORS rule as S3 returns it, in a comparable form. */
const normaliseCorsRule = (rule: CORSRule) => ({
  ID: rule.ID,
  AllowedMethods: rule.AllowedMethods ?? [],
  AllowedOrigins: rule.AllowedOrigins ?? [],
  AllowedHeaders: rule.AllowedHeaders ?? [],
  ExposeHeaders: rule.ExposeHeaders ?? [],
  MaxAgeSeconds: rule.MaxAgeSeconds,
});

const isNotImplemented = (error: unknown): boolean =>
  error instanceof S3ServiceException &&
  (error.$metadata.httpStatusCode === 501 || error.name === 'NotImplemented');

const isS3Missing = (error: unknown, ...codes: string[]): boolean =>
  error instanceof S3ServiceException &&
  (error.$metadata.httpStatusCode === 404 || codes.includes(error.name));

/** `prefix` and `suffix` of an S3 key filter (`{ Key: { FilterRules } }` or CloudFormation's `{ S3Key: { Rules } }`). */
const keyFilter = (filter: unknown): { prefix?: string; suffix?: string } => {
  const rules =
    (filter as { Key?: { FilterRules?: unknown[] } } | undefined)?.Key?.FilterRules ??
    (filter as { S3Key?: { Rules?: unknown[] } } | undefined)?.S3Key?.Rules ??
    [];
  const result: { prefix?: string; suffix?: string } = {};
  for (const rule of rules as { Name: string; Value: string }[]) {
    const name = rule.Name.toLowerCase();
    if (name === 'prefix' || name === 'suffix') result[name] = rule.Value;
  }
  return result;
};

interface FunctionEntry {
  logicalId: string;
  spec: FunctionSpec;
}

interface ApiParts {
  apis: { logicalId: string; name: string; cors?: HttpApiCorsSpec }[];
  stages: { apiLogicalId: string; stageName: string }[];
  integrations: Map<
    string,
    { functionLogicalId: string; payloadFormatVersion: '1.0' | '2.0'; timeoutMs: number }
  >;
  routes: { logicalId: string; apiLogicalId: string; routeKey: string; integrationRef: string }[];
}

/**
 * Provisions `stack` on the emulators at `endpoints` and returns what the rest of the runtime needs:
 * the resolved resources, the function specs, the HTTP API, the SQS event source mappings and the S3
 * notifications. Throws an UnsupportedTemplateError (listing everything) before touching an emulator
 * if the template has anything the runtime does not understand.
 */
export const provisionStack = async (
  stack: SynthesizedStack,
  endpoints: LocalEndpoints,
  options: ProvisionOptions,
): Promise<ProvisionedStack> => {
  const { template, stackName } = stack;
  checkSupport(template);

  const common = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, maxAttempts: 2 };
  const s3 = localS3Client(endpoints.s3, { ...common, ...(options.s3Access ?? {}) });
  const sqs = new SQSClient({ ...common, endpoint: endpoints.sqs, useQueueUrlAsEndpoint: false });
  const dynamodb = new DynamoDBClient({ ...common, endpoint: endpoints.dynamodb });

  const providers = customResourceProviders(template);
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
  const functions: FunctionEntry[] = [];
  const functionIds = new Map<string, string>();
  const layerDirs = new Map<string, string>();
  const invokeConfigs = new Map<string, { maximumRetryAttempts?: number; maximumEventAgeSeconds?: number }>();
  const eventSourceMappings: EventSourceMappingSpec[] = [];
  const bucketNotifications: BucketNotificationSpec[] = [];
  const api: ApiParts = { apis: [], stages: [], integrations: new Map(), routes: [] };
  const functionUrls: HttpApiSpec[] = [];
  const secretStore = await loadSecretStore(options.dataDir);

  /** The resource's emulated properties, resolved (accepted ones are left alone: they may reference anything). */
  const propertiesOf = (logicalId: string, resource: CfnResource): Record<string, unknown> => {
    const support = RESOURCE_SUPPORT[resource.Type];
    const properties = resource.Properties ?? {};
    const emulatedOnly = Object.fromEntries(
      Object.entries(properties).filter(
        ([name]) => support?.kind === 'emulated' && support.properties[name]?.handling === 'emulated',
      ),
    );
    return resolveValue(emulatedOnly, scope, `Resources.${logicalId}.Properties`) as Record<string, unknown>;
  };

  const functionOf = (value: unknown, path: string): string => {
    if (typeof value !== 'string') throw new ProvisionError(`${path}: expected a function name or ARN`);
    const id = functionIds.get(functionKey(value));
    if (!id) throw new ProvisionError(`${path}: ${value} is not a function of this template`);
    return id;
  };

  const assetDir = (logicalId: string, resource: CfnResource): string => {
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
  };

  const record = (logicalId: string, type: string, action: ProvisionAction['action'], detail?: string) =>
    actions.push({ logicalId, type, action, ...(detail ? { detail } : {}) });

  const bucketNotificationsOf = (
    bucketLogicalId: string,
    bucketName: string,
    configurations: unknown,
    path: string,
    shape: 'custom' | 'bucket',
  ): void => {
    for (const [index, configuration] of (
      (configurations as Record<string, unknown>[] | undefined) ?? []
    ).entries()) {
      const at = `${path}[${index}]`;
      const events =
        shape === 'custom' ? (configuration.Events as string[]) : [configuration.Event as string];
      const target = shape === 'custom' ? configuration.LambdaFunctionArn : configuration.Function;
      bucketNotifications.push({
        bucketLogicalId,
        bucketName,
        events,
        ...keyFilter(configuration.Filter),
        functionLogicalId: functionOf(target, at),
      });
    }
  };

  const handlers: Record<string, (logicalId: string, resource: CfnResource) => Promise<ResolvedResource>> = {
    'AWS::S3::Bucket': async (logicalId, resource) => {
      const properties = propertiesOf(logicalId, resource);
      const name =
        (properties.BucketName as string | undefined) ??
        physicalName(stackName, logicalId, NAME_RULES.bucket);
      const changes: string[] = [];
      let created = false;
      try {
        await s3.send(new HeadBucketCommand({ Bucket: name }));
      } catch (error) {
        if (!isS3Missing(error, 'NotFound', 'NoSuchBucket')) throw error;
        await s3.send(new CreateBucketCommand({ Bucket: name }));
        created = true;
      }
      const wanted = toS3CorsRules(
        properties.CorsConfiguration,
        `Resources.${logicalId}.Properties.CorsConfiguration`,
      );
      try {
        const current = await s3
          .send(new GetBucketCorsCommand({ Bucket: name }))
          .then((response) => response.CORSRules)
          .catch((error: unknown) => {
            if (isS3Missing(error, 'NoSuchCORSConfiguration')) return undefined;
            throw error;
          });
        if (wanted && !sameJson(wanted.map(normaliseCorsRule), (current ?? []).map(normaliseCorsRule))) {
          await s3.send(new PutBucketCorsCommand({ Bucket: name, CORSConfiguration: { CORSRules: wanted } }));
          changes.push('CORS rules');
        } else if (!wanted && current) {
          await s3.send(new DeleteBucketCorsCommand({ Bucket: name }));
          changes.push('CORS rules removed');
        }
      } catch (error) {
        // MinIO's community server has no bucket CORS API: it applies one server-wide setting
        // (MINIO_API_CORS_ALLOW_ORIGIN) to every bucket instead.
        if (!isNotImplemented(error)) throw error;
        if (wanted) changes.push('CORS rules not applied: this S3 server has no bucket CORS API');
      }
      record(
        logicalId,
        resource.Type,
        created ? 'created' : changes.length ? 'updated' : 'unchanged',
        changes.join(', '),
      );
      const notifications = properties.NotificationConfiguration as
        | { LambdaConfigurations?: unknown }
        | undefined;
      bucketNotificationsOf(
        logicalId,
        name,
        notifications?.LambdaConfigurations,
        `Resources.${logicalId}.Properties.NotificationConfiguration.LambdaConfigurations`,
        'bucket',
      );
      return {
        type: resource.Type,
        ref: name,
        attributes: {
          Arn: `arn:aws:s3:::${name}`,
          DomainName: `${name}.s3.amazonaws.com`,
          RegionalDomainName: `${name}.s3.${LOCAL_REGION}.amazonaws.com`,
          DualStackDomainName: `${name}.s3.dualstack.${LOCAL_REGION}.amazonaws.com`,
          WebsiteURL: `http://${name}.s3-website-${LOCAL_REGION}.amazonaws.com`,
        },
      };
    },

    'AWS::SQS::Queue': async (logicalId, resource) => {
      const properties = propertiesOf(logicalId, resource);
      const fifo = String(properties.FifoQueue) === 'true';
      const name =
        (properties.QueueName as string | undefined) ??
        `${physicalName(stackName, logicalId, NAME_RULES.queue)}${fifo ? '.fifo' : ''}`;
      const wanted: Record<string, string> = { ...SQS_DEFAULTS };
      for (const attribute of QUEUE_ATTRIBUTES) {
        if (properties[attribute] !== undefined) wanted[attribute] = String(properties[attribute]);
      }
      if (properties.RedrivePolicy !== undefined) {
        const policy = properties.RedrivePolicy as {
          deadLetterTargetArn?: unknown;
          maxReceiveCount?: unknown;
        };
        wanted.RedrivePolicy = JSON.stringify({
          deadLetterTargetArn: policy.deadLetterTargetArn,
          maxReceiveCount: Number(policy.maxReceiveCount),
        });
      }
      const existingUrl = await sqs
        .send(new GetQueueUrlCommand({ QueueName: name }))
        .then((response) => response.QueueUrl)
        .catch((error: unknown) => {
          if (error instanceof QueueDoesNotExist || (error as Error).name.includes('NonExistentQueue'))
            return undefined;
          throw error;
        });
      let url: string;
      if (existingUrl) {
        url = existingUrl;
        const current: Record<string, string | undefined> =
          (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] })))
            .Attributes ?? {};
        const differs = (attribute: string, value: string) =>
          attribute === 'RedrivePolicy'
            ? !sameJson(JSON.parse(value), redriveOf(current.RedrivePolicy))
            : current[attribute] !== value;
        const changed = Object.fromEntries(
          Object.entries(wanted).filter(([attribute, value]) => differs(attribute, value)),
        );
        if (Object.keys(changed).length > 0) {
          await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: changed }));
          const detail = Object.keys(changed)
            .map((attribute) => `${attribute} ${current[attribute] ?? '(none)'} → ${changed[attribute]}`)
            .join(', ');
          record(logicalId, resource.Type, 'updated', detail);
        } else {
          record(logicalId, resource.Type, 'unchanged');
        }
      } else {
        const response = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: wanted }));
        url = response.QueueUrl as string;
        record(logicalId, resource.Type, 'created');
      }
      const { Attributes: attributes = {} } = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
      );
      return {
        type: resource.Type,
        ref: url,
        attributes: { Arn: attributes.QueueArn as string, QueueUrl: url, QueueName: name },
      };
    },

    'AWS::DynamoDB::Table': async (logicalId, resource) => {
      const properties = propertiesOf(logicalId, resource);
      const path = `Resources.${logicalId}`;
      const name =
        (properties.TableName as string | undefined) ?? physicalName(stackName, logicalId, NAME_RULES.table);
      const keySchema = properties.KeySchema as KeySchemaElement[];
      const streamViewType = (properties.StreamSpecification as { StreamViewType?: string } | undefined)
        ?.StreamViewType;
      const stream: StreamSpecification = streamViewType
        ? { StreamEnabled: true, StreamViewType: streamViewType as StreamSpecification['StreamViewType'] }
        : { StreamEnabled: false };
      const billingMode = (properties.BillingMode as string | undefined) ?? 'PROVISIONED';
      const throughput = properties.ProvisionedThroughput as
        | { ReadCapacityUnits: number; WriteCapacityUnits: number }
        | undefined;
      const capacity =
        billingMode === 'PAY_PER_REQUEST'
          ? {}
          : {
              ProvisionedThroughput: {
                ReadCapacityUnits: Number(throughput?.ReadCapacityUnits ?? 5),
                WriteCapacityUnits: Number(throughput?.WriteCapacityUnits ?? 5),
              },
            };
      const indexes = (properties.GlobalSecondaryIndexes as GlobalSecondaryIndex[] | undefined) ?? [];
      const toGsi = (index: GlobalSecondaryIndex): GlobalSecondaryIndex => ({
        IndexName: index.IndexName,
        KeySchema: index.KeySchema,
        Projection: index.Projection,
        ...(billingMode === 'PAY_PER_REQUEST' ? {} : capacity),
      });
      const localIndexes = (properties.LocalSecondaryIndexes as LocalSecondaryIndex[] | undefined) ?? [];
      const changes: string[] = [];

      let table: TableDescription | undefined = await dynamodb
        .send(new DescribeTableCommand({ TableName: name }))
        .then((response) => response.Table)
        .catch((error: unknown) => {
          if (error instanceof ResourceNotFoundException) return undefined;
          throw error;
        });
      const created = table === undefined;
      if (!table) {
        const response = await dynamodb.send(
          new CreateTableCommand({
            TableName: name,
            KeySchema: keySchema,
            AttributeDefinitions: properties.AttributeDefinitions as AttributeDefinition[],
            BillingMode: billingMode as 'PAY_PER_REQUEST' | 'PROVISIONED',
            ...capacity,
            ...(indexes.length ? { GlobalSecondaryIndexes: indexes.map(toGsi) } : {}),
            ...(localIndexes.length
              ? {
                  LocalSecondaryIndexes: localIndexes.map((index) => ({
                    IndexName: index.IndexName,
                    KeySchema: index.KeySchema,
                    Projection: index.Projection,
                  })),
                }
              : {}),
            ...(stream.StreamEnabled ? { StreamSpecification: stream } : {}),
          }),
        );
        table = response.TableDescription as TableDescription;
      } else {
        if (!sameJson(table.KeySchema, keySchema)) {
          throw new ProvisionError(
            `${path}: table ${name} exists with the key ${JSON.stringify(table.KeySchema)}, but the template ` +
              `declares ${JSON.stringify(keySchema)}; a key cannot change: delete the local data to start over`,
          );
        }
        const existingLocal = (table.LocalSecondaryIndexes ?? []).map((index) => index.IndexName).sort();
        if (!sameJson(existingLocal, localIndexes.map((index) => index.IndexName).sort())) {
          throw new ProvisionError(
            `${path}: table ${name} has other local secondary indexes than the template declares; they cannot ` +
              'change after creation: delete the local data to start over',
          );
        }
        const existing = new Set((table.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName));
        const declared = new Set(indexes.map((index) => index.IndexName));
        for (const index of indexes.filter((index) => !existing.has(index.IndexName))) {
          await dynamodb.send(
            new UpdateTableCommand({
              TableName: name,
              AttributeDefinitions: properties.AttributeDefinitions as AttributeDefinition[],
              GlobalSecondaryIndexUpdates: [{ Create: toGsi(index) }],
            }),
          );
          changes.push(`index ${index.IndexName} created`);
        }
        for (const indexName of [...existing].filter((indexName) => !declared.has(indexName))) {
          await dynamodb.send(
            new UpdateTableCommand({
              TableName: name,
              GlobalSecondaryIndexUpdates: [{ Delete: { IndexName: indexName } }],
            }),
          );
          changes.push(`index ${indexName} deleted`);
        }
        const currentStream = table.StreamSpecification?.StreamEnabled
          ? table.StreamSpecification.StreamViewType
          : undefined;
        if (currentStream !== streamViewType) {
          if (currentStream) {
            await dynamodb.send(
              new UpdateTableCommand({ TableName: name, StreamSpecification: { StreamEnabled: false } }),
            );
          }
          if (stream.StreamEnabled) {
            await dynamodb.send(new UpdateTableCommand({ TableName: name, StreamSpecification: stream }));
          }
          changes.push(`stream ${currentStream ?? 'off'} → ${streamViewType ?? 'off'}`);
        }
      }

      const ttl = properties.TimeToLiveSpecification as
        | { AttributeName?: string; Enabled?: boolean }
        | undefined;
      const wantedTtl = ttl && String(ttl.Enabled) === 'true' ? ttl.AttributeName : undefined;
      const { TimeToLiveDescription: currentTtl } = await dynamodb.send(
        new DescribeTimeToLiveCommand({ TableName: name }),
      );
      const enabledTtl =
        currentTtl?.TimeToLiveStatus === 'ENABLED' || currentTtl?.TimeToLiveStatus === 'ENABLING'
          ? currentTtl.AttributeName
          : undefined;
      if (enabledTtl !== wantedTtl) {
        if (enabledTtl) {
          await dynamodb.send(
            new UpdateTimeToLiveCommand({
              TableName: name,
              TimeToLiveSpecification: { AttributeName: enabledTtl, Enabled: false },
            }),
          );
        }
        if (wantedTtl) {
          await dynamodb.send(
            new UpdateTimeToLiveCommand({
              TableName: name,
              TimeToLiveSpecification: { AttributeName: wantedTtl, Enabled: true },
            }),
          );
        }
        if (!created) changes.push(`TTL ${enabledTtl ?? 'off'} → ${wantedTtl ?? 'off'}`);
      }
      record(
        logicalId,
        resource.Type,
        created ? 'created' : changes.length ? 'updated' : 'unchanged',
        changes.join(', '),
      );

      const latest = stream.StreamEnabled
        ? ((await dynamodb.send(new DescribeTableCommand({ TableName: name }))).Table?.LatestStreamArn ??
          undefined)
        : undefined;
      return {
        type: resource.Type,
        ref: name,
        attributes: {
          Arn: `arn:aws:dynamodb:${LOCAL_REGION}:${LOCAL_ACCOUNT}:table/${name}`,
          ...(latest ? { StreamArn: latest } : {}),
        },
      };
    },

    // Locally, Secrets Manager is the runtime's substitute (local/secrets-manager.ts): the value is
    // registered there in-process, and the functions read it through the real SDK client.
    'AWS::SecretsManager::Secret': async (logicalId, resource) => {
      const properties = propertiesOf(logicalId, resource);
      // CloudFormation names a secret `<logical id>-<10 random characters>` (CDK's secretName parses that
      // shape out of the ARN); here the random part is hashed, so the name is the same on every start.
      const name =
        (properties.Name as string | undefined) ?? `${logicalId}-${hashOf(`${stackName}/${logicalId}`, 10)}`;
      const arn = `arn:aws:secretsmanager:${LOCAL_REGION}:${LOCAL_ACCOUNT}:secret:${name}-${hashOf(name, 6)}`;
      const key = `${stackName}/${logicalId}`;
      const override = options.secrets.valueFor(logicalId);
      let value: string;
      if (override !== undefined) {
        value = override;
        record(logicalId, resource.Type, 'unchanged', 'value from the environment');
      } else if (typeof properties.SecretString === 'string') {
        value = properties.SecretString;
        record(logicalId, resource.Type, 'unchanged');
      } else if (secretStore.values[key] !== undefined) {
        value = secretStore.values[key];
        record(logicalId, resource.Type, 'unchanged');
      } else {
        value = generateSecretValue(properties.GenerateSecretString as GenerateSecretStringSpec | undefined);
        secretStore.values[key] = value;
        secretStore.dirty = true;
        record(logicalId, resource.Type, 'created', `value generated and kept in ${secretStore.path}`);
      }
      options.secrets.register({ name, arn, value });
      return { type: resource.Type, ref: arn, attributes: { Id: arn } };
    },

    'AWS::Lambda::LayerVersion': async (logicalId, resource) => {
      const properties = propertiesOf(logicalId, resource);
      const name =
        (properties.LayerName as string | undefined) ?? physicalName(stackName, logicalId, NAME_RULES.layer);
      const arn = `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:layer:${name}:1`;
      layerDirs.set(arn, assetDir(logicalId, resource));
      return { type: resource.Type, ref: arn, attributes: { LayerVersionArn: arn } };
    },

    'AWS::Lambda::Function': async (logicalId, resource) => {
      const path = `Resources.${logicalId}.Properties`;
      if (providers.has(logicalId)) {
        const name = physicalName(stackName, logicalId, NAME_RULES.function);
        return { type: resource.Type, ref: name, attributes: { Arn: lambdaArn(name) } };
      }
      const properties = propertiesOf(logicalId, resource);
      const functionName = properties.FunctionName as string | undefined;
      const name = functionName ?? physicalName(stackName, logicalId, NAME_RULES.function);
      const arn = lambdaArn(name);
      functionIds.set(arn, logicalId);
      const layers = ((properties.Layers as string[] | undefined) ?? []).map((layerArn, index) => {
        const directory = layerDirs.get(layerArn);
        if (!directory) {
          throw new ProvisionError(
            `${path}.Layers[${index}]: ${layerArn} is not a layer of this template; layers from elsewhere cannot be mounted locally`,
          );
        }
        return directory;
      });
      const variables = (properties.Environment as { Variables?: unknown } | undefined)?.Variables;
      const deadLetterTargetArn = (properties.DeadLetterConfig as { TargetArn?: string } | undefined)
        ?.TargetArn;
      functions.push({
        logicalId,
        spec: {
          logicalId,
          name: functionName ?? constructName(resource) ?? logicalId,
          handler: properties.Handler as string,
          codeDir: assetDir(logicalId, resource),
          layerDirs: layers,
          environment: toStringMap(variables, `${path}.Environment.Variables`),
          timeoutSeconds: Number(properties.Timeout ?? LAMBDA_DEFAULTS.timeoutSeconds),
          memoryMb: Number(properties.MemorySize ?? LAMBDA_DEFAULTS.memoryMb),
          ...(deadLetterTargetArn ? { deadLetterTargetArn } : {}),
        },
      });
      return { type: resource.Type, ref: name, attributes: { Arn: arn } };
    },

    'AWS::Lambda::Url': async (logicalId, resource) => {
      const properties = propertiesOf(logicalId, resource);
      const path = `Resources.${logicalId}.Properties`;
      const functionLogicalId = functionOf(properties.TargetFunctionArn, `${path}.TargetFunctionArn`);
      if (!options.functionUrlBaseUrl) {
        throw new ProvisionError(`Resources.${logicalId}: this run serves no function URLs`);
      }
      const baseUrl = (await options.functionUrlBaseUrl(logicalId)).replace(/\/$/, '');
      const cors = properties.Cors as Record<string, unknown> | undefined;
      const target = functions.find((entry) => entry.logicalId === functionLogicalId)?.spec;
      functionUrls.push({
        logicalId,
        name: target?.name ?? functionLogicalId,
        baseUrl,
        stageName: '$default',
        ...(cors ? { cors: corsSpecOf(cors) } : {}),
        routes: [
          {
            routeKey: '$default',
            method: 'ANY',
            paths: [],
            functionLogicalId,
            payloadFormatVersion: '2.0',
            // A function URL waits as long as the function may run.
            timeoutMs: (target?.timeoutSeconds ?? LAMBDA_DEFAULTS.timeoutSeconds) * 1000 + 1000,
          },
        ],
      });
      const functionArn = resources[functionLogicalId]?.attributes.Arn ?? '';
      return {
        type: resource.Type,
        ref: functionArn,
        attributes: { FunctionArn: functionArn, FunctionUrl: `${baseUrl}/` },
      };
    },

    'AWS::Lambda::EventInvokeConfig': async (logicalId, resource) => {
      const properties = propertiesOf(logicalId, resource);
      const functionLogicalId = functionOf(
        properties.FunctionName,
        `Resources.${logicalId}.Properties.FunctionName`,
      );
      invokeConfigs.set(functionLogicalId, {
        ...(properties.MaximumRetryAttempts !== undefined
          ? { maximumRetryAttempts: Number(properties.MaximumRetryAttempts) }
          : {}),
        ...(properties.MaximumEventAgeInSeconds !== undefined
          ? { maximumEventAgeSeconds: Number(properties.MaximumEventAgeInSeconds) }
          : {}),
      });
      return { type: resource.Type, ref: `${functionLogicalId}-$LATEST`, attributes: {} };
    },

    'AWS::Lambda::EventSourceMapping': async (logicalId, resource) => {
      const properties = propertiesOf(logicalId, resource);
      const path = `Resources.${logicalId}.Properties`;
      const sourceArn = properties.EventSourceArn as string;
      const queue = Object.entries(resources).find(
        ([, resolved]) => resolved.type === 'AWS::SQS::Queue' && resolved.attributes.Arn === sourceArn,
      );
      if (!queue) {
        throw new ProvisionError(
          `${path}.EventSourceArn: ${sourceArn} is not a queue of this template; only SQS event sources are emulated`,
        );
      }
      const [queueLogicalId, resolvedQueue] = queue;
      const enabled = properties.Enabled === undefined || String(properties.Enabled) === 'true';
      eventSourceMappings.push({
        logicalId,
        functionLogicalId: functionOf(properties.FunctionName, `${path}.FunctionName`),
        queueLogicalId,
        queueUrl: resolvedQueue.ref,
        queueArn: sourceArn,
        batchSize: Number(properties.BatchSize ?? LAMBDA_DEFAULTS.sqsBatchSize),
        maximumBatchingWindowSeconds: Number(properties.MaximumBatchingWindowInSeconds ?? 0),
        reportBatchItemFailures: ((properties.FunctionResponseTypes as string[] | undefined) ?? []).includes(
          'ReportBatchItemFailures',
        ),
        enabled,
      });
      const uuid = hashOf(`${stackName}/${logicalId}`, 32).replace(
        /^(.{8})(.{4})(.{4})(.{4})(.{12})$/,
        '$1-$2-$3-$4-$5',
      );
      return {
        type: resource.Type,
        ref: uuid,
        attributes: {
          Id: uuid,
          EventSourceMappingArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:event-source-mapping:${uuid}`,
        },
      };
    },

    'Custom::S3BucketNotifications': async (logicalId, resource) => {
      const properties = propertiesOf(logicalId, resource);
      const bucketName = properties.BucketName as string;
      const bucket = Object.entries(resources).find(
        ([, resolved]) => resolved.type === 'AWS::S3::Bucket' && resolved.ref === bucketName,
      );
      if (!bucket) {
        throw new ProvisionError(
          `Resources.${logicalId}.Properties.BucketName: ${bucketName} is not a bucket of this template`,
        );
      }
      const configuration = properties.NotificationConfiguration as {
        LambdaFunctionConfigurations?: unknown;
      };
      bucketNotificationsOf(
        bucket[0],
        bucketName,
        configuration?.LambdaFunctionConfigurations,
        `Resources.${logicalId}.Properties.NotificationConfiguration.LambdaFunctionConfigurations`,
        'custom',
      );
      return { type: resource.Type, ref: `${stackName}-${logicalId}`, attributes: {} };
    },

    'AWS::ApiGatewayV2::Api': async (logicalId, resource) => {
      const properties = propertiesOf(logicalId, resource);
      const cors = properties.CorsConfiguration as Record<string, unknown> | undefined;
      api.apis.push({
        logicalId,
        name: (properties.Name as string | undefined) ?? logicalId,
        ...(cors ? { cors: corsSpecOf(cors) } : {}),
      });
      const id = apiIdOf(stackName, logicalId);
      return {
        type: resource.Type,
        ref: id,
        attributes: { ApiId: id, ApiEndpoint: options.apiBaseUrl.replace(/\/$/, '') },
      };
    },

    'AWS::ApiGatewayV2::Stage': async (logicalId, resource) => {
      const properties = propertiesOf(logicalId, resource);
      const stageName = properties.StageName as string;
      api.stages.push({ apiLogicalId: apiLogicalIdOf(properties.ApiId, logicalId), stageName });
      return { type: resource.Type, ref: stageName, attributes: {} };
    },

    'AWS::ApiGatewayV2::Integration': async (logicalId, resource) => {
      const properties = propertiesOf(logicalId, resource);
      const path = `Resources.${logicalId}.Properties`;
      const version = properties.PayloadFormatVersion;
      if (version !== '1.0' && version !== '2.0') {
        throw new ProvisionError(
          `${path}.PayloadFormatVersion: expected 1.0 or 2.0, got ${JSON.stringify(version)}`,
        );
      }
      const id = hashOf(`${stackName}/${logicalId}`, 7);
      api.integrations.set(id, {
        functionLogicalId: functionOf(properties.IntegrationUri, `${path}.IntegrationUri`),
        payloadFormatVersion: version,
        timeoutMs: Number(properties.TimeoutInMillis ?? INTEGRATION_TIMEOUT_MS),
      });
      return { type: resource.Type, ref: id, attributes: { IntegrationId: id } };
    },

    'AWS::ApiGatewayV2::Route': async (logicalId, resource) => {
      const properties = propertiesOf(logicalId, resource);
      const target = properties.Target as string | undefined;
      const integrationRef = /^integrations\/(.+)$/.exec(target ?? '')?.[1];
      if (!integrationRef) {
        throw new ProvisionError(
          `Resources.${logicalId}.Properties.Target: expected integrations/<id>, got ${JSON.stringify(target)}`,
        );
      }
      api.routes.push({
        logicalId,
        apiLogicalId: apiLogicalIdOf(properties.ApiId, logicalId),
        routeKey: properties.RouteKey as string,
        integrationRef,
      });
      const id = hashOf(`${stackName}/${logicalId}`, 7);
      return { type: resource.Type, ref: id, attributes: { RouteId: id } };
    },
  };

  const apiLogicalIdOf = (apiId: unknown, logicalId: string): string => {
    const found = Object.entries(resources).find(
      ([, resolved]) => resolved.type === 'AWS::ApiGatewayV2::Api' && resolved.ref === apiId,
    );
    if (!found)
      throw new ProvisionError(
        `Resources.${logicalId}.Properties.ApiId: ${String(apiId)} is not an API of this template`,
      );
    return found[0];
  };

  try {
    for (const logicalId of dependencyOrder(template.Resources)) {
      const resource = template.Resources[logicalId] as CfnResource;
      const handler = handlers[resource.Type];
      try {
        resources[logicalId] =
          handler && (providers.has(logicalId) || RESOURCE_SUPPORT[resource.Type]?.kind === 'emulated')
            ? await handler(logicalId, resource)
            : placeholder(stackName, logicalId, resource);
      } catch (error) {
        if (error instanceof ProvisionError || error instanceof IntrinsicError) throw error;
        throw new ProvisionError(
          `Resources.${logicalId} (${resource.Type}): ${(error as Error).name}: ${(error as Error).message}`,
          { cause: error },
        );
      }
    }
  } finally {
    s3.destroy();
    sqs.destroy();
    dynamodb.destroy();
    await saveSecretStore(secretStore);
  }

  const localise = localiseApiUrls(resources, options.apiBaseUrl);
  const outputs = Object.fromEntries(
    Object.entries(template.Outputs ?? {}).flatMap(([name, output]) => {
      const value = resolveValue(output.Value, scope, `Outputs.${name}.Value`);
      if (value === NO_VALUE) return [];
      return [[name, localise(resolveString(value, scope, `Outputs.${name}.Value`))]];
    }),
  );

  return {
    resources,
    functions: functions.map(({ logicalId, spec }) => ({
      ...spec,
      environment: Object.fromEntries(
        Object.entries(spec.environment).map(([key, value]) => [key, localise(value)]),
      ),
      maximumRetryAttempts:
        invokeConfigs.get(logicalId)?.maximumRetryAttempts ?? LAMBDA_DEFAULTS.maximumRetryAttempts,
      maximumEventAgeSeconds:
        invokeConfigs.get(logicalId)?.maximumEventAgeSeconds ?? LAMBDA_DEFAULTS.maximumEventAgeSeconds,
    })),
    httpApi: httpApiSpec(api, options.apiBaseUrl),
    functionUrls,
    eventSourceMappings,
    bucketNotifications,
    outputs,
    actions,
  };
};

/** CORS of an HTTP API (CorsConfiguration) or a function URL (Cors): the same fields. */
const corsSpecOf = (cors: Record<string, unknown>): HttpApiCorsSpec => ({
  allowOrigins: (cors.AllowOrigins as string[] | undefined) ?? [],
  allowMethods: (cors.AllowMethods as string[] | undefined) ?? [],
  allowHeaders: (cors.AllowHeaders as string[] | undefined) ?? [],
  exposeHeaders: (cors.ExposeHeaders as string[] | undefined) ?? [],
  ...(cors.MaxAge !== undefined ? { maxAgeSeconds: Number(cors.MaxAge) } : {}),
  allowCredentials: String(cors.AllowCredentials) === 'true',
});

const redriveOf = (value: string | undefined): unknown => {
  if (!value) return undefined;
  const policy = JSON.parse(value) as { deadLetterTargetArn?: string; maxReceiveCount?: unknown };
  return { deadLetterTargetArn: policy.deadLetterTargetArn, maxReceiveCount: Number(policy.maxReceiveCount) };
};

/** An API id like API Gateway's (10 lowercase alphanumerics), the same on every start. */
const apiIdOf = (stackName: string, logicalId: string): string =>
  BigInt(`0x${hashOf(`${stackName}/${logicalId}`, 16)}`)
    .toString(36)
    .padStart(10, '0')
    .slice(0, 10);

/**
 * Replaces the AWS URL of each HTTP API (`https://<id>.execute-api.<region>.amazonaws.com`, which is
 * what CDK's `stage.url` and `api.apiEndpoint` build) with the local base URL.
 */
const localiseApiUrls = (resources: Record<string, ResolvedResource>, apiBaseUrl: string) => {
  const base = apiBaseUrl.replace(/\/$/, '');
  const cloudEndpoints = Object.values(resources)
    .filter((resolved) => resolved.type === 'AWS::ApiGatewayV2::Api')
    .map((resolved) => `https://${resolved.ref}.execute-api.${LOCAL_REGION}.amazonaws.com`);
  return (value: string): string =>
    cloudEndpoints.reduce((text, endpoint) => text.split(endpoint).join(base), value);
};

/** Ignored resources still answer Ref (and the odd Arn), in case an accepted property references them. */
const placeholder = (stackName: string, logicalId: string, resource: CfnResource): ResolvedResource => {
  const name = physicalName(stackName, logicalId, NAME_RULES.function);
  const arns: Record<string, string> = {
    'AWS::IAM::Role': `arn:aws:iam::${LOCAL_ACCOUNT}:role/${name}`,
    'AWS::IAM::ManagedPolicy': `arn:aws:iam::${LOCAL_ACCOUNT}:policy/${name}`,
    'AWS::Logs::LogGroup': `arn:aws:logs:${LOCAL_REGION}:${LOCAL_ACCOUNT}:log-group:${name}:*`,
    'AWS::CloudWatch::Alarm': `arn:aws:cloudwatch:${LOCAL_REGION}:${LOCAL_ACCOUNT}:alarm:${name}`,
  };
  const arn = arns[resource.Type];
  return { type: resource.Type, ref: name, attributes: arn ? { Arn: arn } : {} };
};

const httpApiSpec = (parts: ApiParts, apiBaseUrl: string): HttpApiSpec | undefined => {
  if (parts.apis.length === 0) return undefined;
  if (parts.apis.length > 1) {
    throw new ProvisionError(
      `the template declares ${parts.apis.length} HTTP APIs (${parts.apis.map((a) => a.logicalId).join(', ')}); the local runtime serves one`,
    );
  }
  const [declared] = parts.apis as [ApiParts['apis'][number]];
  const stages = parts.stages.filter((stage) => stage.apiLogicalId === declared.logicalId);
  const stageName =
    stages.find((stage) => stage.stageName === '$default')?.stageName ?? stages[0]?.stageName ?? '$default';
  const declaredRoutes = parts.routes.filter((route) => route.apiLogicalId === declared.logicalId);
  const keys = new Set(declaredRoutes.map((route) => route.routeKey));
  const routes = declaredRoutes.map((route): HttpRouteSpec => {
    const integration = parts.integrations.get(route.integrationRef);
    if (!integration) {
      throw new ProvisionError(
        `Resources.${route.logicalId}.Properties.Target: integration ${route.integrationRef} is not in this template`,
      );
    }
    if (route.routeKey === '$default') {
      return { routeKey: route.routeKey, method: 'ANY', paths: [], ...integration };
    }
    const [method = 'ANY', path = '/'] = route.routeKey.split(/\s+/, 2);
    const slashed = `${path}/`;
    const paths =
      path === '/' || path.endsWith('/') || keys.has(`${method} ${slashed}`) ? [path] : [path, slashed];
    return { routeKey: route.routeKey, method, path, paths, ...integration };
  });
  return {
    logicalId: declared.logicalId,
    name: declared.name,
    baseUrl: apiBaseUrl.replace(/\/$/, ''),
    stageName,
    ...(declared.cors ? { cors: declared.cors } : {}),
    routes,
  };
};
