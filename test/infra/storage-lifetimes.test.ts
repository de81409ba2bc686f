import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CfnBucket } from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { defineMediaPipeline, settingsFromContext } from '#lib/app';
import {
  NONCURRENT_VERSION_DAYS,
  RESULTS_PREFIX,
  Storage,
  type StorageProps,
  UPLOADS_PREFIX,
} from '#lib/storage';
import { DEFAULT_UPLOAD_RETENTION_DAYS } from '#shared/retention';
import { testApp } from './synthesize.ts';
import { environmentOf, TemplateQueries } from './template-queries.ts';

interface LifecycleRuleJson {
  Id: string;
  Status: string;
  Prefix?: string;
  TagFilters?: unknown;
  ExpirationInDays?: number;
  ExpiredObjectDeleteMarker?: boolean;
  NoncurrentVersionExpiration?: { NoncurrentDays: number };
  AbortIncompleteMultipartUpload?: { DaysAfterInitiation: number };
}

const storageStack = (props: Partial<StorageProps> = {}) => {
  const stack = new Stack(testApp(), 'Test');
  const storage = new Storage(stack, 'Storage', { allowedOrigins: ['*'], retainData: true, ...props });
  const template = Template.fromStack(stack);
  const resources = template.toJSON().Resources as Record<
    string,
    { Type: string; Properties?: Record<string, unknown>; DependsOn?: string[] }
  >;
  const idOf = (bucket: Storage['uploadsBucket']) =>
    stack.getLogicalId(bucket.node.defaultChild as CfnBucket);
  const rulesOf = (bucket: Storage['uploadsBucket']): LifecycleRuleJson[] =>
    (
      resources[idOf(bucket)]?.Properties?.LifecycleConfiguration as
        | { Rules: LifecycleRuleJson[] }
        | undefined
    )?.Rules ?? [];
  return { stack, storage, template, resources, idOf, rulesOf };
};

const ruleNamed = (rules: LifecycleRuleJson[], id: string): LifecycleRuleJson => {
  const rule = rules.find((candidate) => candidate.Id === id);
  if (!rule) throw new Error(`no lifecycle rule ${id} among ${rules.map((r) => r.Id).join(', ')}`);
  return rule;
};

describe('lifecycle rules', () => {
  it('expires every original under uploads/ 30 days after upload by default, with no tag filter', () => {
    // Act
    const { storage, rulesOf } = storageStack();
    // Assess
    const rule = ruleNamed(rulesOf(storage.uploadsBucket), 'ExpireUploads');
    expect(rule).toEqual({
      Id: 'ExpireUploads',
      Status: 'Enabled',
      Prefix: UPLOADS_PREFIX,
      ExpirationInDays: DEFAULT_UPLOAD_RETENTION_DAYS,
    });
    expect(DEFAULT_UPLOAD_RETENTION_DAYS).toBe(30);
  });

  it('keeps the rule that aborts incomplete multipart uploads after a day', () => {
    // Act
    const { storage, rulesOf } = storageStack();
    // Assess
    expect(ruleNamed(rulesOf(storage.uploadsBucket), 'AbortIncompleteMultipartUploads')).toMatchObject({
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
    });
  });

  it('takes the originals’ retention from the props', () => {
    // Act
    const { storage, rulesOf } = storageStack({ uploadRetentionDays: 14 });
    // Assess
    expect(ruleNamed(rulesOf(storage.uploadsBucket), 'ExpireUploads').ExpirationInDays).toBe(14);
    expect(storage.uploadRetentionDays).toBe(14);
  });

  it('keeps results unless resultRetentionDays is set', () => {
    // Act
    const { storage, rulesOf } = storageStack();
    // Assess
    const rules = rulesOf(storage.resultsBucket);
    expect(rules.filter((rule) => rule.ExpirationInDays !== undefined)).toEqual([]);
    expect(storage.resultRetentionDays).toBeUndefined();
  });

  it('expires results under results/ after resultRetentionDays when set', () => {
    // Act
    const { storage, rulesOf } = storageStack({ resultRetentionDays: 90 });
    // Assess
    expect(ruleNamed(rulesOf(storage.resultsBucket), 'ExpireResults')).toEqual({
      Id: 'ExpireResults',
      Status: 'Enabled',
      Prefix: RESULTS_PREFIX,
      ExpirationInDays: 90,
    });
  });

  it('cleans noncurrent versions and expired delete markers on both buckets, which are not versioned', () => {
    // Act
    const { storage, rulesOf, resources, idOf } = storageStack();
    // Assess
    for (const bucket of [storage.uploadsBucket, storage.resultsBucket]) {
      expect(ruleNamed(rulesOf(bucket), 'CleanUpOldVersions')).toEqual({
        Id: 'CleanUpOldVersions',
        Status: 'Enabled',
        NoncurrentVersionExpiration: { NoncurrentDays: NONCURRENT_VERSION_DAYS },
        ExpiredObjectDeleteMarker: true,
      });
      // The rule is there for the day versioning is turned on; today nothing is versioned.
      expect(resources[idOf(bucket)]?.Properties?.VersioningConfiguration).toBeUndefined();
    }
    expect(resources[idOf(storage.accessLogsBucket)]?.Properties?.VersioningConfiguration).toBeUndefined();
  });

  it('leaves the access logs’ 90-day expiry alone', () => {
    // Act
    const { storage, rulesOf } = storageStack();
    // Assess
    expect(rulesOf(storage.accessLogsBucket)).toEqual([
      { Id: 'ExpireAccessLogs', Status: 'Enabled', ExpirationInDays: 90 },
    ]);
  });

  it.each([
    [
      { uploadRetentionDays: 9 },
      /uploadRetentionDays must be a whole number of days from 10 to 3650, not 9 \(a job waits a week/,
    ],
    [{ uploadRetentionDays: 3651 }, /uploadRetentionDays must be a whole number of days from 10 to 3650/],
    [{ uploadRetentionDays: 7.5 }, /uploadRetentionDays must be a whole number/],
    [{ resultRetentionDays: 0 }, /resultRetentionDays must be a whole number of days from 1 to 3650, not 0/],
  ] as const)('refuses %j with a message saying what fits', (props, message) => {
    // Act
    const build = () => storageStack(props);
    // Assess
    expect(build).toThrow(message);
  });
});

describe('destroy without retained data (aws-cdk#21776)', () => {
  const emptyingOf = (resources: ReturnType<typeof storageStack>['resources'], bucketId: string) => {
    const found = Object.entries(resources).filter(
      ([, resource]) =>
        resource.Type === 'Custom::S3AutoDeleteObjects' &&
        JSON.stringify(resource.Properties?.BucketName) === JSON.stringify({ Ref: bucketId }),
    );
    expect(found, `auto-delete custom resource of ${bucketId}`).toHaveLength(1);
    return found[0]?.[1] as { DependsOn?: string[] };
  };

  it('empties the access-log bucket only after the buckets it logs are deleted', () => {
    // Act
    const { storage, resources, idOf } = storageStack({ retainData: false });
    // Assess: CloudFormation deletes in reverse dependency order
    const emptying = emptyingOf(resources, idOf(storage.accessLogsBucket));
    expect(emptying.DependsOn).toEqual(
      expect.arrayContaining([idOf(storage.uploadsBucket), idOf(storage.resultsBucket)]),
    );
  });

  it('keeps the log bucket’s policy (where the emptying denies new writes) until the emptying is done', () => {
    // Act
    const { storage, resources, idOf } = storageStack({ retainData: false });
    // Assess
    const policyId = Object.entries(resources).find(
      ([, resource]) =>
        resource.Type === 'AWS::S3::BucketPolicy' &&
        JSON.stringify(resource.Properties?.Bucket) ===
          JSON.stringify({ Ref: idOf(storage.accessLogsBucket) }),
    )?.[0];
    expect(policyId).toBeDefined();
    expect(emptyingOf(resources, idOf(storage.accessLogsBucket)).DependsOn).toContain(policyId);
  });

  it('deletes the log bucket after the buckets that log to it (they reference it)', () => {
    // Act
    const { storage, resources, idOf } = storageStack({ retainData: false });
    // Assess
    for (const bucket of [storage.uploadsBucket, storage.resultsBucket]) {
      expect(resources[idOf(bucket)]?.Properties?.LoggingConfiguration).toEqual({
        DestinationBucketName: { Ref: idOf(storage.accessLogsBucket) },
        LogFilePrefix: expect.any(String),
      });
    }
  });

  it('relies on CDK’s emptying handler denying s3:PutObject before it deletes (aws-cdk#26874)', () => {
    // Prepare: the handler CDK deploys for autoDeleteObjects, as this aws-cdk-lib ships it
    const cdkLib = dirname(createRequire(import.meta.url).resolve('aws-cdk-lib/package.json'));
    const handler = readFileSync(
      join(cdkLib, 'custom-resource-handlers/dist/aws-s3/auto-delete-objects-handler/index.js'),
      'utf8',
    );
    // Assess: late log deliveries are refused only while this statement is in the bucket policy
    expect(handler).toMatch(/Effect:"Deny",Action:\["s3:PutObject"\]/);
    expect(handler).toContain('putBucketPolicy');
  });

  it('adds no ordering when data is retained (nothing is emptied)', () => {
    // Act
    const { template } = storageStack({ retainData: true });
    // Assess
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
  });

  it.each([true, false])(
    'passes cdk-nag’s AWS Solutions checks with retainData %s and both retentions',
    (retainData) => {
      // Prepare
      const { stack } = storageStack({ retainData, uploadRetentionDays: 14, resultRetentionDays: 365 });
      // Act
      const report = new AwsSolutionsChecks().validateScope(stack);
      // Assess
      expect(report.violations).toEqual([]);
    },
  );
});

describe('the retention settings', () => {
  const settingsFor = (context: Record<string, unknown>) => settingsFromContext(new App({ context }).node);

  it('reads the retentions from context, command-line strings included', () => {
    // Act
    const settings = settingsFor({ uploadRetentionDays: '14', resultRetentionDays: 365 });
    // Assess
    expect(settings).toMatchObject({ uploadRetentionDays: 14, resultRetentionDays: 365 });
  });

  it('leaves results kept when the context says keep, or says nothing', () => {
    // Assess
    expect(settingsFor({ resultRetentionDays: 'keep' }).resultRetentionDays).toBeUndefined();
    expect(settingsFor({}).resultRetentionDays).toBeUndefined();
  });

  it.each([
    [
      { uploadRetentionDays: '3' },
      /context uploadRetentionDays must be a whole number of days from 10 to 3650, not "3" \(a job waits a week/,
    ],
    [
      { uploadRetentionDays: 'forever' },
      /context uploadRetentionDays must be a whole number of days from 10/,
    ],
    [
      { resultRetentionDays: '0' },
      /context resultRetentionDays must be a whole number of days from 1 to 3650, not "0"/,
    ],
    [
      { resultRetentionDays: 4000 },
      /context resultRetentionDays must be a whole number of days from 1 to 3650/,
    ],
  ])('refuses %j', (context, message) => {
    // Act
    const read = () => settingsFor(context);
    // Assess
    expect(read).toThrow(message);
  });

  it('reaches the buckets and the API function from context', () => {
    // Prepare: bundling is skipped (no stack is named in aws:cdk:bundling-stacks): only the template matters
    const app = testApp({
      'aws:cdk:bundling-stacks': [],
      uploadRetentionDays: '14',
      resultRetentionDays: '90',
    });
    // Act
    const stack = defineMediaPipeline(app);
    const template = Template.fromStack(stack);
    // Assess
    const environment = environmentOf(new TemplateQueries(template).projectFunction('media-api').properties);
    expect(environment).toMatchObject({ UPLOAD_RETENTION_DAYS: '14', RESULT_RETENTION_DAYS: '90' });
    expect(stack.storage.uploadRetentionDays).toBe(14);
    expect(stack.storage.resultRetentionDays).toBe(90);
  });

  it('tells the API function the defaults: originals 30 days, results kept (0)', () => {
    // Prepare
    const app = testApp({ 'aws:cdk:bundling-stacks': [] });
    // Act
    const template = Template.fromStack(defineMediaPipeline(app));
    // Assess
    const environment = environmentOf(new TemplateQueries(template).projectFunction('media-api').properties);
    expect(environment).toMatchObject({ UPLOAD_RETENTION_DAYS: '30', RESULT_RETENTION_DAYS: '0' });
  });
});
