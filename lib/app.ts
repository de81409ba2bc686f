import { type App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Node } from 'constructs';
import { MAX_MAX_RETRIES } from '#shared/job';
import { MAX_RETENTION_DAYS, MIN_UPLOAD_RETENTION_DAYS } from '#shared/retention';
import { AUTH_MODES, isAuthMode } from '#shared/tenants';
import { isAlarmEmail } from './alerts.ts';
import { OPEN_API_WARNING } from './api-auth.ts';
import { isLambdaArchitecture, LAMBDA_ARCHITECTURES } from './architecture.ts';
import { DEPLOYMENT_TARGETS, isDeploymentTarget } from './deployment-target.ts';
import { MediaPipelineStack, type MediaPipelineStackProps } from './media-pipeline-stack.ts';
import { MAX_WEBHOOK_ATTEMPTS } from './retry-budgets.ts';
import { UPLOAD_RETENTION_FLOOR_REASON } from './storage.ts';

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
  const maxRetries = node.tryGetContext('maxRetries');
  if (maxRetries !== undefined)
    settings.maxRetries = parseCount('maxRetries', maxRetries, MAX_MAX_RETRIES, 0);
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
  const architecture = node.tryGetContext('architecture');
  if (architecture !== undefined) {
    if (!isLambdaArchitecture(architecture)) {
      throw new Error(
        `context architecture must be one of ${LAMBDA_ARCHITECTURES.join(', ')} (Lambda's names), not ${JSON.stringify(architecture)}`,
      );
    }
    settings.architecture = architecture;
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
  const auth = node.tryGetContext('auth');
  if (auth !== undefined) {
    if (!isAuthMode(auth)) {
      throw new Error(
        `context auth must be one of ${AUTH_MODES.join(', ')} (api-key: API keys checked by a Lambda authorizer; jwt: an OIDC issuer's tokens; none: no authorization, local experiments only), not ${JSON.stringify(auth)}`,
      );
    }
    settings.auth = auth;
  }
  const jwtIssuer = node.tryGetContext('jwtIssuer');
  if (jwtIssuer !== undefined) {
    settings.jwtIssuer = parseIssuer(jwtIssuer, settings.allowLoopbackCallbacks === true);
  }
  const jwtAudience = node.tryGetContext('jwtAudience');
  if (jwtAudience !== undefined) settings.jwtAudience = parseAudience(jwtAudience);
  const jwtTenantClaim = node.tryGetContext('jwtTenantClaim');
  if (jwtTenantClaim !== undefined) {
    if (typeof jwtTenantClaim !== 'string' || !/^[A-Za-z0-9_:./-]{1,128}$/.test(jwtTenantClaim)) {
      throw new Error(
        `context jwtTenantClaim must be the name of a JWT claim, such as sub or custom:tenant, not ${JSON.stringify(jwtTenantClaim)}`,
      );
    }
    settings.jwtTenantClaim = jwtTenantClaim;
  }
  if (settings.auth === 'jwt' && (settings.jwtIssuer === undefined || settings.jwtAudience === undefined)) {
    throw new Error(
      'context auth jwt needs jwtIssuer (the issuer’s https URL) and jwtAudience (the accepted audiences): -c auth=jwt -c jwtIssuer=https://issuer.example.com -c jwtAudience=my-app',
    );
  }
  const uploadRetentionDays = node.tryGetContext('uploadRetentionDays');
  if (uploadRetentionDays !== undefined) {
    settings.uploadRetentionDays = parseDays(
      'uploadRetentionDays',
      uploadRetentionDays,
      MIN_UPLOAD_RETENTION_DAYS,
    );
  }
  const resultRetentionDays = node.tryGetContext('resultRetentionDays');
  if (resultRetentionDays !== undefined && resultRetentionDays !== null && resultRetentionDays !== 'keep') {
    settings.resultRetentionDays = parseDays('resultRetentionDays', resultRetentionDays, 1);
  }
  for (const name of ['quotaJobsPerDay', 'quotaBytesPerDay'] as const) {
    const quota = node.tryGetContext(name);
    if (quota !== undefined) settings[name] = parseQuota(name, quota);
  }
  // ScalingConfig.MaximumConcurrency of the queue mappings: Lambda takes 2 to 1000.
  for (const name of [
    'imageMaxConcurrency',
    'videoMaxConcurrency',
    'webhookMaxConcurrency',
    'deadLetterMaxConcurrency',
  ] as const) {
    const value = node.tryGetContext(name);
    if (value !== undefined) settings[name] = parseCount(name, value, 1000, 2);
  }
  const apiReserved = node.tryGetContext('apiReservedConcurrency');
  if (apiReserved !== undefined) {
    // 0 reserves nothing (the only choice on accounts whose concurrency limit is 10).
    settings.apiReservedConcurrency = parseCount('apiReservedConcurrency', apiReserved, 10_000, 0);
  }
  const alarmEmail = node.tryGetContext('alarmEmail');
  if (alarmEmail !== undefined) {
    if (!isAlarmEmail(alarmEmail)) {
      throw new Error(
        `context alarmEmail must be one email address, such as ops@example.com, that the alarm topic sends to, not ${JSON.stringify(alarmEmail)}`,
      );
    }
    settings.alarmEmail = alarmEmail;
  }
  const tracing = node.tryGetContext('tracing');
  if (tracing !== undefined) settings.tracing = parseBoolean('tracing', tracing);
  return settings;
};

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * The JWT issuer: an https URL (API Gateway fetches its discovery document from there). A local run
 * (allowLoopbackCallbacks, which only the local runtime sets) also takes an http issuer on this machine,
 * such as the test suite's: API Gateway could never reach one.
 */
const parseIssuer = (value: unknown, localRun: boolean): string => {
  const url = typeof value === 'string' && URL.canParse(value) ? new URL(value) : undefined;
  const localIssuer = localRun && url?.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname);
  if ((url?.protocol !== 'https:' && !localIssuer) || url?.search !== '' || url.hash !== '') {
    throw new Error(
      `context jwtIssuer must be the issuer's https URL, as its tokens' iss claim says (https://cognito-idp.<region>.amazonaws.com/<pool id>, https://<tenant>.auth0.com/), not ${JSON.stringify(value)}`,
    );
  }
  return value as string;
};

/** A list in cdk.json; on the command line a JSON list or comma-separated audiences. */
const parseAudience = (value: unknown): string[] => {
  let list: unknown = value;
  if (typeof value === 'string') {
    try {
      list = value.trim().startsWith('[') ? JSON.parse(value) : value.split(',').map((a) => a.trim());
    } catch {
      list = undefined;
    }
  }
  if (!Array.isArray(list) || list.length === 0 || !list.every((a) => typeof a === 'string' && a !== '')) {
    throw new Error(
      `context jwtAudience must be a non-empty list of audiences (the tokens' aud or client_id), not ${JSON.stringify(value)}`,
    );
  }
  return list as string[];
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

/** A retention in whole days, from `min` to MAX_RETENTION_DAYS (lib/storage.ts checks props the same way). */
const parseDays = (name: string, value: unknown, min: number): number => {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (
    typeof number !== 'number' ||
    !Number.isInteger(number) ||
    number < min ||
    number > MAX_RETENTION_DAYS
  ) {
    throw new Error(
      `context ${name} must be a whole number of days from ${min} to ${MAX_RETENTION_DAYS}, not ${JSON.stringify(value)}${name === 'uploadRetentionDays' ? UPLOAD_RETENTION_FLOOR_REASON : ''}`,
    );
  }
  return number;
};

/** A per-tenant daily quota: an integer from 0, where 0 turns it off. */
const parseQuota = (name: string, value: unknown): number => {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < 0) {
    throw new Error(
      `context ${name} must be an integer of 0 or more (0 turns the quota off), not ${JSON.stringify(value)}`,
    );
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
  // Besides the annotation (which `cdk synth` lists among others), one line nobody can miss.
  if (stack.apiAuth.mode === 'none') console.warn(`WARNING: ${OPEN_API_WARNING}`);
  return stack;
};
