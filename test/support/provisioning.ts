import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { inject } from 'vitest';
import { type ProvisionOptions, provisionStack } from '../../local/provision.ts';
import { localSecrets, startSecretsManager } from '../../local/secrets-manager.ts';
import type { CfnResource, CfnTemplate, LocalEndpoints, ProvisionedStack } from '../../local/types.ts';
import { LOCAL_CREDENTIALS, localS3Client, REGION, startS3, startSqs } from './emulators.ts';

export const API_BASE_URL = 'http://127.0.0.1:39999';
/** The asset every harness has: a handler that answers `{}` (provisioning reads no code, workers would). */
export const HANDLER_ASSET = 'asset.handler';

/**
 * Provisions tiny hand-written templates against the real emulators: s3rver, fauxqs and the Secrets
 * Manager substitute for this file, DynamoDB Local shared by the run. Every harness has a stack name of
 * its own, so its tables stay apart from other files' in the shared DynamoDB Local, and provisioning the
 * same resources again finds them (as a restart of the runtime does).
 */
export interface ProvisioningHarness {
  stackName: string;
  endpoints: LocalEndpoints;
  dataDir: string;
  clients: { s3: S3Client; sqs: SQSClient; dynamodb: DynamoDBClient; secrets: SecretsManagerClient };
  /** Provisions a template of these resources (and outputs); options override the harness's defaults. */
  provision(
    template: Pick<CfnTemplate, 'Resources'> & Partial<CfnTemplate>,
    options?: Partial<ProvisionOptions>,
  ): Promise<ProvisionedStack>;
  /** A function or layer asset directory with these files, as `aws:asset:path` metadata names it. */
  asset(name: string, files?: Record<string, string>): Promise<string>;
  close(): Promise<void>;
}

export const startProvisioning = async (): Promise<ProvisioningHarness> => {
  const [s3, sqs, secrets, assemblyDir, dataDir] = await Promise.all([
    startS3(),
    startSqs(),
    startSecretsManager(),
    mkdtemp(join(tmpdir(), 'local-assembly-')),
    mkdtemp(join(tmpdir(), 'local-data-')),
  ]);
  const stackName = `Res-${process.pid}-${Date.now().toString(36)}`;
  const endpoints: LocalEndpoints = {
    s3: s3.endpoint,
    sqs: sqs.endpoint,
    dynamodb: inject('dynamodbEndpoint'),
    secretsManager: secrets.endpoint,
  };
  await mkdir(join(assemblyDir, HANDLER_ASSET));
  await writeFile(join(assemblyDir, HANDLER_ASSET, 'index.js'), 'export const handler = async () => ({});\n');
  const common = { region: REGION, credentials: LOCAL_CREDENTIALS };
  const clients = {
    s3: localS3Client(s3.endpoint),
    sqs: new SQSClient({ ...common, endpoint: sqs.endpoint, useQueueUrlAsEndpoint: false }),
    dynamodb: new DynamoDBClient({ ...common, endpoint: endpoints.dynamodb }),
    secrets: new SecretsManagerClient({ ...common, endpoint: secrets.endpoint }),
  };
  return {
    stackName,
    endpoints,
    dataDir,
    clients,
    provision: (template, options = {}) =>
      provisionStack({ stackName, assemblyDir, template: template as CfnTemplate }, endpoints, {
        secrets: localSecrets(secrets),
        dataDir,
        apiBaseUrl: API_BASE_URL,
        ...options,
      }),
    asset: async (name, files = {}) => {
      const directory = join(assemblyDir, name);
      await mkdir(directory, { recursive: true });
      await Promise.all(
        Object.entries(files).map(([file, content]) => writeFile(join(directory, file), content)),
      );
      return name;
    },
    close: async () => {
      for (const client of Object.values(clients)) client.destroy();
      await Promise.all([s3.close(), sqs.close(), secrets.close()]);
      await Promise.all([assemblyDir, dataDir].map((dir) => rm(dir, { recursive: true, force: true })));
    },
  };
};

/** `{ Ref: id }` */
export const ref = (logicalId: string) => ({ Ref: logicalId });
/** `{ 'Fn::GetAtt': [id, attribute] }` */
export const getAtt = (logicalId: string, attribute: string) => ({ 'Fn::GetAtt': [logicalId, attribute] });

/** A Node.js function resource with its code in `assetPath`, as CDK synthesizes one (with asset metadata). */
export const nodeFunction = (
  properties: Record<string, unknown> = {},
  assetPath = HANDLER_ASSET,
): CfnResource => ({
  Type: 'AWS::Lambda::Function',
  Properties: {
    Code: { S3Bucket: 'assets', S3Key: 'code.zip' },
    Handler: 'index.handler',
    Runtime: 'nodejs22.x',
    ...properties,
  },
  Metadata: { 'aws:asset:path': assetPath, 'aws:asset:property': 'Code' },
});
