import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { z } from 'zod';
import { envBoolean, envString, loadConfig } from '#shared/config';
import { bucketOrigins, contentSecurityPolicy, type S3Addressing } from './content-security-policy.ts';
import { isPagePath, loadPageFiles, type PageResponse, securityHeaders, servePage } from './serve-page.ts';

/**
 * Serves the upload page (web/) at the API's root: its files are read once at cold start and every
 * request is answered from memory. No Powertools here on purpose: a page view has nothing worth a log
 * line or a metric, and without them the bundle holds only this folder and zod (about 450 KB).
 */
const config = loadConfig(
  z.object({
    /** The function's asset: the bundle and the page's files next to it (lib/web-page.ts puts them there). */
    LAMBDA_TASK_ROOT: envString(),
    AWS_REGION: envString(),
    UPLOADS_BUCKET: envString(),
    RESULTS_BUCKET: envString(),
    // The S3 settings the API's presigner goes by (functions/shared/aws-clients.ts), for the bucket origins.
    S3_PUBLIC_ENDPOINT: z.url().optional(),
    AWS_ENDPOINT_URL_S3: z.url().optional(),
    AWS_ENDPOINT_URL: z.url().optional(),
    S3_FORCE_PATH_STYLE: envBoolean(false),
  }),
);

const files = loadPageFiles(config.LAMBDA_TASK_ROOT);

const addressing: S3Addressing = {
  region: config.AWS_REGION,
  endpoint: config.S3_PUBLIC_ENDPOINT ?? config.AWS_ENDPOINT_URL_S3 ?? config.AWS_ENDPOINT_URL,
  forcePathStyle: config.S3_FORCE_PATH_STYLE,
};
const policy = contentSecurityPolicy({
  connect: bucketOrigins(config.UPLOADS_BUCKET, addressing),
  images: bucketOrigins(config.RESULTS_BUCKET, addressing),
});

const header = (event: APIGatewayProxyEventV2, name: string): string | undefined => event.headers?.[name];

export const handler = async (event: APIGatewayProxyEventV2): Promise<PageResponse> => {
  // Route keys are `GET /`, `GET /app.js`, …: the path is what the stack declared.
  const path = event.routeKey.slice(event.routeKey.indexOf(' ') + 1);
  if (!isPagePath(path)) {
    return {
      statusCode: 404,
      headers: { ...securityHeaders(policy), 'content-type': 'text/plain; charset=utf-8' },
      body: 'Not Found',
    };
  }
  return servePage(
    files,
    { path, version: event.queryStringParameters?.v, ifNoneMatch: header(event, 'if-none-match') },
    policy,
  );
};
