import { describe, expect, it } from 'vitest';
import {
  IntrinsicError,
  localPseudoParameters,
  NO_VALUE,
  type ResolveScope,
  referencedIds,
  resolveString,
  resolveValue,
} from '../../local/intrinsics.ts';

const SECRET_ARN =
  'arn:aws:secretsmanager:us-east-1:000000000000:secret:WebhookSecretAE320227-0123456789-abcdef';

const scope: ResolveScope = {
  resources: {
    Queue: {
      type: 'AWS::SQS::Queue',
      ref: 'http://sqs.us-east-1.localhost:9324/000000000000/jobs',
      attributes: { Arn: 'arn:aws:sqs:us-east-1:000000000000:jobs', QueueName: 'jobs' },
    },
    Secret: { type: 'AWS::SecretsManager::Secret', ref: SECRET_ARN, attributes: {} },
  },
  pseudo: localPseudoParameters('MediaPipeline'),
  parameters: { Stage: 'local' },
  declared: new Set(['Queue', 'Secret', 'Table']),
};

const resolve = (value: unknown) => resolveValue(value, scope, 'Resources.X.Properties');

describe('resolveValue', () => {
  it('resolves Ref of resources, parameters and pseudo parameters', () => {
    expect(
      resolve({
        url: { Ref: 'Queue' },
        stage: { Ref: 'Stage' },
        region: { Ref: 'AWS::Region' },
        account: { Ref: 'AWS::AccountId' },
        partition: { Ref: 'AWS::Partition' },
        suffix: { Ref: 'AWS::URLSuffix' },
        stack: { Ref: 'AWS::StackName' },
      }),
    ).toEqual({
      url: 'http://sqs.us-east-1.localhost:9324/000000000000/jobs',
      stage: 'local',
      region: 'us-east-1',
      account: '000000000000',
      partition: 'aws',
      suffix: 'amazonaws.com',
      stack: 'MediaPipeline',
    });
  });

  it('drops properties and list elements that are AWS::NoValue', () => {
    expect(
      resolve({ kept: 'a', dropped: { Ref: 'AWS::NoValue' }, list: ['a', { Ref: 'AWS::NoValue' }, 'b'] }),
    ).toEqual({
      kept: 'a',
      list: ['a', 'b'],
    });
    expect(resolve({ Ref: 'AWS::NoValue' })).toBe(NO_VALUE);
  });

  it('resolves Fn::GetAtt in its list and dotted forms', () => {
    expect(resolve({ 'Fn::GetAtt': ['Queue', 'Arn'] })).toBe('arn:aws:sqs:us-east-1:000000000000:jobs');
    expect(resolve({ 'Fn::GetAtt': 'Queue.QueueName' })).toBe('jobs');
  });

  it('resolves Fn::Join, Fn::Sub (both forms, escapes included), Fn::Select and Fn::Split', () => {
    expect(resolve({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::', 'bucket', '/*']] })).toBe(
      'arn:aws:s3:::bucket/*',
    );
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Fn::Sub syntax, not a template string
    expect(resolve({ 'Fn::Sub': 'cdk-assets-${AWS::AccountId}-${AWS::Region}' })).toBe(
      'cdk-assets-000000000000-us-east-1',
    );
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Fn::Sub syntax, not a template string
    expect(resolve({ 'Fn::Sub': '${Queue.Arn}/${Stage}/${!Literal}' })).toBe(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Fn::Sub syntax, not a template string
      'arn:aws:sqs:us-east-1:000000000000:jobs/local/${Literal}',
    );
    expect(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Fn::Sub syntax, not a template string
      resolve({ 'Fn::Sub': ['${Name}-${Queue}', { Name: { 'Fn::GetAtt': ['Queue', 'QueueName'] } }] }),
    ).toBe('jobs-http://sqs.us-east-1.localhost:9324/000000000000/jobs');
    // CDK's Secret.secretName: the name is the ARN's seventh field without the random suffix.
    const secretName = (index: number) => ({
      'Fn::Select': [
        index,
        { 'Fn::Split': ['-', { 'Fn::Select': [6, { 'Fn::Split': [':', { Ref: 'Secret' }] }] }] },
      ],
    });
    expect(resolve({ 'Fn::Join': ['-', [secretName(0), secretName(1)]] })).toBe(
      'WebhookSecretAE320227-0123456789',
    );
  });

  it('turns numbers into strings where a string is expected', () => {
    expect(resolveString({ 'Fn::Join': [':', ['port', 9324]] }, scope, 'p')).toBe('port:9324');
    expect(resolveString(30, scope, 'p')).toBe('30');
  });

  it('refuses an unknown intrinsic function with its path in the template', () => {
    const resolving = () => resolve({ Environment: { Variables: { A: { 'Fn::ImportValue': 'Shared' } } } });

    expect(resolving).toThrow(IntrinsicError);
    expect(resolving).toThrow(
      'Resources.X.Properties.Environment.Variables.A.Fn::ImportValue: the intrinsic function Fn::ImportValue is not supported locally',
    );
  });

  it('says which reference is missing and why', () => {
    expect(() => resolve({ a: [{ Ref: 'Table' }] })).toThrow(
      'Resources.X.Properties.a[0].Ref: Table is referenced before it is provisioned (or it is not provisioned locally)',
    );
    expect(() => resolve({ Ref: 'Nowhere' })).toThrow('no resource or parameter named Nowhere');
    expect(() => resolve({ 'Fn::GetAtt': ['Queue', 'StreamArn'] })).toThrow(
      'Queue (AWS::SQS::Queue) has no attribute StreamArn locally (it has Arn, QueueName)',
    );
    expect(() => resolve({ 'Fn::Select': [3, ['a']] })).toThrow('index 3 is outside the list of 1');
  });
});

describe('referencedIds', () => {
  it('finds the logical ids of Ref, Fn::GetAtt and Fn::Sub, but not pseudo parameters', () => {
    const ids = referencedIds({
      a: { Ref: 'Queue' },
      b: [{ 'Fn::GetAtt': ['Table', 'Arn'] }, { 'Fn::GetAtt': 'Bucket.Arn' }],
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Fn::Sub syntax, not a template string
      c: { 'Fn::Sub': '${Function.Arn}:${AWS::Region}:${!Escaped}' },
    });

    expect([...ids].filter((id) => !id.startsWith('AWS::')).sort()).toEqual([
      'Bucket',
      'Function',
      'Queue',
      'Table',
    ]);
  });
});
