import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  CorsHttpMethod,
  HttpApi,
  HttpMethod,
  HttpStage,
  type IHttpRouteAuthorizer,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEFAULT_MAX_RETRIES } from '#shared/job';
import { MediaFunction } from './constructs/media-function.ts';
import type { Storage } from './storage.ts';

/**
 * The API's routes, each meant to serve its path with and without a trailing slash. A route path cannot
 * end in a slash (CDK refuses it: "A route path must always start with a '/' and not end with a '/'"),
 * and an HTTP API is reported to match `/api/media/` to the route `/api/media` (rawPath keeps the slash),
 * so one route key covers both spellings and the API function dispatches on `routeKey`. Not verified
 * against AWS from here: the e2e suite should request both spellings on a deployed stack.
 */
export const API_ROUTES: readonly { readonly method: HttpMethod; readonly path: string }[] = [
  { method: HttpMethod.POST, path: '/api/media' },
  { method: HttpMethod.GET, path: '/api/media' },
  { method: HttpMethod.GET, path: '/api/media/{id}' },
  { method: HttpMethod.DELETE, path: '/api/media/{id}' },
  { method: HttpMethod.POST, path: '/api/media/{id}/retry' },
  { method: HttpMethod.POST, path: '/api/media/{id}/upload/parts' },
  { method: HttpMethod.GET, path: '/api/media/{id}/upload/parts' },
  { method: HttpMethod.POST, path: '/api/media/{id}/upload/complete' },
  { method: HttpMethod.POST, path: '/api/media/{id}/upload/abort' },
  { method: HttpMethod.GET, path: '/api/presets' },
];

/**
 * Routes that hand every other request under `/api` to the API function, so that it answers an unknown
 * path 404 `Request::UnknownRoute` and a known path with another method 405 `Request::MethodNotAllowed`
 * (with `Allow`) in the API's error shape, where API Gateway would answer a bare `404 {"message":"Not
 * Found"}` itself. They carry the same authorizer as the API's routes: without a valid key or token the
 * gateway still answers 401 before the function runs. A declared route always wins over them (a method
 * and literal path over a greedy one).
 *
 * Deliberately not `$default` nor `ANY /api/{proxy+}`: either also matches OPTIONS, so a browser's CORS
 * preflight (which carries no Authorization header) would meet the authorizer and get a 401 instead of
 * the answer API Gateway gives an OPTIONS request that no route matches (corsPreflight). Listing the
 * methods leaves OPTIONS unrouted. Paths outside `/api` (the page's `/`, `/app.js`, …, and anything
 * else) stay API Gateway's: an unknown one gets its `404 {"message":"Not Found"}`.
 */
export const API_CATCH_ALL_ROUTES: readonly { readonly methods: HttpMethod[]; readonly path: string }[] = [
  '/api',
  '/api/{proxy+}',
].map((path) => ({
  path,
  methods: [
    HttpMethod.GET,
    HttpMethod.HEAD,
    HttpMethod.POST,
    HttpMethod.PUT,
    HttpMethod.PATCH,
    HttpMethod.DELETE,
  ],
}));

/** Stage-wide throttling: a ceiling against floods, far above what one user's browser does. */
export const API_THROTTLE = { burstLimit: 200, rateLimit: 100 } as const;

export interface UploadApiProps {
  readonly storage: Storage;
  readonly imageQueue: IQueue;
  readonly videoQueue: IQueue;
  /** Ingest of a direct upload, which runs in the API, may announce a refused upload to the job's callback. */
  readonly webhookQueue: IQueue;
  /** Origins allowed to call the API from a browser (CORS preflight). */
  readonly allowedOrigins: readonly string[];
  /** Processing attempts of one run of a job (shown in job views as `max_attempts`). */
  readonly maxAttempts: number;
  /**
   * Retries of a job whose failure was transient, each a new run with `maxAttempts` attempts (shown in
   * GET /api/presets/ as `max_retries`); 0: no retries.
   * @default 3
   */
  readonly maxRetries?: number;
  /** Let callback URLs point at loopback addresses (local runs only). */
  readonly allowLoopbackCallbacks: boolean;
  /** Ports callback URLs may use; other ports are refused with a 400. */
  readonly callbackPorts: readonly number[];
  /**
   * Files larger than this many bytes are uploaded in parts (S3 multipart) rather than with one PUT.
   * @default 104857600 (100 MiB)
   */
  readonly multipartThresholdBytes?: number;
  /**
   * New jobs a tenant may create per UTC day (429 with Retry-After beyond); 0 turns the quota off.
   * @default 1000
   */
  readonly quotaJobsPerDay?: number;
  /**
   * Bytes (declared sizes of new jobs) a tenant may upload per UTC day; 0 turns the quota off.
   * @default 53687091200 (50 GiB)
   */
  readonly quotaBytesPerDay?: number;
  /**
   * The authorizer of every API route (lib/api-auth.ts); CORS preflights are answered by API Gateway
   * before any authorizer runs.
   * @default - none: the routes are open (auth `none`)
   */
  readonly authorizer?: IHttpRouteAuthorizer;
  /**
   * Put the HTTP API (its routes, stage and access logs) in front of the function. Without it the
   * function is all there is, for a target that reaches it another way (LocalStack's function URL).
   * @default true
   */
  readonly withHttpApi?: boolean;
  /**
   * Concurrency reserved for the API function, so that a burst of processing can never take the
   * account's concurrency from the API. A reservation is taken from the account's unreserved pool
   * (1000 by default) for this function alone, and Lambda refuses one that would leave that pool under
   * its minimum (100, or less on new accounts whose whole limit is 10): 0 or undefined reserves nothing.
   * It is also the API's ceiling: requests beyond it are throttled (API Gateway answers 503).
   * @default - no reservation (the stack passes its own default, DEFAULT_API_RESERVED_CONCURRENCY)
   */
  readonly reservedConcurrency?: number;
}

/** Quotas per tenant per UTC day when the props leave them out. */
export const DEFAULT_QUOTAS = { jobsPerDay: 1000, bytesPerDay: 50 * 1024 ** 3 } as const;

/**
 * Concurrency the stack reserves for the API function: at about 100 ms per call, 20 environments
 * answer some 200 requests a second, the stage's own rate limit (API_THROTTLE: 100 a second, bursts of
 * 200), while leaving 980 of a default account's 1000 to everything else.
 */
export const DEFAULT_API_RESERVED_CONCURRENCY = 20;

/**
 * The HTTP API: create an upload (presigned PUT, multipart for large files, or a direct upload of a
 * small file), sign, list, complete or abort a multipart upload's parts, read a job with
 * presigned links to its outputs, retry a failed job, list the presets. One function serves every
 * route (payload format 2.0).
 */
export class UploadApi extends Construct {
  readonly apiFunction: MediaFunction;
  /** Undefined without `withHttpApi`. */
  readonly httpApi: HttpApi | undefined;
  readonly stage: HttpStage | undefined;

  constructor(scope: Construct, id: string, props: UploadApiProps) {
    super(scope, id);
    const { storage } = props;

    this.apiFunction = new MediaFunction(this, 'ApiFunction', {
      source: 'api',
      serviceName: 'media-api',
      description: 'HTTP API of the media pipeline',
      memorySize: 512,
      timeout: Duration.seconds(10),
      // 0 would stop the function altogether: here it means no reservation.
      ...(props.reservedConcurrency ? { reservedConcurrentExecutions: props.reservedConcurrency } : {}),
      environment: {
        JOBS_TABLE: storage.jobsTable.tableName,
        UPLOADS_BUCKET: storage.uploadsBucket.bucketName,
        RESULTS_BUCKET: storage.resultsBucket.bucketName,
        IMAGE_QUEUE_URL: props.imageQueue.queueUrl,
        VIDEO_QUEUE_URL: props.videoQueue.queueUrl,
        WEBHOOK_QUEUE_URL: props.webhookQueue.queueUrl,
        MAX_ATTEMPTS: String(props.maxAttempts),
        MAX_RETRIES: String(props.maxRetries ?? DEFAULT_MAX_RETRIES),
        ALLOW_LOOPBACK_CALLBACKS: String(props.allowLoopbackCallbacks),
        CALLBACK_PORTS: props.callbackPorts.join(','),
        MULTIPART_THRESHOLD_BYTES: String(props.multipartThresholdBytes ?? 100 * 1024 * 1024),
        QUOTA_JOBS_PER_DAY: String(props.quotaJobsPerDay ?? DEFAULT_QUOTAS.jobsPerDay),
        QUOTA_BYTES_PER_DAY: String(props.quotaBytesPerDay ?? DEFAULT_QUOTAS.bytesPerDay),
        // What the buckets' lifecycle rules keep (0: kept): shown in the presets' limits, and the
        // retry route's deadline.
        UPLOAD_RETENTION_DAYS: String(storage.uploadRetentionDays),
        RESULT_RETENTION_DAYS: String(storage.resultRetentionDays ?? 0),
      },
    });
    storage.grantJobsReadWrite(this.apiFunction);
    storage.grantPutUploads(this.apiFunction);
    storage.grantManageMultipartUploads(this.apiFunction);
    // A direct upload (a small file in a multipart form) is stored and ingested right away, by the same
    // code as the ingest function: it reads the object back and may queue a job or a refusal webhook.
    storage.grantReadUploads(this.apiFunction);
    storage.grantReadResults(this.apiFunction);
    // The list route queries the tenant-jobs index; DELETE removes a job's upload and results.
    storage.grantQueryTenantJobs(this.apiFunction);
    storage.grantDeleteJobObjects(this.apiFunction);
    for (const queue of [props.imageQueue, props.videoQueue, props.webhookQueue]) {
      queue.grantSendMessages(this.apiFunction);
    }

    if (props.withHttpApi === false) {
      this.httpApi = undefined;
      this.stage = undefined;
      return;
    }
    const httpApi = new HttpApi(this, 'HttpApi', {
      description: 'Media pipeline API',
      // The stage is made below, with throttling and access logs.
      createDefaultStage: false,
      corsPreflight: {
        allowOrigins: [...props.allowedOrigins],
        allowMethods: [
          CorsHttpMethod.GET,
          CorsHttpMethod.POST,
          CorsHttpMethod.DELETE,
          CorsHttpMethod.OPTIONS,
        ],
        // `*` does not cover Authorization (the Fetch standard excludes it from the wildcard): it is named.
        allowHeaders: ['*', 'authorization'],
        maxAge: Duration.hours(1),
      },
    });
    const integration = new HttpLambdaIntegration('ApiIntegration', this.apiFunction);
    for (const route of API_ROUTES) {
      httpApi.addRoutes({
        path: route.path,
        methods: [route.method],
        integration,
        authorizer: props.authorizer,
      });
    }
    for (const route of API_CATCH_ALL_ROUTES) {
      httpApi.addRoutes({ ...route, integration, authorizer: props.authorizer });
    }

    const accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.httpApi = httpApi;
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: { ...API_THROTTLE },
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            requestTime: '$context.requestTime',
            method: '$context.httpMethod',
            path: '$context.path',
            routeKey: '$context.routeKey',
            status: '$context.status',
            responseLength: '$context.responseLength',
            latencyMs: '$context.responseLatency',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });
  }

  /** The HTTP API's base URL; undefined without it. */
  get url(): string | undefined {
    return this.stage?.url;
  }
}
