import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { z } from 'zod';
import { dynamodb, s3, s3Presigner, sqs } from '#shared/aws-clients';
import { DEFAULT_CALLBACK_PORTS } from '#shared/callback-url';
import { envBoolean, envInt, envPortList, envString, loadConfig } from '#shared/config';
import { Dispatcher } from '#shared/dispatch';
import { DEFAULT_MAX_RETRIES, MAX_MAX_RETRIES } from '#shared/job';
import { JobStore } from '#shared/job-store';
import { withObservability } from '#shared/middleware';
import { countJob, JobMetric, logger } from '#shared/observability';
import { DEFAULT_UPLOAD_RETENTION_DAYS, MAX_RETENTION_DAYS } from '#shared/retention';
import { AUTH_MODES, TenantStore } from '#shared/tenants';
import { UnsupportedMediaTypeError } from './api-errors.ts';
import { type Caller, createCallerOf } from './caller.ts';
import { type CreateUploadDeps, createUpload } from './create-upload.ts';
import { asCreatedJob } from './created-job.ts';
import { type DeleteJobDeps, deleteJob } from './delete-job.ts';
import {
  assertDirectUploadFits,
  DEFAULT_DIRECT_UPLOAD_MAX_BYTES,
  type DirectUploadDeps,
  directUpload,
} from './direct-upload.ts';
import { httpErrors } from './http-errors.ts';
import { type JobViewDeps, viewJob } from './job-view.ts';
import { listJobs, parseListQuery } from './list-jobs.ts';
import { listPresets } from './list-presets.ts';
import { DEFAULT_MULTIPART_THRESHOLD_BYTES } from './multipart-plan.ts';
import {
  abortMultipartUpload,
  completeMultipartUpload,
  createMultipartUpload,
  listUploadedParts,
  type MultipartDeps,
  signUploadParts,
} from './multipart-upload.ts';
import { QuotaMeter } from './quotas.ts';
import {
  headerValue,
  readJsonBody,
  requestBodyBytes,
  requestBodySize,
  requestMediaType,
} from './request-body.ts';
import {
  parseCompleteUploadRequest,
  parseFileDescription,
  parseJobId,
  parsePartUrlsRequest,
} from './request-schemas.ts';
import { type HttpResponse, json } from './responses.ts';
import { type RetryJobDeps, retryJob } from './retry-job.ts';
import { createRouter, type PathParameters } from './routes.ts';
import { envUrlTtlSeconds } from './url-ttl.ts';

const config = loadConfig(
  z
    .object({
      JOBS_TABLE: envString(),
      UPLOADS_BUCKET: envString(),
      RESULTS_BUCKET: envString(),
      IMAGE_QUEUE_URL: envString(),
      VIDEO_QUEUE_URL: envString(),
      /** Ingest of a direct upload may announce a refused upload to the job's callback. */
      WEBHOOK_QUEUE_URL: envString(),
      MAX_ATTEMPTS: envInt(3, { min: 1, max: 100 }),
      /** Manual retries of a job whose failure was transient: runs after the first (retry-job.ts). */
      MAX_RETRIES: envInt(DEFAULT_MAX_RETRIES, { max: MAX_MAX_RETRIES }),
      ALLOW_LOOPBACK_CALLBACKS: envBoolean(false),
      /** Ports callback URLs may use; the webhook function enforces the same list when it delivers. */
      CALLBACK_PORTS: envPortList(DEFAULT_CALLBACK_PORTS),
      /** Presigned URLs die with the role session that signed them: at most 12 h (url-ttl.ts). */
      UPLOAD_URL_TTL_SECONDS: envUrlTtlSeconds(900),
      RESULT_URL_TTL_SECONDS: envUrlTtlSeconds(3600),
      /** See direct-upload.ts for why 4 MiB, and why it cannot go much higher. */
      DIRECT_UPLOAD_MAX_BYTES: envInt(DEFAULT_DIRECT_UPLOAD_MAX_BYTES, { min: 1, max: 4_718_592 }),
      /**
       * Files over this size are uploaded in parts (multipart-upload.ts). At most 5 GiB, the largest single
       * PUT S3 takes; at least 5 MiB, S3's smallest part.
       */
      MULTIPART_THRESHOLD_BYTES: envInt(DEFAULT_MULTIPART_THRESHOLD_BYTES, {
        min: 5 * 1024 * 1024,
        max: 5 * 1024 * 1024 * 1024,
      }),
      /** UploadPart URLs are signed a batch at a time as the upload goes, so they can be short-lived. */
      PART_URL_TTL_SECONDS: envUrlTtlSeconds(900),
      /** How callers are identified (caller.ts): the stack's `auth` setting. */
      AUTH_MODE: z.enum(AUTH_MODES).default('api-key'),
      /** jwt: the claim naming the tenant. */
      TENANT_CLAIM: envString().default('sub'),
      /** api-key with no gateway authorizer in front (LocalStack's function URL): check keys here. */
      AUTH_IN_FUNCTION: envBoolean(false),
      /** The tenants table, read (GetItem) only when AUTH_IN_FUNCTION. */
      TENANTS_TABLE: envString().optional(),
      /** New jobs and declared bytes per tenant per UTC day; 0 turns the quota off. */
      QUOTA_JOBS_PER_DAY: envInt(0),
      QUOTA_BYTES_PER_DAY: envInt(0),
      /**
       * Days the buckets' lifecycle rules keep originals and results (lib/storage.ts); 0: kept. Shown
       * in the presets' limits; a failed job's retry must start before its original can expire.
       */
      UPLOAD_RETENTION_DAYS: envInt(DEFAULT_UPLOAD_RETENTION_DAYS, { max: MAX_RETENTION_DAYS }),
      RESULT_RETENTION_DAYS: envInt(0, { max: MAX_RETENTION_DAYS }),
    })
    .superRefine((env, ctx) => {
      if (!env.AUTH_IN_FUNCTION) return;
      if (env.AUTH_MODE !== 'api-key') {
        ctx.addIssue({
          code: 'custom',
          path: ['AUTH_IN_FUNCTION'],
          message: 'the function checks API keys itself only with AUTH_MODE api-key',
        });
      }
      if (!env.TENANTS_TABLE) {
        ctx.addIssue({
          code: 'custom',
          path: ['TENANTS_TABLE'],
          message: 'required with AUTH_IN_FUNCTION: the table the keys are checked against',
        });
      }
    }),
);

/** The JSON create body describes a file; it never carries one. */
const MAX_JSON_BODY_BYTES = 16 * 1024;
/** A completion lists up to 10,000 parts with their ETags (about 70 bytes each). */
const MAX_COMPLETE_BODY_BYTES = 1024 * 1024;

const store = new JobStore(dynamodb, config.JOBS_TABLE);
const quotas = new QuotaMeter(dynamodb, config.JOBS_TABLE, {
  jobsPerDay: config.QUOTA_JOBS_PER_DAY,
  bytesPerDay: config.QUOTA_BYTES_PER_DAY,
});
const dispatcher = new Dispatcher(sqs, {
  image: config.IMAGE_QUEUE_URL,
  video: config.VIDEO_QUEUE_URL,
  webhook: config.WEBHOOK_QUEUE_URL,
});
const viewDeps: JobViewDeps = {
  store,
  presigner: s3Presigner,
  resultsBucket: config.RESULTS_BUCKET,
  resultUrlTtlSeconds: config.RESULT_URL_TTL_SECONDS,
  maxAttempts: config.MAX_ATTEMPTS,
  maxRetries: config.MAX_RETRIES,
  uploadRetentionDays: config.UPLOAD_RETENTION_DAYS,
};

const createUploadDeps: CreateUploadDeps = {
  store,
  presigner: s3Presigner,
  uploadsBucket: config.UPLOADS_BUCKET,
  uploadUrlTtlSeconds: config.UPLOAD_URL_TTL_SECONDS,
};
const directUploadDeps: DirectUploadDeps = {
  s3,
  store,
  dispatcher,
  uploadsBucket: config.UPLOADS_BUCKET,
  maxBytes: config.DIRECT_UPLOAD_MAX_BYTES,
  allowLoopbackCallbacks: config.ALLOW_LOOPBACK_CALLBACKS,
  allowedCallbackPorts: config.CALLBACK_PORTS,
  view: viewDeps,
  quotas,
};
const multipartDeps: MultipartDeps = {
  s3,
  presigner: s3Presigner,
  store,
  dispatcher,
  uploadsBucket: config.UPLOADS_BUCKET,
  partUrlTtlSeconds: config.PART_URL_TTL_SECONDS,
  view: viewDeps,
};
const retryDeps: RetryJobDeps = {
  store,
  dispatcher,
  maxRetries: config.MAX_RETRIES,
  uploadRetentionDays: config.UPLOAD_RETENTION_DAYS,
};
const deleteDeps: DeleteJobDeps = {
  store,
  s3,
  uploadsBucket: config.UPLOADS_BUCKET,
  resultsBucket: config.RESULTS_BUCKET,
};
const callerOf = createCallerOf({
  mode: config.AUTH_MODE,
  tenantClaim: config.TENANT_CLAIM,
  ...(config.AUTH_IN_FUNCTION && config.TENANTS_TABLE
    ? { tenants: new TenantStore(dynamodb, config.TENANTS_TABLE) }
    : {}),
});

const jobIdFrom = (parameters: PathParameters): string => {
  const id = parseJobId(parameters.id);
  logger.appendKeys({ job_id: id });
  return id;
};

const createMedia = async (event: APIGatewayProxyEventV2, { tenant }: Caller) => {
  const mediaType = requestMediaType(event);
  if (mediaType === 'multipart/form-data') {
    assertDirectUploadFits(requestBodySize(event), config.DIRECT_UPLOAD_MAX_BYTES);
    const { created, job } = await directUpload(directUploadDeps, tenant, {
      body: requestBodyBytes(event),
      contentType: headerValue(event, 'content-type') ?? '',
    });
    if (created) countJob(JobMetric.Created);
    return json(created ? 201 : 200, asCreatedJob(job));
  }
  if (mediaType !== 'application/json' && !mediaType?.endsWith('+json')) {
    throw new UnsupportedMediaTypeError(
      'Request::UnsupportedMediaType',
      `${mediaType ? `Content-Type ${mediaType} is not supported` : 'the request has no Content-Type'}; send application/json to announce a file, or multipart/form-data with the file itself`,
    );
  }
  const description = parseFileDescription(readJsonBody(event, MAX_JSON_BODY_BYTES), {
    allowLoopbackCallbacks: config.ALLOW_LOOPBACK_CALLBACKS,
    allowedCallbackPorts: config.CALLBACK_PORTS,
  });
  await quotas.charge(tenant, description.size);
  const created =
    description.size > config.MULTIPART_THRESHOLD_BYTES
      ? await createMultipartUpload(multipartDeps, tenant, description)
      : await createUpload(createUploadDeps, tenant, description);
  logger.appendKeys({ job_id: created.job_id });
  logger.info('upload created', {
    preset: description.preset,
    media_kind: description.media_kind,
    method: created.upload.method,
  });
  countJob(JobMetric.Created);
  return json(201, created);
};

/** 204: the job is gone; the body is empty, as HTTP has it for 204. */
const noContent = (): HttpResponse => ({
  statusCode: 204,
  headers: { 'cache-control': 'no-store' },
  body: '',
});

type CallerRoute = (
  event: APIGatewayProxyEventV2,
  parameters: PathParameters,
  caller: Caller,
) => Promise<HttpResponse>;

const route = createRouter<CallerRoute>({
  'POST /api/media': (event, _parameters, caller) => createMedia(event, caller),
  'GET /api/media': async (event, _parameters, { tenant }) =>
    json(200, await listJobs(viewDeps, tenant, parseListQuery(event.queryStringParameters ?? {}, tenant))),
  'GET /api/media/{id}': async (_event, parameters, { tenant }) =>
    json(200, await viewJob(viewDeps, tenant, jobIdFrom(parameters))),
  'DELETE /api/media/{id}': async (_event, parameters, { tenant }) => {
    await deleteJob(deleteDeps, tenant, jobIdFrom(parameters));
    return noContent();
  },
  'POST /api/media/{id}/retry': async (_event, parameters, { tenant }) => {
    const retried = await retryJob(retryDeps, tenant, jobIdFrom(parameters));
    countJob(JobMetric.Retried);
    logger.info('job re-queued', { run: retried.run });
    return json(202, retried);
  },
  'POST /api/media/{id}/upload/parts': async (event, parameters, { tenant }) => {
    const id = jobIdFrom(parameters);
    const request = parsePartUrlsRequest(readJsonBody(event, MAX_JSON_BODY_BYTES));
    return json(200, await signUploadParts(multipartDeps, tenant, id, request));
  },
  'GET /api/media/{id}/upload/parts': async (_event, parameters, { tenant }) =>
    json(200, await listUploadedParts(multipartDeps, tenant, jobIdFrom(parameters))),
  'POST /api/media/{id}/upload/complete': async (event, parameters, { tenant }) => {
    const id = jobIdFrom(parameters);
    const request = parseCompleteUploadRequest(readJsonBody(event, MAX_COMPLETE_BODY_BYTES));
    const job = await completeMultipartUpload(multipartDeps, tenant, id, request);
    logger.info('multipart upload completed', { parts: request.parts.length });
    return json(200, asCreatedJob(job));
  },
  'POST /api/media/{id}/upload/abort': async (_event, parameters, { tenant }) => {
    const aborted = await abortMultipartUpload(multipartDeps, tenant, jobIdFrom(parameters));
    countJob(JobMetric.Failed);
    logger.info('multipart upload aborted');
    return json(200, aborted);
  },
  'GET /api/presets': async () =>
    json(
      200,
      listPresets({
        directUploadMaxBytes: config.DIRECT_UPLOAD_MAX_BYTES,
        multipartThresholdBytes: config.MULTIPART_THRESHOLD_BYTES,
        quotaJobsPerDay: config.QUOTA_JOBS_PER_DAY,
        quotaBytesPerDay: config.QUOTA_BYTES_PER_DAY,
        uploadRetentionDays: config.UPLOAD_RETENTION_DAYS,
        resultRetentionDays: config.RESULT_RETENTION_DAYS,
        maxRetries: config.MAX_RETRIES,
      }),
    ),
});

/**
 * Finds the request's route in the table above, reads the caller (every /api route has one: API
 * Gateway's authorizer already refused requests without a valid key or token), and runs the route.
 */
const routeRequest = async (
  event: APIGatewayProxyEventV2,
  _context: Context,
): Promise<APIGatewayProxyStructuredResultV2> => {
  const { handler, parameters } = route(event);
  const caller = await callerOf(event);
  logger.appendKeys({ tenant: caller.tenant });
  return handler(event, parameters, caller);
};

export const handler = withObservability(routeRequest).use(httpErrors());
