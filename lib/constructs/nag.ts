import { type CfnResource, Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * cdk-nag 3 reads CDK's own acknowledgements (`Validations.of(construct).acknowledge`) and matches
 * each finding exactly: AwsSolutions-IAM5 reports one finding per wildcard, named after the resource
 * it is in, such as `AwsSolutions-IAM5[Resource::<UploadsBucket1234.Arn>/uploads/*]`. This builds
 * that name from the construct itself, so no logical id is ever written out by hand.
 */
export const objectWildcardFinding = (resource: IConstruct, keyPattern: string): string => {
  const cfn = resource.node.defaultChild as CfnResource | undefined;
  if (!cfn) throw new Error(`${resource.node.path} has no CloudFormation resource to name a finding after`);
  const logicalId = Stack.of(resource).resolve(cfn.logicalId) as string;
  return `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/${keyPattern}]`;
};

/** Acknowledges a cdk-nag finding on `scope` and everything below it, with the reason it is acceptable. */
export const acknowledge = (scope: IConstruct, id: string, reason: string): void => {
  Validations.of(scope).acknowledge({ id, reason });
};
