/**
 * Where the stack is deployed. `aws` (the default) is the stack as designed. `localstack` is the same
 * stack made to deploy and run on LocalStack's free image, which lacks parts the AWS template relies on
 * (../shared notes; the README). Only the switch differs between the two templates:
 *
 * | concern | `aws` | `localstack` |
 * | --- | --- | --- |
 * | uploads → ingest notification | CDK's `Custom::S3BucketNotifications` (a deploy-time Lambda) | the bucket's own `NotificationConfiguration`, a `Lambda::Permission` it depends on, and a bucket name made from the stack id (the handler fails on LocalStack) |
 * | ffmpeg, ffprobe, sharp | the ffmpeg and sharp layers | copied into the video and image functions' assets (`/var/task/bin`, `/var/task/node_modules`): the free image does not mount layers |
 * | the API | the HTTP API | a function URL on the API function, which `ApiUrl` points at; no HTTP API, page or dashboard (no community provider for API Gateway v2 or dashboards) |
 * | API keys (`auth: api-key`) | the HTTP API's Lambda authorizer | the API function checks the key itself (AUTH_IN_FUNCTION, a read of the tenants table): the function URL has no authorizer; `auth: jwt` is refused at synth |
 * | presigned URLs | signed for S3's own endpoint | signed for `localstackPublicEndpoint`, path-style (the functions reach LocalStack by another host inside Docker) |
 */
export const DEPLOYMENT_TARGETS = ['aws', 'localstack'] as const;

export type DeploymentTarget = (typeof DEPLOYMENT_TARGETS)[number];

/**
 * The S3 endpoint that clients on the developer's machine use to reach LocalStack: presigned URLs are
 * signed for it. LocalStack serves HTTPS on its edge port with a certificate for this name.
 */
export const DEFAULT_LOCALSTACK_PUBLIC_ENDPOINT = 'https://localhost.localstack.cloud:4566';

export const isDeploymentTarget = (value: unknown): value is DeploymentTarget =>
  typeof value === 'string' && (DEPLOYMENT_TARGETS as readonly string[]).includes(value);
