/**
 * S3 buckets on s3rver (or an external S3 such as MinIO): created with their CORS rules, and their
 * notifications to functions collected for the runtime's S3 event bridge. Bucket policies mean nothing
 * locally.
 */
import {
  type CORSRule,
  CreateBucketCommand,
  DeleteBucketCorsCommand,
  GetBucketCorsCommand,
  HeadBucketCommand,
  PutBucketCorsCommand,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { LOCAL_REGION } from '../types.ts';
import { type ProvisionContext, ProvisionError, type Provisioner } from './context.ts';
import { declaredOrPhysicalName, NAME_RULES, sameJson } from './names.ts';
import {
  accepted,
  emulated,
  knownKeysCheck,
  NO_RESOURCE_POLICIES,
  type ResourceSupport,
  TAGS,
} from './support-entry.ts';

export const support: Readonly<Record<string, ResourceSupport>> = {
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
    check: knownKeysCheck(
      'NotificationConfiguration',
      ['LambdaConfigurations'],
      'only notifications to functions are bridged locally',
    ),
  },
  'AWS::S3::BucketPolicy': { kind: 'ignored', reason: NO_RESOURCE_POLICIES },
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

/**
 * Adds a bucket's notifications to functions to the context's bucket notifications, from the bucket's
 * own NotificationConfiguration (`bucket` shape) or CDK's Custom::S3BucketNotifications (`custom`).
 */
export const collectBucketNotifications = (
  context: ProvisionContext,
  bucket: { logicalId: string; name: string },
  configurations: unknown,
  path: string,
  shape: 'custom' | 'bucket',
): void => {
  for (const [index, configuration] of (
    (configurations as Record<string, unknown>[] | undefined) ?? []
  ).entries()) {
    const at = `${path}[${index}]`;
    const events = shape === 'custom' ? (configuration.Events as string[]) : [configuration.Event as string];
    const target = shape === 'custom' ? configuration.LambdaFunctionArn : configuration.Function;
    context.bucketNotifications.push({
      bucketLogicalId: bucket.logicalId,
      bucketName: bucket.name,
      events,
      ...keyFilter(configuration.Filter),
      functionLogicalId: context.functionOf(target, at),
    });
  }
};

/** Brings the bucket's CORS rules in line with the template; returns what changed. */
const applyCors = async (context: ProvisionContext, name: string, wanted: CORSRule[] | undefined) => {
  const { s3 } = context.clients;
  const changes: string[] = [];
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
  return changes;
};

const provisionBucket: Provisioner = async (context, logicalId, resource) => {
  const { s3 } = context.clients;
  const properties = context.propertiesOf(logicalId, resource);
  const name = declaredOrPhysicalName(properties.BucketName, context.stackName, logicalId, NAME_RULES.bucket);
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
  const changes = await applyCors(context, name, wanted);
  context.recordChanges(logicalId, resource.Type, created, changes);
  const notifications = properties.NotificationConfiguration as
    | { LambdaConfigurations?: unknown }
    | undefined;
  collectBucketNotifications(
    context,
    { logicalId, name },
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
};

export const provisioners: Readonly<Record<string, Provisioner>> = {
  'AWS::S3::Bucket': provisionBucket,
};
