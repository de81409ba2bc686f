/**
 * Lambda: functions become FunctionSpecs for the worker pool (their bundled assets, layers' asset
 * directories, environment resolved to local values), event invoke configs their asynchronous retries
 * and event age (run by local/async-invoke.ts), event source mappings SQS pollers, and function URLs an
 * HTTP server of their own. CDK's deploy-time custom-resource providers resolve to a name and ARN but
 * never run.
 */
import { ASYNC_INVOKE_DEFAULTS } from '../async-invoke.ts';
import { constructName } from '../cdk-metadata.ts';
import { type FunctionSpec, LOCAL_ACCOUNT, LOCAL_REGION } from '../types.ts';
import { corsSpecOf } from './apigatewayv2.ts';
import { type ProvisionContext, ProvisionError, type Provisioner } from './context.ts';
import { declaredOrPhysicalName, hashOf, lambdaArn, NAME_RULES, physicalName } from './names.ts';
import {
  accepted,
  allChecks,
  DESCRIPTION,
  emulated,
  literalCheck,
  NO_IAM,
  type ResourceSupport,
  type SupportCheck,
  TAGS,
} from './support-entry.ts';

/** Problems of an application function (not a custom-resource provider) that the emulation depends on. */
const functionProblems: SupportCheck = (resource, path) => {
  const problems: string[] = [];
  const runtime = resource.Properties?.Runtime;
  if (typeof runtime !== 'string' || !runtime.startsWith('nodejs')) {
    problems.push(
      `${path}.Properties.Runtime: runtime ${String(runtime)} is not supported locally (only nodejs* functions run)`,
    );
  }
  if (typeof resource.Metadata?.['aws:asset:path'] !== 'string') {
    problems.push(
      `${path}.Metadata: no aws:asset:path metadata: the function code must be a CDK asset (synthesize with ` +
        'aws:cdk:enable-asset-metadata, as local/synth.ts does)',
    );
  }
  return problems;
};

const qualifierCheck = literalCheck('Qualifier', ['$LATEST'], 'qualifier');

export const support: Readonly<Record<string, ResourceSupport>> = {
  'AWS::Lambda::Function': {
    kind: 'emulated',
    emulation: 'a FunctionSpec run by the function workers',
    properties: {
      Code: emulated("its bundled asset directory (the resource's aws:asset:path metadata)"),
      Handler: emulated(),
      Runtime: emulated('Node.js runtimes only, run on the local Node'),
      Environment: emulated('references resolved to local values'),
      Timeout: emulated(),
      MemorySize: emulated(),
      Layers: emulated("the layers' asset directories"),
      DeadLetterConfig: emulated(
        'an SQS queue of the template: where an asynchronous event goes after its last failure, with ' +
          "Lambda's RequestID, ErrorCode and ErrorMessage attributes (local/async-invoke.ts); an SNS topic is not " +
          'emulated (the event is logged instead)',
      ),
      FunctionName: emulated(),
      Architectures: accepted("runs on the host's architecture"),
      Description: DESCRIPTION,
      Role: accepted(NO_IAM),
      LoggingConfig: accepted("logs go to the runtime's console"),
      EphemeralStorage: accepted("/tmp is the host's, not size-limited"),
      TracingConfig: accepted('no X-Ray locally'),
      ReservedConcurrentExecutions: accepted('not enforced locally'),
      Tags: TAGS,
    },
    check: functionProblems,
  },
  'AWS::Lambda::LayerVersion': {
    kind: 'emulated',
    emulation: "a layer directory in its functions' FunctionSpec.layerDirs",
    properties: {
      Content: emulated("its asset directory (the resource's aws:asset:path metadata)"),
      LayerName: emulated(),
      CompatibleRuntimes: accepted('informational'),
      CompatibleArchitectures: accepted('informational'),
      Description: accepted('informational'),
      LicenseInfo: accepted('informational'),
    },
  },
  'AWS::Lambda::EventSourceMapping': {
    kind: 'emulated',
    emulation: 'an EventSourceMappingSpec (an SQS poller)',
    properties: {
      EventSourceArn: emulated('SQS queues only'),
      FunctionName: emulated(),
      BatchSize: emulated(),
      MaximumBatchingWindowInSeconds: emulated(),
      FunctionResponseTypes: emulated(),
      ScalingConfig: emulated("MaximumConcurrency caps the mapping's pollers, each with one batch in flight"),
      Enabled: emulated(),
      Tags: TAGS,
    },
  },
  'AWS::Lambda::EventInvokeConfig': {
    kind: 'emulated',
    emulation:
      "the function's asynchronous invocation (local/async-invoke.ts, for the S3 notifications): " +
      'FunctionSpec.maximumRetryAttempts and maximumEventAgeSeconds',
    properties: {
      FunctionName: emulated(),
      Qualifier: emulated('$LATEST only'),
      MaximumRetryAttempts: emulated(
        "retries after Lambda's 1 and 2 minutes, times the runtime's asyncRetryScale (the tests: 1 and 2 s)",
      ),
      MaximumEventAgeInSeconds: emulated(
        'an event past it is not retried again but dead-lettered; measured on the same scaled clock',
      ),
    },
    check: qualifierCheck,
  },
  'AWS::Lambda::Url': {
    kind: 'emulated',
    emulation: 'a function URL: the function served on a port of its own (payload 2.0, route key $default)',
    properties: {
      TargetFunctionArn: emulated(),
      AuthType: emulated('NONE only: IAM-signed requests are not emulated'),
      Cors: emulated('answered like the HTTP API emulation answers CORS'),
      InvokeMode: emulated('BUFFERED only'),
      Qualifier: emulated('$LATEST only'),
    },
    check: allChecks(
      literalCheck('AuthType', ['NONE'], 'auth type'),
      literalCheck('InvokeMode', ['BUFFERED'], 'invoke mode'),
      qualifierCheck,
    ),
  },
  'AWS::Lambda::Permission': {
    kind: 'ignored',
    reason:
      'no resource policies locally: the HTTP API, the S3 bridge and the pollers invoke functions directly',
  },
};

/** Lambda's defaults where the template says nothing. */
const LAMBDA_DEFAULTS = {
  timeoutSeconds: 3,
  memoryMb: 128,
  ...ASYNC_INVOKE_DEFAULTS,
  sqsBatchSize: 10,
} as const;

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

const provisionLayer: Provisioner = async (context, logicalId, resource) => {
  const properties = context.propertiesOf(logicalId, resource);
  const name = declaredOrPhysicalName(properties.LayerName, context.stackName, logicalId, NAME_RULES.layer);
  const arn = `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:layer:${name}:1`;
  context.layerDirs.set(arn, context.assetDir(logicalId, resource));
  return { type: resource.Type, ref: arn, attributes: { LayerVersionArn: arn } };
};

const provisionFunction: Provisioner = async (context, logicalId, resource) => {
  const path = `Resources.${logicalId}.Properties`;
  if (context.providers.has(logicalId)) {
    const name = physicalName(context.stackName, logicalId, NAME_RULES.function);
    return { type: resource.Type, ref: name, attributes: { Arn: lambdaArn(name) } };
  }
  const properties = context.propertiesOf(logicalId, resource);
  const functionName = properties.FunctionName as string | undefined;
  const name = functionName ?? physicalName(context.stackName, logicalId, NAME_RULES.function);
  const arn = lambdaArn(name);
  context.functionIds.set(arn, logicalId);
  const layers = ((properties.Layers as string[] | undefined) ?? []).map((layerArn, index) => {
    const directory = context.layerDirs.get(layerArn);
    if (!directory) {
      throw new ProvisionError(
        `${path}.Layers[${index}]: ${layerArn} is not a layer of this template; layers from elsewhere cannot be mounted locally`,
      );
    }
    return directory;
  });
  const variables = (properties.Environment as { Variables?: unknown } | undefined)?.Variables;
  const deadLetterTargetArn = (properties.DeadLetterConfig as { TargetArn?: string } | undefined)?.TargetArn;
  context.functions.push({
    logicalId,
    spec: {
      logicalId,
      name: functionName ?? constructName(resource) ?? logicalId,
      handler: properties.Handler as string,
      codeDir: context.assetDir(logicalId, resource),
      layerDirs: layers,
      environment: toStringMap(variables, `${path}.Environment.Variables`),
      timeoutSeconds: Number(properties.Timeout ?? LAMBDA_DEFAULTS.timeoutSeconds),
      memoryMb: Number(properties.MemorySize ?? LAMBDA_DEFAULTS.memoryMb),
      ...(deadLetterTargetArn ? { deadLetterTargetArn } : {}),
    },
  });
  return { type: resource.Type, ref: name, attributes: { Arn: arn } };
};

const provisionUrl: Provisioner = async (context, logicalId, resource) => {
  const properties = context.propertiesOf(logicalId, resource);
  const path = `Resources.${logicalId}.Properties`;
  const functionLogicalId = context.functionOf(properties.TargetFunctionArn, `${path}.TargetFunctionArn`);
  if (!context.options.functionUrlBaseUrl) {
    throw new ProvisionError(`Resources.${logicalId}: this run serves no function URLs`);
  }
  const baseUrl = (await context.options.functionUrlBaseUrl(logicalId)).replace(/\/$/, '');
  const cors = properties.Cors as Record<string, unknown> | undefined;
  const target = context.functions.find((entry) => entry.logicalId === functionLogicalId)?.spec;
  context.functionUrls.push({
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
  const functionArn = context.resources[functionLogicalId]?.attributes.Arn ?? '';
  return {
    type: resource.Type,
    ref: functionArn,
    attributes: { FunctionArn: functionArn, FunctionUrl: `${baseUrl}/` },
  };
};

const provisionInvokeConfig: Provisioner = async (context, logicalId, resource) => {
  const properties = context.propertiesOf(logicalId, resource);
  const functionLogicalId = context.functionOf(
    properties.FunctionName,
    `Resources.${logicalId}.Properties.FunctionName`,
  );
  context.invokeConfigs.set(functionLogicalId, {
    ...(properties.MaximumRetryAttempts !== undefined
      ? { maximumRetryAttempts: Number(properties.MaximumRetryAttempts) }
      : {}),
    ...(properties.MaximumEventAgeInSeconds !== undefined
      ? { maximumEventAgeSeconds: Number(properties.MaximumEventAgeInSeconds) }
      : {}),
  });
  return { type: resource.Type, ref: `${functionLogicalId}-$LATEST`, attributes: {} };
};

/** ScalingConfig.MaximumConcurrency, when the mapping sets one. */
const maximumConcurrencyOf = (scaling: unknown): { maximumConcurrency?: number } => {
  const value = (scaling as { MaximumConcurrency?: unknown } | undefined)?.MaximumConcurrency;
  return value === undefined ? {} : { maximumConcurrency: Number(value) };
};

const provisionEventSourceMapping: Provisioner = async (context, logicalId, resource) => {
  const properties = context.propertiesOf(logicalId, resource);
  const path = `Resources.${logicalId}.Properties`;
  const sourceArn = properties.EventSourceArn as string;
  const queue = Object.entries(context.resources).find(
    ([, resolved]) => resolved.type === 'AWS::SQS::Queue' && resolved.attributes.Arn === sourceArn,
  );
  if (!queue) {
    throw new ProvisionError(
      `${path}.EventSourceArn: ${sourceArn} is not a queue of this template; only SQS event sources are emulated`,
    );
  }
  const [queueLogicalId, resolvedQueue] = queue;
  const enabled = properties.Enabled === undefined || String(properties.Enabled) === 'true';
  context.eventSourceMappings.push({
    logicalId,
    functionLogicalId: context.functionOf(properties.FunctionName, `${path}.FunctionName`),
    queueLogicalId,
    queueUrl: resolvedQueue.ref,
    queueArn: sourceArn,
    batchSize: Number(properties.BatchSize ?? LAMBDA_DEFAULTS.sqsBatchSize),
    maximumBatchingWindowSeconds: Number(properties.MaximumBatchingWindowInSeconds ?? 0),
    reportBatchItemFailures: ((properties.FunctionResponseTypes as string[] | undefined) ?? []).includes(
      'ReportBatchItemFailures',
    ),
    ...maximumConcurrencyOf(properties.ScalingConfig),
    enabled,
  });
  const uuid = hashOf(`${context.stackName}/${logicalId}`, 32).replace(
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
};

export const provisioners: Readonly<Record<string, Provisioner>> = {
  'AWS::Lambda::LayerVersion': provisionLayer,
  'AWS::Lambda::Function': provisionFunction,
  'AWS::Lambda::Url': provisionUrl,
  'AWS::Lambda::EventInvokeConfig': provisionInvokeConfig,
  'AWS::Lambda::EventSourceMapping': provisionEventSourceMapping,
};

/**
 * The application functions' specs, with their asynchronous retries (Lambda's defaults unless an event
 * invoke config says otherwise) and `localise` applied to their environment values.
 */
export const functionSpecs = (
  context: ProvisionContext,
  localise: (value: string) => string,
): FunctionSpec[] =>
  context.functions.map(({ logicalId, spec }) => ({
    ...spec,
    environment: Object.fromEntries(
      Object.entries(spec.environment).map(([key, value]) => [key, localise(value)]),
    ),
    maximumRetryAttempts:
      context.invokeConfigs.get(logicalId)?.maximumRetryAttempts ?? LAMBDA_DEFAULTS.maximumRetryAttempts,
    maximumEventAgeSeconds:
      context.invokeConfigs.get(logicalId)?.maximumEventAgeSeconds ?? LAMBDA_DEFAULTS.maximumEventAgeSeconds,
  }));
