/**
 * CDK's Custom::S3BucketNotifications: at deploy time a CDK function puts the configuration on the
 * bucket; s3rver has no notification API, so locally its LambdaFunctionConfigurations become
 * BucketNotificationSpecs that the runtime's bridge serves from s3rver's events.
 */
import { ProvisionError, type Provisioner } from './context.ts';
import { collectBucketNotifications } from './s3.ts';
import { accepted, emulated, knownKeysCheck, type ResourceSupport } from './support-entry.ts';

export const support: Readonly<Record<string, ResourceSupport>> = {
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
    check: knownKeysCheck(
      'NotificationConfiguration',
      ['LambdaFunctionConfigurations'],
      'only notifications to functions are bridged locally',
    ),
  },
  'Custom::S3AutoDeleteObjects': {
    kind: 'ignored',
    reason: 'empties a bucket when the stack is deleted; locally the data directory holds the objects',
  },
};

const provisionNotifications: Provisioner = async (context, logicalId, resource) => {
  const properties = context.propertiesOf(logicalId, resource);
  const bucketName = properties.BucketName as string;
  const bucket = Object.entries(context.resources).find(
    ([, resolved]) => resolved.type === 'AWS::S3::Bucket' && resolved.ref === bucketName,
  );
  if (!bucket) {
    throw new ProvisionError(
      `Resources.${logicalId}.Properties.BucketName: ${bucketName} is not a bucket of this template`,
    );
  }
  const configuration = properties.NotificationConfiguration as { LambdaFunctionConfigurations?: unknown };
  collectBucketNotifications(
    context,
    { logicalId: bucket[0], name: bucketName },
    configuration?.LambdaFunctionConfigurations,
    `Resources.${logicalId}.Properties.NotificationConfiguration.LambdaFunctionConfigurations`,
    'custom',
  );
  return { type: resource.Type, ref: `${context.stackName}-${logicalId}`, attributes: {} };
};

export const provisioners: Readonly<Record<string, Provisioner>> = {
  'Custom::S3BucketNotifications': provisionNotifications,
};
