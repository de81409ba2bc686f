import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getAtt, nodeFunction, type ProvisioningHarness, ref, startProvisioning } from '#test/provisioning';
import { ProvisionError } from '../../../local/provision.ts';
import { UnsupportedTemplateError } from '../../../local/support.ts';
import type { CfnResource } from '../../../local/types.ts';

let harness: ProvisioningHarness;

beforeAll(async () => {
  harness = await startProvisioning();
  await harness.asset('asset.ffmpeg-layer');
});

afterAll(async () => {
  await harness?.close();
});

const layer: CfnResource = {
  Type: 'AWS::Lambda::LayerVersion',
  Properties: { Content: { S3Bucket: 'assets', S3Key: 'layer.zip' }, CompatibleRuntimes: ['nodejs22.x'] },
  Metadata: { 'aws:asset:path': 'asset.ffmpeg-layer', 'aws:asset:property': 'Content' },
};

/** A video function with a layer, a queue it reads from, one it dead-letters to, and its wiring. */
const videoStack = (): Record<string, CfnResource> => ({
  Jobs: { Type: 'AWS::SQS::Queue', Properties: { VisibilityTimeout: 1800 } },
  Failed: { Type: 'AWS::SQS::Queue', Properties: {} },
  Ffmpeg: layer,
  Video: nodeFunction({
    Timeout: 300,
    MemorySize: 3008,
    Layers: [ref('Ffmpeg')],
    Environment: {
      Variables: {
        FFMPEG_PATH: '/opt/bin/ffmpeg',
        JOBS_QUEUE_URL: ref('Jobs'),
        MAX_FRAMES: 30,
        DEBUG: false,
      },
    },
    DeadLetterConfig: { TargetArn: getAtt('Failed', 'Arn') },
    Role: getAtt('NotDeclaredAnywhere', 'Arn'),
    Architectures: ['arm64'],
  }),
  VideoAsync: {
    Type: 'AWS::Lambda::EventInvokeConfig',
    Properties: { FunctionName: ref('Video'), Qualifier: '$LATEST', MaximumRetryAttempts: 0 },
  },
  VideoJobs: {
    Type: 'AWS::Lambda::EventSourceMapping',
    Properties: {
      EventSourceArn: getAtt('Jobs', 'Arn'),
      FunctionName: ref('Video'),
      BatchSize: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    },
  },
});

describe('AWS::Lambda::Function and its layers, retries and event sources', () => {
  it('turns the function into a spec with its code, layers, environment, timeout and memory', async () => {
    const provisioned = await harness.provision({ Resources: videoStack() });
    const { Jobs: jobs, Failed: failed, Video: video } = provisioned.resources;

    expect(provisioned.functions).toEqual([
      {
        logicalId: 'Video',
        name: 'Video',
        handler: 'index.handler',
        codeDir: expect.stringMatching(/\/asset\.handler$/),
        layerDirs: [expect.stringMatching(/\/asset\.ffmpeg-layer$/)],
        environment: {
          FFMPEG_PATH: '/opt/bin/ffmpeg',
          JOBS_QUEUE_URL: jobs?.ref,
          MAX_FRAMES: '30',
          DEBUG: 'false',
        },
        timeoutSeconds: 300,
        memoryMb: 3008,
        deadLetterTargetArn: failed?.attributes.Arn,
        maximumRetryAttempts: 0,
        maximumEventAgeSeconds: 21_600,
      },
    ]);
    expect(video?.attributes.Arn).toMatch(
      new RegExp(`^arn:aws:lambda:us-east-1:000000000000:function:${harness.stackName}-Video-[0-9a-f]{8}$`),
    );
    expect(provisioned.eventSourceMappings).toEqual([
      {
        logicalId: 'VideoJobs',
        functionLogicalId: 'Video',
        queueLogicalId: 'Jobs',
        queueUrl: jobs?.ref,
        queueArn: jobs?.attributes.Arn,
        batchSize: 1,
        maximumBatchingWindowSeconds: 0,
        reportBatchItemFailures: true,
        enabled: true,
      },
    ]);
  });

  it("gives a function Lambda's defaults where the template says nothing", async () => {
    const provisioned = await harness.provision({
      Resources: { Plain: nodeFunction({ FunctionName: 'plain-function' }) },
    });

    expect(provisioned.functions).toEqual([
      expect.objectContaining({
        name: 'plain-function',
        layerDirs: [],
        environment: {},
        timeoutSeconds: 3,
        memoryMb: 128,
        maximumRetryAttempts: 2,
        maximumEventAgeSeconds: 21_600,
      }),
    ]);
    expect(provisioned.resources.Plain?.attributes.Arn).toBe(
      'arn:aws:lambda:us-east-1:000000000000:function:plain-function',
    );
  });

  it('serves a function URL on the base URL the runtime gives it, waiting as long as the function runs', async () => {
    const provisioned = await harness.provision(
      {
        Resources: {
          ...videoStack(),
          VideoUrl: {
            Type: 'AWS::Lambda::Url',
            Properties: {
              TargetFunctionArn: getAtt('Video', 'Arn'),
              AuthType: 'NONE',
              Cors: { AllowOrigins: ['*'], AllowMethods: ['GET'] },
            },
          },
        },
        Outputs: { VideoUrl: { Value: getAtt('VideoUrl', 'FunctionUrl') } },
      },
      { functionUrlBaseUrl: async (logicalId) => `http://127.0.0.1:40001/${logicalId}/` },
    );

    expect(provisioned.functionUrls).toEqual([
      expect.objectContaining({
        logicalId: 'VideoUrl',
        name: 'Video',
        baseUrl: 'http://127.0.0.1:40001/VideoUrl',
        cors: expect.objectContaining({ allowOrigins: ['*'], allowMethods: ['GET'] }),
        routes: [
          expect.objectContaining({ routeKey: '$default', functionLogicalId: 'Video', timeoutMs: 301_000 }),
        ],
      }),
    ]);
    expect(provisioned.outputs.VideoUrl).toBe('http://127.0.0.1:40001/VideoUrl/');
  });

  it('refuses a runtime other than Node.js and a function URL with IAM auth', async () => {
    await expect(
      harness.provision({
        Resources: {
          Python: nodeFunction({ Runtime: 'python3.12' }),
          PythonUrl: {
            Type: 'AWS::Lambda::Url',
            Properties: { TargetFunctionArn: getAtt('Python', 'Arn'), AuthType: 'AWS_IAM' },
          },
        },
      }),
    ).rejects.toMatchObject({
      constructor: UnsupportedTemplateError,
      problems: [
        {
          path: 'Resources.Python.Properties.Runtime',
          reason: 'runtime python3.12 is not supported locally (only nodejs* functions run)',
        },
        {
          path: 'Resources.PythonUrl.Properties.AuthType',
          reason: 'auth type AWS_IAM is not supported locally (only NONE)',
        },
      ],
    });
  });

  it('names the function whose layer is not part of the template', async () => {
    const elsewhere = 'arn:aws:lambda:us-east-1:123456789012:layer:shared:4';

    await expect(
      harness.provision({ Resources: { Borrower: nodeFunction({ Layers: [elsewhere] }) } }),
    ).rejects.toThrow(
      new ProvisionError(
        `Resources.Borrower.Properties.Layers[0]: ${elsewhere} is not a layer of this template; layers from elsewhere cannot be mounted locally`,
      ),
    );
  });
});
