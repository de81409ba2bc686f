import { Aws, type CfnResource, Fn, type Stack, Token } from 'aws-cdk-lib';
import { type CfnFunction, CfnPermission, type Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { Bucket, CfnBucket } from 'aws-cdk-lib/aws-s3';

/**
 * A bucket name of the form `<prefix>-<the stack id's unique part>`: unique to this deployment of the
 * stack (a stack deleted and created again gets another id, so a retained bucket never blocks a
 * redeploy), and known to CloudFormation without referencing the bucket, which is what lets the
 * function and its permission be created before the bucket that notifies it.
 */
export const stackUniqueBucketName = (scope: Stack, purpose: string): string => {
  const stackName = Token.isUnresolved(scope.stackName) ? 'media-pipeline' : scope.stackName;
  // The id part is 36 characters at most (a UUID), so the prefix keeps the name within S3's 63.
  const prefix = `${stackName}-${purpose}`
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .slice(0, 26)
    .replace(/-+$/, '');
  return Fn.join('-', [prefix, Fn.select(2, Fn.split('/', Aws.STACK_ID))]);
};

export interface DirectLambdaNotificationOptions {
  /** S3 event names, e.g. `s3:ObjectCreated:*`. */
  readonly events: readonly string[];
  /** Only keys with this prefix. */
  readonly prefix?: string;
  /**
   * The bucket's name as an expression that does not reference the bucket (its `bucketName` prop, from
   * `stackUniqueBucketName`): the permission's source ARN is built from it.
   */
  readonly bucketName: string;
}

/**
 * Has S3 invoke `fn` for `events` on `bucket` through the bucket's own `NotificationConfiguration`
 * instead of CDK's `Custom::S3BucketNotifications`, whose deploy-time handler has failed on LocalStack.
 *
 * CloudFormation must create the function and S3's permission to invoke it before the bucket (S3
 * checks the destination when the configuration is set), while the function reads the bucket: that is
 * the cycle CDK's custom resource exists to avoid. It is broken here without one:
 * - the permission's source ARN is built from the bucket's name expression, not the bucket;
 * - the function must not depend on the bucket: its environment takes the name expression (the caller
 *   passes it) and it no longer waits for its role's default policy, which grants on the bucket's ARN
 *   (the policy is still created; the function is not invoked before the bucket exists anyway).
 */
export const addDirectLambdaNotification = (
  bucket: Bucket,
  fn: LambdaFunction,
  options: DirectLambdaNotificationOptions,
): void => {
  const cfnBucket = bucket.node.defaultChild as CfnBucket;
  const permission = new CfnPermission(bucket, `InvokedBy${fn.node.id}`, {
    action: 'lambda:InvokeFunction',
    functionName: fn.functionArn,
    principal: 's3.amazonaws.com',
    sourceAccount: Aws.ACCOUNT_ID,
    sourceArn: `arn:${Aws.PARTITION}:s3:::${options.bucketName}`,
  });
  // This function is the only writer of the property, so it holds plain properties, never a token.
  const existing = cfnBucket.notificationConfiguration as
    | CfnBucket.NotificationConfigurationProperty
    | undefined;
  const lambdaConfigurations = [
    ...((existing?.lambdaConfigurations as CfnBucket.LambdaConfigurationProperty[] | undefined) ?? []),
    ...options.events.map(
      (event): CfnBucket.LambdaConfigurationProperty => ({
        event,
        function: fn.functionArn,
        ...(options.prefix
          ? { filter: { s3Key: { rules: [{ name: 'prefix', value: options.prefix }] } } }
          : {}),
      }),
    ),
  ];
  cfnBucket.notificationConfiguration = { ...existing, lambdaConfigurations };
  cfnBucket.addResourceDependency(permission);

  const cfnFunction = fn.node.defaultChild as CfnFunction;
  const role = fn.role?.node.defaultChild as CfnResource | undefined;
  cfnFunction.addOverride('DependsOn', role ? [role.logicalId] : []);
};
