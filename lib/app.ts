import { type App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Node } from 'constructs';
import { DEPLOYMENT_TARGETS, isDeploymentTarget } from './deployment-target.ts';
import { MediaPipelineStack, type MediaPipelineStackProps } from './media-pipeline-stack.ts';
import { MAX_WEBHOOK_ATTEMPTS } from './retry-budgets.ts';

export const STACK_ID = 'MediaPipeline';

/**
 * Reads the stack's settings from CDK context (cdk.json, or `-c key=value` on the command line, where
 * every value arrives as a string). Anything absent takes the stack's default; anything malformed
 * stops the synth with a message saying what to fix.
 */
export const settingsFromContext = (node: Node): Partial<MediaPipelineStackProps> => {
  const settings: {
    -readonly [K in keyof MediaPipelineStackProps]?: MediaPipelineStackProps[K];
  } = {};
  const origins = node.tryGetContext('allowedOrigins');
  if (origins !== undefined) settings.allowedOrigins = parseOrigins(origins);
  const maxAttempts = node.tryGetContext('maxAttempts');
  if (maxAttempts !== undefined) settings.maxAttempts = parseCount('maxAttempts', maxAttempts, 20);
  const webhookMaxAttempts = node.tryGetContext('webhookMaxAttempts');
  if (webhookMaxAttempts !== undefined) {
    settings.webhookMaxAttempts = parseCount('webhookMaxAttempts', webhookMaxAttempts, MAX_WEBHOOK_ATTEMPTS);
  }
  const loopback = node.tryGetContext('allowLoopbackCallbacks');
  if (loopback !== undefined)
    settings.allowLoopbackCallbacks = parseBoolean('allowLoopbackCallbacks', loopback);
  const callbackPorts = node.tryGetContext('callbackPorts');
  if (callbackPorts !== undefined) settings.callbackPorts = parsePorts('callbackPorts', callbackPorts);
  const retainData = node.tryGetContext('retainData');
  if (retainData !== undefined) settings.retainData = parseBoolean('retainData', retainData);
  const target = node.tryGetContext('target');
  if (target !== undefined) {
    if (!isDeploymentTarget(target)) {
      throw new Error(
        `context target must be one of ${DEPLOYMENT_TARGETS.join(', ')}, not ${JSON.stringify(target)}`,
      );
    }
    settings.target = target;
  }
  const publicEndpoint = node.tryGetContext('localstackPublicEndpoint');
  if (publicEndpoint !== undefined) {
    if (typeof publicEndpoint !== 'string' || !/^https?:\/\/[^/\s]+$/.test(publicEndpoint)) {
      throw new Error(
        `context localstackPublicEndpoint must be an endpoint like https://localhost.localstack.cloud:4566 (no path), not ${JSON.stringify(publicEndpoint)}`,
      );
    }
    settings.localstackPublicEndpoint = publicEndpoint;
  }
  const multipartThreshold = node.tryGetContext('multipartThresholdBytes');
  if (multipartThreshold !== undefined) {
    settings.multipartThresholdBytes = parseCount(
      'multipartThresholdBytes',
      multipartThreshold,
      MAX_SINGLE_PUT_BYTES,
      MIN_PART_BYTES,
    );
  }
  return settings;
};

/** A list in cdk.json; on the command line a JSON list or comma-separated origins. */
const parseOrigins = (value: unknown): string[] => {
  const list =
    typeof value === 'string'
      ? value.trim().startsWith('[')
        ? (JSON.parse(value) as unknown)
        : value.split(',').map((origin) => origin.trim())
      : value;
  if (!Array.isArray(list) || list.length === 0 || !list.every((o) => typeof o === 'string' && o !== '')) {
    throw new Error(
      `context allowedOrigins must be a non-empty list of origins, not ${JSON.stringify(value)}`,
    );
  }
  for (const origin of list as string[]) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new Error(
        `context allowedOrigins: ${origin} is not an origin like https://app.example.com (no path)`,
      );
    }
  }
  return list as string[];
};

/** A list of TCP ports in cdk.json; on the command line a JSON list or comma-separated ports. */
const parsePorts = (name: string, value: unknown): number[] => {
  const list =
    typeof value === 'string'
      ? value.trim().startsWith('[')
        ? (JSON.parse(value) as unknown)
        : value.split(',').map((port) => (/^\s*\d+\s*$/.test(port) ? Number(port) : port.trim()))
      : value;
  const isPort = (port: unknown) =>
    Number.isInteger(port) && (port as number) >= 1 && (port as number) <= 65_535;
  if (!Array.isArray(list) || list.length === 0 || !list.every(isPort)) {
    throw new Error(
      `context ${name} must be a non-empty list of TCP ports from 1 to 65535, such as [80, 443], not ${JSON.stringify(value)}`,
    );
  }
  return [...new Set(list as number[])];
};

/** S3's smallest multipart part and largest single PUT: the bounds of the multipart threshold. */
const MIN_PART_BYTES = 5 * 1024 * 1024;
const MAX_SINGLE_PUT_BYTES = 5 * 1024 * 1024 * 1024;

const parseCount = (name: string, value: unknown, max: number, min = 1): number => {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < min || number > max) {
    throw new Error(`context ${name} must be an integer from ${min} to ${max}, not ${JSON.stringify(value)}`);
  }
  return number;
};

const parseBoolean = (name: string, value: unknown): boolean => {
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new Error(`context ${name} must be true or false, not ${JSON.stringify(value)}`);
};

/**
 * Defines the app: the stack with the settings from context, and cdk-nag's AWS Solutions checks,
 * which fail the synth on any finding that is not acknowledged where it arises. The CDK app
 * (bin/media-pipeline.ts) and the infrastructure tests both go through here, so the tests check what
 * gets deployed.
 */
export const defineMediaPipeline = (app: App, props: MediaPipelineStackProps = {}): MediaPipelineStack => {
  const stack = new MediaPipelineStack(app, STACK_ID, {
    description: 'Serverless media pipeline: uploads, ingest, image and video processing, webhooks',
    ...settingsFromContext(app.node),
    ...props,
  });
  Tags.of(stack).add('project', 'media-pipeline');
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return stack;
};
