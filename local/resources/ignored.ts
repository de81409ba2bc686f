/**
 * Resource types that mean nothing locally, each with the reason, and the placeholder every resource
 * without a provisioner resolves to: it still answers Ref (and the odd Arn), in case an accepted
 * property references it.
 */
import { type CfnResource, LOCAL_ACCOUNT, LOCAL_REGION, type ResolvedResource } from '../types.ts';
import { NAME_RULES, physicalName } from './names.ts';
import { NO_IAM, NO_RESOURCE_POLICIES, type ResourceSupport } from './support-entry.ts';

export const support: Readonly<Record<string, ResourceSupport>> = {
  'Custom::LogRetention': { kind: 'ignored', reason: "logs go to the runtime's console" },
  'AWS::IAM::Role': { kind: 'ignored', reason: NO_IAM },
  'AWS::IAM::Policy': { kind: 'ignored', reason: NO_IAM },
  'AWS::IAM::ManagedPolicy': { kind: 'ignored', reason: NO_IAM },
  'AWS::Logs::LogGroup': { kind: 'ignored', reason: "logs go to the runtime's console" },
  'AWS::CloudWatch::Alarm': { kind: 'ignored', reason: 'no metrics or alarms locally' },
  'AWS::CloudWatch::Dashboard': { kind: 'ignored', reason: 'no metrics or dashboards locally' },
  'AWS::SNS::Topic': { kind: 'ignored', reason: 'only alarms publish to it, and there are none locally' },
  'AWS::SNS::Subscription': { kind: 'ignored', reason: 'the alarm topic sends nothing locally' },
  'AWS::SNS::TopicPolicy': { kind: 'ignored', reason: NO_RESOURCE_POLICIES },
  'AWS::KMS::Key': { kind: 'ignored', reason: 'encrypts the alarm topic only, which means nothing locally' },
  'AWS::CDK::Metadata': { kind: 'ignored', reason: "CDK's version reporting" },
};

export const placeholder = (
  stackName: string,
  logicalId: string,
  resource: CfnResource,
): ResolvedResource => {
  const name = physicalName(stackName, logicalId, NAME_RULES.function);
  const arns: Record<string, string> = {
    'AWS::IAM::Role': `arn:aws:iam::${LOCAL_ACCOUNT}:role/${name}`,
    'AWS::IAM::ManagedPolicy': `arn:aws:iam::${LOCAL_ACCOUNT}:policy/${name}`,
    'AWS::Logs::LogGroup': `arn:aws:logs:${LOCAL_REGION}:${LOCAL_ACCOUNT}:log-group:${name}:*`,
    'AWS::CloudWatch::Alarm': `arn:aws:cloudwatch:${LOCAL_REGION}:${LOCAL_ACCOUNT}:alarm:${name}`,
    'AWS::KMS::Key': `arn:aws:kms:${LOCAL_REGION}:${LOCAL_ACCOUNT}:key/${name}`,
  };
  // A topic's Ref is its ARN (the AlarmTopicArn output shows it).
  if (resource.Type === 'AWS::SNS::Topic') {
    const topicArn = `arn:aws:sns:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${name}`;
    return { type: resource.Type, ref: topicArn, attributes: { TopicArn: topicArn } };
  }
  const arn = arns[resource.Type];
  return { type: resource.Type, ref: name, attributes: arn ? { Arn: arn } : {} };
};
