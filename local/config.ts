import { z } from 'zod';
import { AUTH_MODES, type AuthMode } from '#shared/tenants';
import { DEFAULT_WEBHOOK_ARN, type ExternalS3Options } from './external-s3.ts';
import { FaultConfigError, type FaultSpec, parseFaults } from './faults.ts';
import { LOCAL_REGION } from './types.ts';

const port = z.coerce.number().int().min(0).max(65_535);
const functionEnvSchema = z.record(z.string().min(1), z.record(z.string().min(1), z.string()));
const nonEmpty = z.string().min(1);
const quota = z.coerce.number().int().min(0);

/** What TenantStore accepts as a chosen key (a bearer token). */
const API_KEY = /^[A-Za-z0-9._~+/=-]{16,512}$/;

/**
 * `npm start`'s settings, from the environment. Without S3_ENDPOINT the runtime embeds s3rver; with
 * it (and its keys) it uses that S3 server, MinIO for instance (README: "MinIO").
 */
const schema = z
  .object({
    PORT: port.default(3000),
    /** The API's listening address (for MinIO in Docker on Linux: the Docker bridge's, e.g. 172.17.0.1). */
    HOST: nonEmpty.optional(),
    /** Presigned URLs carry the S3 port: a fixed one keeps them valid across restarts. */
    S3_PORT: port.optional(),
    WEBHOOK_SECRET: nonEmpty.optional(),
    MEDIA_PIPELINE_DATA_DIR: nonEmpty.default('.local'),
    /** An external S3 endpoint as the runtime and the functions reach it (MinIO: http://127.0.0.1:9000). */
    S3_ENDPOINT: z.url().optional(),
    S3_ACCESS_KEY_ID: nonEmpty.optional(),
    S3_SECRET_ACCESS_KEY: nonEmpty.optional(),
    /** The region the S3 server expects (MinIO: MINIO_SITE_REGION; accepts any when unset). */
    S3_REGION: nonEmpty.default(LOCAL_REGION),
    /** The ARN of the server's webhook notification target that posts events to the runtime. */
    S3_WEBHOOK_ARN: nonEmpty.default(DEFAULT_WEBHOOK_ARN),
    /** The token the server's webhook target sends (MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_<ID>). */
    S3_WEBHOOK_AUTH_TOKEN: nonEmpty.optional(),
    /** Multiplies Lambda's asynchronous retry delays (1 and 2 minutes) and event age cut-off. */
    MEDIA_PIPELINE_ASYNC_RETRY_SCALE: z.coerce.number().positive().finite().default(1),
    /** Multiplies the template's schedule periods (the reconciler's five minutes). */
    MEDIA_PIPELINE_SCHEDULE_SCALE: z.coerce.number().positive().finite().default(1),
    /** Faults to inject, a JSON array (local/faults.ts, README: "Fault injection"). */
    MEDIA_PIPELINE_FAULTS: z.string().optional(),
    /**
     * How the API knows its callers (CDK context `auth`): api-key (the default: `Authorization: Bearer
     * <key>`, checked by the stack's Lambda authorizer), jwt (an OIDC issuer's tokens, checked by the
     * JWT authorizer the runtime emulates) or none (every caller is tenant `default`; a warning at start).
     */
    MEDIA_PIPELINE_AUTH: z.enum(AUTH_MODES).optional(),
    /**
     * The local dev key of tenant `default` (any bearer token of 16 to 512 characters). Without it a key
     * is generated once and kept in `<data dir>/api-key`; either is registered at every start.
     */
    MEDIA_PIPELINE_API_KEY: z
      .string()
      .regex(API_KEY, 'an API key is 16 to 512 characters of letters, digits and . _ ~ + / = -')
      .optional(),
    /** With MEDIA_PIPELINE_AUTH=jwt: the issuer (its tokens' `iss`; CDK context `jwtIssuer`). */
    MEDIA_PIPELINE_JWT_ISSUER: z.url().optional(),
    /** With MEDIA_PIPELINE_AUTH=jwt: the accepted audiences, comma-separated (context `jwtAudience`). */
    MEDIA_PIPELINE_JWT_AUDIENCE: z
      .string()
      .optional()
      .transform((text) =>
        text
          ?.split(',')
          .map((audience) => audience.trim())
          .filter(Boolean),
      ),
    /** With MEDIA_PIPELINE_AUTH=jwt: the claim naming the tenant (context `jwtTenantClaim`; the stack's default `sub`). */
    MEDIA_PIPELINE_JWT_TENANT_CLAIM: nonEmpty.optional(),
    /** Jobs per tenant per UTC day (context `quotaJobsPerDay`); 0 or unset: no quota locally. */
    MEDIA_PIPELINE_QUOTA_JOBS_PER_DAY: quota.optional(),
    /** Declared bytes per tenant per UTC day (context `quotaBytesPerDay`); 0 or unset: no quota locally. */
    MEDIA_PIPELINE_QUOTA_BYTES_PER_DAY: quota.optional(),
    /** Environment values over the template's, by function: `{"Reconciler": {"UPLOAD_DEADLINE_SECONDS": "5"}}`. */
    MEDIA_PIPELINE_FUNCTION_ENV: z
      .string()
      .optional()
      .transform((text, context) => {
        if (text === undefined || text.trim() === '') return {};
        try {
          return functionEnvSchema.parse(JSON.parse(text));
        } catch {
          context.addIssue({
            code: 'custom',
            message:
              'a JSON object of function name → {VARIABLE: "value"}, e.g. {"Reconciler": {"UPLOAD_DEADLINE_SECONDS": "5"}}',
          });
          return z.NEVER;
        }
      }),
  })
  .superRefine((env, context) => {
    if (env.MEDIA_PIPELINE_AUTH === 'jwt') {
      if (env.MEDIA_PIPELINE_JWT_ISSUER === undefined) {
        context.addIssue({
          code: 'custom',
          path: ['MEDIA_PIPELINE_JWT_ISSUER'],
          message: "required with MEDIA_PIPELINE_AUTH=jwt (the issuer's URL, as its tokens' iss says)",
        });
      }
      if ((env.MEDIA_PIPELINE_JWT_AUDIENCE ?? []).length === 0) {
        context.addIssue({
          code: 'custom',
          path: ['MEDIA_PIPELINE_JWT_AUDIENCE'],
          message:
            "required with MEDIA_PIPELINE_AUTH=jwt (the accepted audiences, comma-separated: the tokens' aud or client_id)",
        });
      }
    }
    if (env.S3_ENDPOINT === undefined) return;
    for (const name of ['S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'] as const) {
      if (env[name] === undefined) {
        context.addIssue({
          code: 'custom',
          path: [name],
          message: `required with S3_ENDPOINT (the S3 server's ${name === 'S3_ACCESS_KEY_ID' ? 'access key' : 'secret key'})`,
        });
      }
    }
  });

export interface LocalSettings {
  port: number;
  host: string | undefined;
  s3Port: number | undefined;
  webhookSecret: string | undefined;
  dataDir: string;
  /** Lambda's asynchronous retry delays are multiplied by this (1: 1 and 2 minutes; 1/60: 1 and 2 seconds). */
  asyncRetryScale: number;
  scheduleScale: number;
  faults: FaultSpec[];
  functionEnvironment: Record<string, Record<string, string>>;
  /** Set when S3_ENDPOINT is: the S3 server to use instead of the embedded one. */
  externalS3: ExternalS3Options | undefined;
  /** MEDIA_PIPELINE_AUTH, undefined when unset (the stack's default, api-key, applies). */
  auth: AuthMode | undefined;
  /** MEDIA_PIPELINE_API_KEY: the dev key of tenant `default`, instead of the generated one. */
  apiKey: string | undefined;
  /** CDK context from the settings above (auth, JWT, quotas), over cdk.json's and the local defaults. */
  context: Record<string, unknown>;
}

export class LocalConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LocalConfigError';
  }
}

/** Reads the runtime's settings; a wrong or incomplete one stops it with every problem listed. */
export const localSettingsFromEnvironment = (env: NodeJS.ProcessEnv = process.env): LocalSettings => {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    throw new LocalConfigError(
      `invalid settings: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`,
    );
  }
  const settings = parsed.data;
  const context: Record<string, unknown> = {
    ...(settings.MEDIA_PIPELINE_AUTH ? { auth: settings.MEDIA_PIPELINE_AUTH } : {}),
    ...(settings.MEDIA_PIPELINE_JWT_ISSUER ? { jwtIssuer: settings.MEDIA_PIPELINE_JWT_ISSUER } : {}),
    ...(settings.MEDIA_PIPELINE_JWT_AUDIENCE?.length
      ? { jwtAudience: settings.MEDIA_PIPELINE_JWT_AUDIENCE }
      : {}),
    ...(settings.MEDIA_PIPELINE_JWT_TENANT_CLAIM
      ? { jwtTenantClaim: settings.MEDIA_PIPELINE_JWT_TENANT_CLAIM }
      : {}),
    ...(settings.MEDIA_PIPELINE_QUOTA_JOBS_PER_DAY !== undefined
      ? { quotaJobsPerDay: settings.MEDIA_PIPELINE_QUOTA_JOBS_PER_DAY }
      : {}),
    ...(settings.MEDIA_PIPELINE_QUOTA_BYTES_PER_DAY !== undefined
      ? { quotaBytesPerDay: settings.MEDIA_PIPELINE_QUOTA_BYTES_PER_DAY }
      : {}),
  };
  return {
    auth: settings.MEDIA_PIPELINE_AUTH,
    apiKey: settings.MEDIA_PIPELINE_API_KEY,
    context,
    port: settings.PORT,
    host: settings.HOST,
    s3Port: settings.S3_PORT,
    webhookSecret: settings.WEBHOOK_SECRET,
    dataDir: settings.MEDIA_PIPELINE_DATA_DIR,
    asyncRetryScale: settings.MEDIA_PIPELINE_ASYNC_RETRY_SCALE,
    scheduleScale: settings.MEDIA_PIPELINE_SCHEDULE_SCALE,
    faults: parseFaultsSetting(settings.MEDIA_PIPELINE_FAULTS),
    functionEnvironment: settings.MEDIA_PIPELINE_FUNCTION_ENV,
    externalS3:
      settings.S3_ENDPOINT && settings.S3_ACCESS_KEY_ID && settings.S3_SECRET_ACCESS_KEY
        ? {
            endpoint: settings.S3_ENDPOINT.replace(/\/$/, ''),
            accessKeyId: settings.S3_ACCESS_KEY_ID,
            secretAccessKey: settings.S3_SECRET_ACCESS_KEY,
            region: settings.S3_REGION,
            webhookArn: settings.S3_WEBHOOK_ARN,
            ...(settings.S3_WEBHOOK_AUTH_TOKEN ? { webhookAuthToken: settings.S3_WEBHOOK_AUTH_TOKEN } : {}),
          }
        : undefined,
  };
};

const parseFaultsSetting = (text: string | undefined): FaultSpec[] => {
  try {
    return parseFaults(text);
  } catch (error) {
    if (error instanceof FaultConfigError) throw new LocalConfigError(`invalid settings: ${error.message}`);
    throw error;
  }
};
