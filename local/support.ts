/**
 * What the local runtime does with each resource type and property of a template. Everything the
 * template declares is either emulated, accepted with a stated reason why it means nothing locally, or
 * refused: `checkSupport` lists every refusal at once, so that a construct added to the stack never
 * silently goes missing from local runs.
 */
import { findIntrinsics, SUPPORTED_INTRINSICS } from './intrinsics.ts';
import type { CfnResource, CfnTemplate } from './types.ts';

/** A property the runtime acts on, or one it accepts and ignores, with the reason. */
export type PropertySupport =
  | { handling: 'emulated'; note?: string }
  | { handling: 'accepted'; reason: string };

export interface EmulatedType {
  kind: 'emulated';
  /** What it becomes locally. */
  emulation: string;
  properties: Readonly<Record<string, PropertySupport>>;
  /** Checks of literal values the emulation depends on; returns the problems found. */
  check?: (resource: CfnResource, path: string) => string[];
}

export interface IgnoredType {
  kind: 'ignored';
  /** Why it means nothing locally. */
  reason: string;
}

const emulated = (note?: string): PropertySupport => ({ handling: 'emulated', note });
const accepted = (reason: string): PropertySupport => ({ handling: 'accepted', reason });

const TAGS = accepted('tags have no effect locally');
const NO_IAM = 'no IAM locally: every function may call every emulator';
const NO_RESOURCE_POLICIES =
  'no resource policies locally (their TLS-only statements are moot: the emulators listen on loopback)';

const literalProblems = (value: unknown, path: string, allowed: readonly string[], what: string): string[] =>
  value === undefined || typeof value !== 'string' || allowed.includes(value)
    ? []
    : [`${path}: ${what} ${value} is not supported locally (only ${allowed.join(', ')})`];

const unknownKeys = (value: unknown, path: string, known: readonly string[], why: string): string[] => {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  return Object.keys(value)
    .filter((key) => !known.includes(key))
    .map((key) => `${path}.${key}: ${why}`);
};

export const RESOURCE_SUPPORT: Readonly<Record<string, EmulatedType | IgnoredType>> = {
  'AWS::S3::Bucket': {
    kind: 'emulated',
    emulation: 's3rver bucket',
    properties: {
      BucketName: emulated(),
      CorsConfiguration: emulated('PutBucketCors; s3rver answers preflights and sets the CORS headers'),
      NotificationConfiguration: emulated('LambdaConfigurations become BucketNotificationSpecs'),
      LifecycleConfiguration: accepted('accepted, not enforced: objects never expire locally'),
      PublicAccessBlockConfiguration: accepted('s3rver has no public access: only the local key is accepted'),
      BucketEncryption: accepted('objects are stored unencrypted in the data directory'),
      OwnershipControls: accepted('s3rver ignores ACLs'),
      LoggingConfiguration: accepted('no server access logs locally'),
      Tags: TAGS,
    },
    check: (resource, path) => {
      const notifications = resource.Properties?.NotificationConfiguration;
      return unknownKeys(
        notifications,
        `${path}.Properties.NotificationConfiguration`,
        ['LambdaConfigurations'],
        'only notifications to functions are bridged locally',
      );
    },
  },
  'AWS::S3::BucketPolicy': { kind: 'ignored', reason: NO_RESOURCE_POLICIES },
  'AWS::SQS::Queue': {
    kind: 'emulated',
    emulation: 'fauxqs queue',
    properties: {
      QueueName: emulated(),
      VisibilityTimeout: emulated(),
      MessageRetentionPeriod: emulated(),
      RedrivePolicy: emulated('deadLetterTargetArn resolved to the local ARN'),
      DelaySeconds: emulated(),
      ReceiveMessageWaitTimeSeconds: emulated(),
      MaximumMessageSize: emulated(),
      FifoQueue: emulated(),
      ContentBasedDeduplication: emulated(),
      RedriveAllowPolicy: accepted('any queue may be a dead-letter queue locally'),
      SqsManagedSseEnabled: accepted('messages are not encrypted locally'),
      KmsMasterKeyId: accepted('messages are not encrypted locally'),
      KmsDataKeyReusePeriodSeconds: accepted('messages are not encrypted locally'),
      Tags: TAGS,
    },
  },
  'AWS::SQS::QueuePolicy': { kind: 'ignored', reason: NO_RESOURCE_POLICIES },
  'AWS::DynamoDB::Table': {
    kind: 'emulated',
    emulation: 'DynamoDB Local table',
    properties: {
      TableName: emulated(),
      KeySchema: emulated(),
      AttributeDefinitions: emulated(),
      BillingMode: emulated('DynamoDB Local does not enforce capacity'),
      ProvisionedThroughput: emulated('DynamoDB Local does not enforce capacity'),
      GlobalSecondaryIndexes: emulated(),
      LocalSecondaryIndexes: emulated(),
      TimeToLiveSpecification: emulated('UpdateTimeToLive'),
      StreamSpecification: emulated(),
      PointInTimeRecoverySpecification: accepted('no backups locally'),
      SSESpecification: accepted('DynamoDB Local does not encrypt'),
      DeletionProtectionEnabled: accepted('the runtime never deletes tables'),
      ContributorInsightsSpecification: accepted('no CloudWatch locally'),
      TableClass: accepted('no storage classes locally'),
      Tags: TAGS,
    },
  },
  'AWS::SecretsManager::Secret': {
    kind: 'emulated',
    emulation: "the runtime's Secrets Manager substitute (local/secrets-manager.ts)",
    properties: {
      Name: emulated(),
      SecretString: emulated(),
      GenerateSecretString: emulated('generated once and kept in the data directory'),
      Description: accepted('descriptions have no effect locally'),
      KmsKeyId: accepted('secrets are not encrypted locally'),
      Tags: TAGS,
    },
  },
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
      DeadLetterConfig: emulated(),
      FunctionName: emulated(),
      Architectures: accepted("runs on the host's architecture"),
      Description: accepted('descriptions have no effect locally'),
      Role: accepted(NO_IAM),
      LoggingConfig: accepted("logs go to the runtime's console"),
      EphemeralStorage: accepted("/tmp is the host's, not size-limited"),
      TracingConfig: accepted('no X-Ray locally'),
      ReservedConcurrentExecutions: accepted('not enforced locally'),
      Tags: TAGS,
    },
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
      Enabled: emulated(),
      Tags: TAGS,
    },
  },
  'AWS::Lambda::EventInvokeConfig': {
    kind: 'emulated',
    emulation: "the function's asynchronous retries (FunctionSpec.maximumRetryAttempts)",
    properties: {
      FunctionName: emulated(),
      Qualifier: emulated('$LATEST only'),
      MaximumRetryAttempts: emulated(),
      MaximumEventAgeInSeconds: emulated(),
    },
    check: (resource, path) =>
      literalProblems(
        resource.Properties?.Qualifier,
        `${path}.Properties.Qualifier`,
        ['$LATEST'],
        'qualifier',
      ),
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
    check: (resource, path) => [
      ...literalProblems(resource.Properties?.AuthType, `${path}.Properties.AuthType`, ['NONE'], 'auth type'),
      ...literalProblems(
        resource.Properties?.InvokeMode,
        `${path}.Properties.InvokeMode`,
        ['BUFFERED'],
        'invoke mode',
      ),
      ...literalProblems(
        resource.Properties?.Qualifier,
        `${path}.Properties.Qualifier`,
        ['$LATEST'],
        'qualifier',
      ),
    ],
  },
  'AWS::Lambda::Permission': {
    kind: 'ignored',
    reason:
      'no resource policies locally: the HTTP API, the S3 bridge and the pollers invoke functions directly',
  },
  'AWS::ApiGatewayV2::Api': {
    kind: 'emulated',
    emulation: 'the HttpApiSpec served by the HTTP API emulation',
    properties: {
      Name: emulated(),
      ProtocolType: emulated('HTTP only'),
      CorsConfiguration: emulated(),
      Description: accepted('descriptions have no effect locally'),
      DisableExecuteApiEndpoint: accepted('the local API is always served'),
      Tags: TAGS,
    },
    check: (resource, path) =>
      literalProblems(
        resource.Properties?.ProtocolType,
        `${path}.Properties.ProtocolType`,
        ['HTTP'],
        'protocol',
      ),
  },
  'AWS::ApiGatewayV2::Stage': {
    kind: 'emulated',
    emulation: "the HTTP API's stage (its name sets the base path)",
    properties: {
      ApiId: emulated(),
      StageName: emulated(),
      AutoDeploy: accepted('local routes are live at once'),
      AccessLogSettings: accepted("requests are logged to the runtime's console"),
      DefaultRouteSettings: accepted('throttling is not enforced locally'),
      Description: accepted('descriptions have no effect locally'),
      Tags: TAGS,
    },
  },
  'AWS::ApiGatewayV2::Deployment': { kind: 'ignored', reason: 'local routes are live at once' },
  'AWS::ApiGatewayV2::Route': {
    kind: 'emulated',
    emulation: 'an HttpRouteSpec',
    properties: {
      ApiId: emulated(),
      RouteKey: emulated(),
      Target: emulated(),
      AuthorizationType: emulated('NONE only: authorizers are not emulated'),
      OperationName: accepted('informational'),
    },
    check: (resource, path) =>
      literalProblems(
        resource.Properties?.AuthorizationType,
        `${path}.Properties.AuthorizationType`,
        ['NONE'],
        'authorization type',
      ),
  },
  'AWS::ApiGatewayV2::Integration': {
    kind: 'emulated',
    emulation: 'the function an HttpRouteSpec invokes',
    properties: {
      ApiId: emulated(),
      IntegrationType: emulated('AWS_PROXY (Lambda) only'),
      IntegrationUri: emulated(),
      PayloadFormatVersion: emulated(),
      TimeoutInMillis: emulated(),
      IntegrationMethod: accepted('Lambda proxy integrations are always invoked'),
      ConnectionType: accepted('no VPC links locally'),
      Description: accepted('descriptions have no effect locally'),
    },
    check: (resource, path) =>
      literalProblems(
        resource.Properties?.IntegrationType,
        `${path}.Properties.IntegrationType`,
        ['AWS_PROXY'],
        'integration type',
      ),
  },
  'Custom::S3BucketNotifications': {
    kind: 'emulated',
    emulation: "BucketNotificationSpecs, bridged from s3rver's events (s3rver has no notification API)",
    properties: {
      BucketName: emulated(),
      NotificationConfiguration: emulated('LambdaFunctionConfigurations only'),
      ServiceToken: accepted("CDK's deploy-time handler is not run: the runtime bridges the events itself"),
      Managed: accepted("the local bridge serves only the template's notifications"),
      SkipDestinationValidation: accepted('nothing to validate locally'),
    },
    check: (resource, path) =>
      unknownKeys(
        resource.Properties?.NotificationConfiguration,
        `${path}.Properties.NotificationConfiguration`,
        ['LambdaFunctionConfigurations'],
        'only notifications to functions are bridged locally',
      ),
  },
  'Custom::S3AutoDeleteObjects': {
    kind: 'ignored',
    reason: 'empties a bucket when the stack is deleted; locally the data directory holds the objects',
  },
  'Custom::LogRetention': { kind: 'ignored', reason: "logs go to the runtime's console" },
  'AWS::IAM::Role': { kind: 'ignored', reason: NO_IAM },
  'AWS::IAM::Policy': { kind: 'ignored', reason: NO_IAM },
  'AWS::IAM::ManagedPolicy': { kind: 'ignored', reason: NO_IAM },
  'AWS::Logs::LogGroup': { kind: 'ignored', reason: "logs go to the runtime's console" },
  'AWS::CloudWatch::Alarm': { kind: 'ignored', reason: 'no metrics or alarms locally' },
  'AWS::CDK::Metadata': { kind: 'ignored', reason: "CDK's version reporting" },
  'AWS::Events::Rule': {
    kind: 'ignored',
    reason:
      'no local scheduler yet: the reconciler function is provisioned but never invoked (issue 11, local part)',
  },
};

/** Resource attributes (beside Type and Properties) and what the runtime does with them. */
const RESOURCE_ATTRIBUTES = new Set([
  'Type',
  'Properties',
  'DependsOn',
  'Metadata',
  'DeletionPolicy',
  'UpdateReplacePolicy',
]);

/** A resource type whose resources are custom resources (their code runs at deploy time). */
const isCustomResourceType = (type: string): boolean =>
  type.startsWith('Custom::') || type === 'AWS::CloudFormation::CustomResource';

/**
 * CDK's own deploy-time functions: the providers of custom resources (bucket notifications, auto-delete
 * objects, log retention…), recognised by being some custom resource's ServiceToken. They never run
 * locally: the runtime does their work itself (or it means nothing locally).
 */
export const customResourceProviders = (template: CfnTemplate): Set<string> => {
  const providers = new Set<string>();
  for (const resource of Object.values(template.Resources)) {
    if (!isCustomResourceType(resource.Type)) continue;
    const token = resource.Properties?.ServiceToken as Record<string, unknown> | undefined;
    const getAtt = token?.['Fn::GetAtt'];
    const target = Array.isArray(getAtt)
      ? getAtt[0]
      : typeof getAtt === 'string'
        ? getAtt.split('.')[0]
        : undefined;
    if (typeof target === 'string' && template.Resources[target]?.Type === 'AWS::Lambda::Function') {
      providers.add(target);
    }
  }
  return providers;
};

/** One thing in a template the runtime does not understand. */
export interface SupportProblem {
  /** Where in the template: `Resources.X.Properties.Y`. */
  path: string;
  reason: string;
}

export class UnsupportedTemplateError extends Error {
  constructor(readonly problems: readonly SupportProblem[]) {
    super(
      `the local runtime cannot run this template (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((problem) => `  - ${problem.path}: ${problem.reason}`).join('\n'),
    );
    this.name = 'UnsupportedTemplateError';
  }
}

const splitProblem = (text: string): SupportProblem => {
  const colon = text.indexOf(': ');
  return { path: text.slice(0, colon), reason: text.slice(colon + 2) };
};

/** Problems of an application function (not a custom-resource provider) that the emulation depends on. */
const functionProblems = (logicalId: string, resource: CfnResource): SupportProblem[] => {
  const path = `Resources.${logicalId}`;
  const problems: SupportProblem[] = [];
  const runtime = resource.Properties?.Runtime;
  if (typeof runtime !== 'string' || !runtime.startsWith('nodejs')) {
    problems.push({
      path: `${path}.Properties.Runtime`,
      reason: `runtime ${String(runtime)} is not supported locally (only nodejs* functions run)`,
    });
  }
  if (typeof resource.Metadata?.['aws:asset:path'] !== 'string') {
    problems.push({
      path: `${path}.Metadata`,
      reason:
        'no aws:asset:path metadata: the function code must be a CDK asset (synthesize with ' +
        'aws:cdk:enable-asset-metadata, as local/synth.ts does)',
    });
  }
  return problems;
};

/**
 * Throws one UnsupportedTemplateError listing every resource type, property, resource attribute,
 * template section or intrinsic function the runtime does not understand; returns quietly otherwise.
 */
export const checkSupport = (template: CfnTemplate): void => {
  const problems: SupportProblem[] = [];
  const raw = template as unknown as Record<string, unknown>;
  if (raw.Transform !== undefined) {
    problems.push({
      path: 'Transform',
      reason: 'template transforms (SAM, macros) are not supported locally',
    });
  }
  for (const [name, parameter] of Object.entries(template.Parameters ?? {})) {
    const isBootstrapVersion =
      parameter.Type.startsWith('AWS::SSM::Parameter::Value') && name === 'BootstrapVersion';
    if (!isBootstrapVersion && parameter.Default === undefined) {
      problems.push({
        path: `Parameters.${name}`,
        reason: 'a parameter without a Default: nobody passes parameters to a local run',
      });
    }
  }

  const providers = customResourceProviders(template);
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    const path = `Resources.${logicalId}`;
    for (const attribute of Object.keys(resource)) {
      if (attribute === 'Condition') {
        problems.push({ path: `${path}.Condition`, reason: 'conditions are not supported locally' });
      } else if (
        !RESOURCE_ATTRIBUTES.has(attribute) &&
        attribute !== 'CreationPolicy' &&
        attribute !== 'UpdatePolicy'
      ) {
        problems.push({ path: `${path}.${attribute}`, reason: 'unknown resource attribute' });
      }
    }
    if (providers.has(logicalId)) continue;
    const support = RESOURCE_SUPPORT[resource.Type];
    if (!support) {
      problems.push({
        path: `${path}.Type`,
        reason: isCustomResourceType(resource.Type)
          ? `custom resource ${resource.Type} runs deploy-time code that the local runtime does not emulate`
          : `resource type ${resource.Type} is not supported locally`,
      });
      continue;
    }
    if (support.kind === 'ignored') continue;
    for (const property of Object.keys(resource.Properties ?? {})) {
      if (!support.properties[property]) {
        problems.push({
          path: `${path}.Properties.${property}`,
          reason: `property ${property} of ${resource.Type} is not supported locally`,
        });
      }
    }
    problems.push(...(support.check?.(resource, path) ?? []).map(splitProblem));
    if (resource.Type === 'AWS::Lambda::Function') problems.push(...functionProblems(logicalId, resource));
    for (const [property, value] of Object.entries(resource.Properties ?? {})) {
      if (support.properties[property]?.handling !== 'emulated') continue;
      problems.push(...intrinsicProblems(value, `${path}.Properties.${property}`));
    }
  }
  for (const [name, output] of Object.entries(template.Outputs ?? {})) {
    problems.push(...intrinsicProblems(output.Value, `Outputs.${name}.Value`));
  }
  if (problems.length > 0) throw new UnsupportedTemplateError(problems);
};

const intrinsicProblems = (value: unknown, path: string): SupportProblem[] =>
  [...findIntrinsics(value, path)]
    .filter(({ name }) => !(SUPPORTED_INTRINSICS as readonly string[]).includes(name))
    .map(({ name, path: at }) => ({
      path: at,
      reason: `intrinsic function ${name} is not supported locally`,
    }));

/** How the runtime handles a resource: emulated, ignored (with the reason), or a custom-resource provider. */
export const supportOf = (
  template: CfnTemplate,
  logicalId: string,
): EmulatedType | IgnoredType | { kind: 'provider'; reason: string } | undefined => {
  if (customResourceProviders(template).has(logicalId)) {
    return { kind: 'provider', reason: "CDK's deploy-time custom-resource provider: not run locally" };
  }
  const resource = template.Resources[logicalId];
  return resource ? RESOURCE_SUPPORT[resource.Type] : undefined;
};
