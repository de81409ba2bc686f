import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '#lib/paths';

/**
 * docker-compose.localstack.yml as Compose reads it: `docker-compose config` validates and resolves it
 * without a Docker engine. Skipped only on a machine without docker-compose (or `docker compose`)
 * outside CI; CI installs Debian's docker-compose and must run it.
 */

const COMPOSE_FILE = join(PROJECT_ROOT, 'docker-compose.localstack.yml');

const composeCommand = (): string[] | undefined => {
  for (const command of [['docker-compose'], ['docker', 'compose']]) {
    const probe = spawnSync(command[0] as string, [...command.slice(1), 'version'], { encoding: 'utf8' });
    if (probe.status === 0) return command;
  }
  return undefined;
};

const compose = composeCommand();
const inCi = Boolean(process.env.CI);

const config = (...args: string[]) => {
  if (!compose) throw new Error('docker-compose is not installed (CI installs it: .ci/run)');
  const [command, ...prefix] = compose as [string, ...string[]];
  return spawnSync(command, [...prefix, '-f', COMPOSE_FILE, ...args, 'config'], {
    encoding: 'utf8',
    // No variables from this machine: the file's defaults are what is checked.
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
  });
};

/** The lines of one service's block in `config`'s normalised YAML (two-space indentation). */
const serviceBlock = (yaml: string, service: string): string => {
  const lines = yaml.split('\n');
  const servicesAt = lines.indexOf('services:');
  const start = lines.findIndex((line, index) => index > servicesAt && line === `  ${service}:`);
  if (start < 0) return '';
  const end = lines.findIndex((line, index) => index > start && /^ {0,2}\S/.test(line));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
};

describe.skipIf(!compose && !inCi)('docker-compose.localstack.yml', () => {
  it('validates, with LocalStack pinned, limited to the stack’s services, on the Docker socket, health-checked', () => {
    // Act
    const result = config();
    // Assess
    expect(result.status, result.stderr).toBe(0);
    const localstack = serviceBlock(result.stdout, 'localstack');
    expect(localstack).toMatch(/image: localstack\/localstack:\d+\.\d+\.\d+\n/);
    expect(localstack).not.toMatch(/:latest/);
    const services = /SERVICES: (\S+)/.exec(localstack)?.[1]?.split(',') ?? [];
    expect(services).toEqual(
      expect.arrayContaining(['s3', 'sqs', 'dynamodb', 'lambda', 'iam', 'sts', 'cloudformation', 'ssm']),
    );
    expect(services).toEqual(expect.arrayContaining(['secretsmanager', 'logs', 'cloudwatch']));
    // The reconciler's schedule (AWS::Events::Rule) needs EventBridge; no HTTP API, so no API Gateway.
    expect(services).toContain('events');
    expect(services.filter((service) => service.startsWith('apigateway'))).toEqual([]);
    // 4.14.0's community image unlocks nothing with a token (Pro was another image): none is passed.
    expect(localstack).not.toContain('LOCALSTACK_AUTH_TOKEN');
    // Kept for cdklocal bootstrap's ECR repository; the stack's variant needs no mock (its own test).
    expect(localstack).toMatch(/CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES: '?"?1/);
    expect(localstack).toContain('/var/run/docker.sock:/var/run/docker.sock');
    expect(localstack).toMatch(/healthcheck:[\s\S]*_localstack\/health/);
    expect(localstack).toMatch(
      /source: localstack-state\n\s+target: \/var\/lib\/localstack|localstack-state:\/var\/lib\/localstack/,
    );
    expect(localstack).toContain('LAMBDA_DOCKER_NETWORK: media-pipeline-localstack');
  });

  it('validates with the minio profile: MinIO pinned, console, credentials, health check, webhook target', () => {
    // Act
    const result = config('--profile', 'minio');
    // Assess
    expect(result.status, result.stderr).toBe(0);
    const minio = serviceBlock(result.stdout, 'minio');
    // minio/minio left Docker Hub in September 2026: the image comes from quay.io, pinned to a release.
    expect(minio).toMatch(/image: quay\.io\/minio\/minio:RELEASE\.\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z\n/);
    expect(minio).toMatch(/--console-address/);
    expect(minio).toMatch(/9001/);
    expect(minio).toContain('MINIO_ROOT_USER: mediapipeline');
    expect(minio).toMatch(/healthcheck:[\s\S]*mc/);
    expect(minio).toContain('MINIO_NOTIFY_WEBHOOK_ENABLE_MEDIAPIPELINE: "on"');
    expect(minio).toContain(
      'MINIO_NOTIFY_WEBHOOK_ENDPOINT_MEDIAPIPELINE: http://host.docker.internal:3000/_local/s3-events',
    );
    expect(minio).toContain('host.docker.internal:host-gateway');
    expect(minio).toMatch(/profiles:\s*\n\s+- minio/);
  });
});
