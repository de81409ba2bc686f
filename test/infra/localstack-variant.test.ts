import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settingsFromContext } from '#lib/app';
import { LOCALSTACK_COMMUNITY_RESOURCE_TYPES } from '#lib/localstack-target';
import { dependencyOrder } from '../../local/provision.ts';
import { checkSupport } from '../../local/support.ts';
import type { CfnTemplate } from '../../local/types.ts';
import { type SynthesizedPipeline, synthesizePipeline } from './synthesize.ts';
import { environmentOf, referencedId, TemplateQueries } from './template-queries.ts';

/**
 * The two template variants side by side (lib/deployment-target.ts): `aws`, the default, and
 * `localstack` (`-c target=localstack`). They differ only where LocalStack's free image lacks what AWS
 * has, and the AWS template carries none of the LocalStack parts.
 */

const SERVICES = [
  'media-api',
  'media-ingest',
  'media-image',
  'media-video',
  'media-webhook',
  'media-dead-letter',
];

/** The services of the page and the authorizer, which only the aws variant has (they hang off the HTTP API). */
const HTTP_API_SERVICES = ['media-web', 'media-authorizer'];

let aws: SynthesizedPipeline;
let localstack: SynthesizedPipeline;
let awsQueries: TemplateQueries;
let localstackQueries: TemplateQueries;

/** What `cdk synth` adds and the local runtime needs to find each function's code. */
const ASSET_METADATA = { 'aws:cdk:enable-asset-metadata': true };

beforeAll(() => {
  aws = synthesizePipeline({}, ASSET_METADATA);
  localstack = synthesizePipeline({}, { ...ASSET_METADATA, target: 'localstack' });
  awsQueries = new TemplateQueries(aws.template);
  localstackQueries = new TemplateQueries(localstack.template);
}, 180_000);
afterAll(() => {
  aws?.cleanUp();
  localstack?.cleanUp();
});

const json = (synthesized: SynthesizedPipeline) => synthesized.template.toJSON() as CfnTemplate;
const logicalIdOf = (synthesized: SynthesizedPipeline, construct: { node: { defaultChild?: unknown } }) =>
  synthesized.stack.resolve((construct.node.defaultChild as { logicalId: string }).logicalId) as string;
const uploadsBucketOf = (synthesized: SynthesizedPipeline) =>
  new TemplateQueries(synthesized.template).get(
    logicalIdOf(synthesized, synthesized.stack.storage.uploadsBucket),
  );
const assetDirectory = (synthesized: SynthesizedPipeline, code: unknown): string =>
  join(synthesized.outdir, `asset.${(code as { S3Key: string }).S3Key.replace(/\.zip$/, '')}`);

describe('the deployment target switch (CDK context target)', () => {
  it('defaults to aws, reads localstack and a public endpoint, and refuses anything else', () => {
    // Prepare
    const settingsFor = (context: Record<string, unknown>) => settingsFromContext(new App({ context }).node);
    // Act and Assess
    expect(settingsFor({}).target).toBeUndefined();
    expect(aws.stack.target).toBe('aws');
    expect(localstack.stack.target).toBe('localstack');
    expect(
      settingsFor({ target: 'localstack', localstackPublicEndpoint: 'http://localhost:4566' }),
    ).toMatchObject({ target: 'localstack', localstackPublicEndpoint: 'http://localhost:4566' });
    expect(() => settingsFor({ target: 'gcp' })).toThrow(/target must be one of aws, localstack/);
    expect(() => settingsFor({ localstackPublicEndpoint: 'localhost:4566/x' })).toThrow(
      /localstackPublicEndpoint must be an endpoint/,
    );
  });
});

describe('uploads → ingest notification', () => {
  it('aws: goes through CDK’s Custom::S3BucketNotifications, the bucket named by CloudFormation', () => {
    // Assess
    const ingestId = awsQueries.projectFunction('media-ingest').logicalId;
    const custom = awsQueries.ofType('Custom::S3BucketNotifications');
    expect(custom).toHaveLength(1);
    expect(custom[0]?.[1].Properties.NotificationConfiguration).toEqual({
      LambdaFunctionConfigurations: [
        {
          Events: ['s3:ObjectCreated:*'],
          Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'uploads/' }] } },
          LambdaFunctionArn: { 'Fn::GetAtt': [ingestId, 'Arn'] },
        },
      ],
    });
    const bucket = uploadsBucketOf(aws);
    expect(bucket.Properties.NotificationConfiguration).toBeUndefined();
    expect(bucket.Properties.BucketName).toBeUndefined();
  });

  it('localstack: is the bucket’s own NotificationConfiguration, with no custom resource or handler', () => {
    // Assess
    const ingestId = localstackQueries.projectFunction('media-ingest').logicalId;
    expect(localstackQueries.ofType('Custom::S3BucketNotifications')).toEqual([]);
    // Only the project's functions: CDK's notifications handler is gone.
    expect(localstackQueries.ofType('AWS::Lambda::Function')).toHaveLength(
      localstackQueries.projectFunctions().size,
    );
    expect(uploadsBucketOf(localstack).Properties.NotificationConfiguration).toEqual({
      LambdaConfigurations: [
        {
          Event: 's3:ObjectCreated:*',
          Filter: { S3Key: { Rules: [{ Name: 'prefix', Value: 'uploads/' }] } },
          Function: { 'Fn::GetAtt': [ingestId, 'Arn'] },
        },
      ],
    });
  });

  it('localstack: lets S3 invoke ingest for that bucket before the bucket is created, with no cycle', () => {
    // Prepare
    const bucketId = logicalIdOf(localstack, localstack.stack.storage.uploadsBucket);
    const bucket = uploadsBucketOf(localstack);
    const ingest = localstackQueries.projectFunction('media-ingest');
    const dependsOn = [(json(localstack).Resources[bucketId]?.DependsOn as string[] | string) ?? []].flat();
    // Assess: the permission the bucket waits for names the bucket by the same name expression.
    const permissions = localstackQueries
      .ofType('AWS::Lambda::Permission')
      .filter(([, permission]) => permission.Properties.Principal === 's3.amazonaws.com');
    expect(permissions).toHaveLength(1);
    const [permissionId, permission] = permissions[0] as [string, { Properties: Record<string, unknown> }];
    expect(dependsOn).toContain(permissionId);
    expect(permission.Properties).toMatchObject({
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [ingest.logicalId, 'Arn'] },
      SourceAccount: { Ref: 'AWS::AccountId' },
      SourceArn: {
        'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::', bucket.Properties.BucketName]],
      },
    });
    // The name comes from the stack id, so a redeploy after a destroy that kept the bucket gets a new one.
    expect(JSON.stringify(bucket.Properties.BucketName)).toContain('AWS::StackId');
    expect(environmentOf(ingest.properties).UPLOADS_BUCKET).toEqual(bucket.Properties.BucketName);
    // CloudFormation can order the whole template (local/provision.ts's ordering refuses cycles).
    expect(() => dependencyOrder(json(localstack).Resources)).not.toThrow();
    expect(() => dependencyOrder(json(aws).Resources)).not.toThrow();
  });
});

describe('ffmpeg and sharp', () => {
  it('aws: come from the layers, at /opt', () => {
    // Assess
    const video = awsQueries.projectFunction('media-video').properties;
    const image = awsQueries.projectFunction('media-image').properties;
    expect((video.Layers as unknown[]).map(referencedId)).toEqual([
      logicalIdOf(aws, aws.stack.processing.ffmpegLayer as never),
    ]);
    expect((image.Layers as unknown[]).map(referencedId)).toEqual([
      logicalIdOf(aws, aws.stack.processing.sharpLayer as never),
    ]);
    expect(environmentOf(video)).toMatchObject({
      FFMPEG_PATH: '/opt/bin/ffmpeg',
      FFPROBE_PATH: '/opt/bin/ffprobe',
    });
  });

  it('localstack: are in the functions’ own assets, with no layer anywhere', () => {
    // Assess
    expect(localstackQueries.ofType('AWS::Lambda::LayerVersion')).toEqual([]);
    expect(localstack.stack.processing.ffmpegLayer).toBeUndefined();
    const video = localstackQueries.projectFunction('media-video').properties;
    const image = localstackQueries.projectFunction('media-image').properties;
    expect(video.Layers).toBeUndefined();
    expect(image.Layers).toBeUndefined();
    expect(environmentOf(video)).toMatchObject({
      FFMPEG_PATH: '/var/task/bin/ffmpeg',
      FFPROBE_PATH: '/var/task/bin/ffprobe',
    });
    const videoAsset = assetDirectory(localstack, video.Code);
    for (const binary of ['ffmpeg', 'ffprobe']) {
      expect((statSync(join(videoAsset, 'bin', binary)).mode & 0o777).toString(8), binary).toBe('755');
    }
    const imageAsset = assetDirectory(localstack, image.Code);
    expect(existsSync(join(imageAsset, 'node_modules', 'sharp', 'package.json'))).toBe(true);
    expect(existsSync(join(imageAsset, 'node_modules', '@img', 'sharp-linux-x64'))).toBe(true);
  });

  it('localstack: the bundled ffmpeg runs, and the image bundle loads sharp from its own node_modules', () => {
    // Prepare
    const video = localstackQueries.projectFunction('media-video').properties;
    const imageAsset = assetDirectory(
      localstack,
      localstackQueries.projectFunction('media-image').properties.Code,
    );
    // Act: no NODE_PATH, as on Lambda without layers: require resolves /var/task/node_modules.
    const ffmpeg = spawnSync(join(assetDirectory(localstack, video.Code), 'bin', 'ffmpeg'), ['-version'], {
      encoding: 'utf8',
    });
    const sharp = spawnSync(
      process.execPath,
      ['-e', `require(${JSON.stringify(join(imageAsset, 'node_modules', 'sharp'))}); process.exit(0)`],
      { cwd: tmpdir(), encoding: 'utf8', env: { PATH: process.env.PATH } },
    );
    // Assess
    expect(ffmpeg.status, ffmpeg.stderr).toBe(0);
    expect(sharp.status, sharp.stderr).toBe(0);
  });
});

describe('the API and presigned URLs', () => {
  it('aws: the HTTP API alone, and no S3 endpoint override in any function', () => {
    // Assess
    expect(awsQueries.ofType('AWS::Lambda::Url')).toEqual([]);
    expect(aws.template.toJSON().Outputs.HttpApiUrl).toBeUndefined();
    expect(JSON.stringify(aws.template.toJSON().Outputs.ApiUrl.Value)).toContain('execute-api');
    for (const service of SERVICES) {
      const environment = environmentOf(awsQueries.projectFunction(service).properties);
      expect(environment.S3_PUBLIC_ENDPOINT, service).toBeUndefined();
      expect(environment.S3_FORCE_PATH_STYLE, service).toBeUndefined();
    }
  });

  it('localstack: a public function URL on the API function, which ApiUrl names; no HTTP API at all', () => {
    // Assess
    const api = localstackQueries.projectFunction('media-api');
    const urls = localstackQueries.ofType('AWS::Lambda::Url');
    expect(urls).toHaveLength(1);
    const [urlId, url] = urls[0] as [string, { Properties: Record<string, unknown> }];
    expect(url.Properties).toMatchObject({
      AuthType: 'NONE',
      TargetFunctionArn: { 'Fn::GetAtt': [api.logicalId, 'Arn'] },
      Cors: {
        AllowOrigins: ['*'],
        AllowMethods: ['GET', 'POST', 'DELETE'],
        AllowHeaders: ['*', 'authorization'],
        MaxAge: 3600,
      },
    });
    const outputs = localstack.template.toJSON().Outputs;
    expect(outputs.ApiUrl.Value).toEqual({ 'Fn::GetAtt': [urlId, 'FunctionUrl'] });
    expect(outputs.HttpApiUrl).toBeUndefined();
    // No API Gateway v2 resource (no API, stage, routes, integrations or authorizer) for LocalStack to mock.
    const types = Object.values(localstackQueries.resources).map((resource) => resource.Type);
    expect(types.filter((type) => type.startsWith('AWS::ApiGateway'))).toEqual([]);
    expect(localstack.stack.uploadApi.httpApi).toBeUndefined();
    expect(localstack.stack.webPage).toBeUndefined();
    expect(localstack.stack.apiAuth.authorizerFunction).toBeUndefined();
    // The API function checks keys itself.
    expect(environmentOf(api.properties)).toMatchObject({ AUTH_MODE: 'api-key', AUTH_IN_FUNCTION: 'true' });
  });

  it('localstack: uses only resource types LocalStack 4.14.0’s community image provides, so nothing is mocked', () => {
    // Assess
    const types = new Set(Object.values(localstackQueries.resources).map((resource) => resource.Type));
    expect([...types].filter((type) => !LOCALSTACK_COMMUNITY_RESOURCE_TYPES.has(type)).sort()).toEqual([]);
  });

  it('localstack: every function signs presigned URLs for the public endpoint, path-style', () => {
    // Assess
    for (const service of SERVICES) {
      expect(environmentOf(localstackQueries.projectFunction(service).properties), service).toMatchObject({
        S3_PUBLIC_ENDPOINT: 'https://localhost.localstack.cloud:4566',
        S3_FORCE_PATH_STYLE: 'true',
      });
    }
  });
});

describe('both variants', () => {
  it('keeps every LocalStack-only part out of the aws template', () => {
    // Assess
    const text = JSON.stringify(aws.template.toJSON());
    expect(text).not.toMatch(/localstack/i);
    expect(text).not.toContain('/var/task/');
    expect(text).not.toContain('AWS::StackId');
    expect(awsQueries.ofType('AWS::Lambda::LayerVersion')).toHaveLength(2);
  });

  it('differs only in the resources the switch is about', () => {
    // Prepare
    const typesOf = (queries: TemplateQueries) =>
      Object.values(queries.resources).reduce<Record<string, number>>((counts, resource) => {
        counts[resource.Type] = (counts[resource.Type] ?? 0) + 1;
        return counts;
      }, {});
    const awsTypes = typesOf(awsQueries);
    const localstackTypes = typesOf(localstackQueries);
    // Assess
    const changed = [...new Set([...Object.keys(awsTypes), ...Object.keys(localstackTypes)])]
      .filter((type) => awsTypes[type] !== localstackTypes[type])
      .sort();
    expect(changed).toEqual([
      'AWS::ApiGatewayV2::Api', // the HTTP API, its stage, routes, integrations and authorizer
      'AWS::ApiGatewayV2::Authorizer',
      'AWS::ApiGatewayV2::Integration',
      'AWS::ApiGatewayV2::Route',
      'AWS::ApiGatewayV2::Stage',
      'AWS::CloudWatch::Alarm', // the HTTP API's 5xx alarm
      'AWS::CloudWatch::Dashboard', // no community provider: left out
      'AWS::IAM::Policy', // CDK's notifications handler's, the page's and the authorizer's
      'AWS::IAM::Role', // the same functions'
      'AWS::Lambda::Function', // the same functions
      'AWS::Lambda::LayerVersion',
      'AWS::Lambda::Permission', // S3 → ingest (direct), the function URL's; API Gateway's to the functions
      'AWS::Lambda::Url',
      'AWS::Logs::LogGroup', // the HTTP API's access logs, the page's and the authorizer's logs
      'Custom::S3BucketNotifications',
    ]);
    for (const service of HTTP_API_SERVICES) {
      expect(() => awsQueries.projectFunction(service), service).not.toThrow();
      expect(() => localstackQueries.projectFunction(service), service).toThrow();
    }
  });

  it('aws: names nothing itself, so deploy, destroy and redeploy need no clean-up; logs go with the stack', () => {
    // Prepare: properties that would fix a physical name (and collide with a retained resource).
    const NAME_PROPERTIES = [
      'BucketName',
      'QueueName',
      'TableName',
      'FunctionName',
      'LogGroupName',
      'RoleName',
    ];
    // Assess
    for (const [logicalId, resource] of Object.entries(awsQueries.resources)) {
      // A literal name is fixed; references (a permission's FunctionName) name another resource.
      const named = NAME_PROPERTIES.filter((name) => typeof resource.Properties[name] === 'string');
      expect(named, logicalId).toEqual([]);
      if (resource.Type === 'AWS::SecretsManager::Secret') expect(resource.Properties.Name).toBeUndefined();
      if (resource.Type === 'AWS::Logs::LogGroup') expect(resource.DeletionPolicy, logicalId).toBe('Delete');
    }
    // With retainData (the default) the data outlives the stack: buckets, the table and the secret.
    const retained = Object.values(awsQueries.resources)
      .filter((resource) => resource.DeletionPolicy === 'Retain')
      .map((resource) => resource.Type)
      .sort();
    expect(retained).toEqual([
      'AWS::DynamoDB::Table',
      'AWS::DynamoDB::Table',
      'AWS::S3::Bucket',
      'AWS::S3::Bucket',
      'AWS::S3::Bucket',
      'AWS::SecretsManager::Secret',
    ]);
  });

  it('are both accepted by the local runtime', () => {
    // Assess
    expect(() => checkSupport(json(aws))).not.toThrow();
    expect(() => checkSupport(json(localstack))).not.toThrow();
  });

  it('passes cdk-nag’s AWS Solutions checks in the localstack variant too (cdklocal deploy runs them)', () => {
    // Act
    const report = new AwsSolutionsChecks().validateScope(localstack.stack);
    // Assess
    expect(
      report.violations.map(
        (violation) =>
          `${violation.ruleName}: ${violation.violatingResources.map((r) => r.constructPath).join(', ')}`,
      ),
    ).toEqual([]);
  });
});
