import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CfnBucket } from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { Storage } from '#lib/storage';
import { testApp } from './synthesize.ts';

const storageStack = (props: { allowedOrigins: string[]; retainData: boolean }) => {
  const stack = new Stack(testApp(), 'Test');
  const storage = new Storage(stack, 'Storage', props);
  return { stack, storage, template: Template.fromStack(stack) };
};

describe('Storage', () => {
  it('retains the buckets and the table by default and empties nothing', () => {
    // Act
    const { template } = storageStack({ allowedOrigins: ['*'], retainData: true });
    // Assess
    for (const type of ['AWS::S3::Bucket', 'AWS::DynamoDB::Table']) {
      for (const resource of Object.values(template.findResources(type))) {
        expect(resource.DeletionPolicy, type).toBe('Retain');
      }
    }
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
  });

  it('destroys the buckets (emptied first) and the table when data is not retained', () => {
    // Act
    const { template } = storageStack({ allowedOrigins: ['*'], retainData: false });
    // Assess
    for (const type of ['AWS::S3::Bucket', 'AWS::DynamoDB::Table']) {
      for (const resource of Object.values(template.findResources(type))) {
        expect(resource.DeletionPolicy, type).toBe('Delete');
      }
    }
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 3);
  });

  it('allows exactly the configured origins on both buckets', () => {
    // Prepare
    const origins = ['https://app.example.com', 'http://localhost:5173'];
    // Act
    const { stack, storage, template } = storageStack({ allowedOrigins: origins, retainData: true });
    // Assess
    for (const bucket of [storage.uploadsBucket, storage.resultsBucket]) {
      const id = stack.getLogicalId(bucket.node.defaultChild as CfnBucket);
      const cors = template.toJSON().Resources[id].Properties.CorsConfiguration as {
        CorsRules: { AllowedOrigins: string[] }[];
      };
      expect(cors.CorsRules.map((rule) => rule.AllowedOrigins)).toEqual([origins]);
    }
  });

  it.each([true, false])('passes cdk-nag’s AWS Solutions checks with retainData %s', (retainData) => {
    // Prepare
    const { stack } = storageStack({ allowedOrigins: ['*'], retainData });
    // Act
    const report = new AwsSolutionsChecks().validateScope(stack);
    // Assess
    expect(report.violations.map((violation) => violation.ruleName)).toEqual([]);
  });
});
