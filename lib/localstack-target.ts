import { Aspects, Duration, type IAspect, type Stack } from 'aws-cdk-lib';
import { type FunctionUrl, FunctionUrlAuthType, HttpMethod } from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';
import { MediaFunction } from './constructs/media-function.ts';

export interface LocalStackTargetProps {
  /** The API function: it gets a function URL, which LocalStack's free image serves (it has no HTTP API). */
  readonly apiFunction: MediaFunction;
  /** Browser origins allowed to call the function URL (its CORS). */
  readonly allowedOrigins: readonly string[];
  /**
   * The S3 endpoint clients on the developer's machine use; presigned URLs are signed for it.
   * (Inside LocalStack's Lambda containers the SDK reaches S3 through AWS_ENDPOINT_URL, another host.)
   */
  readonly publicS3Endpoint: string;
}

/**
 * The CloudFormation resource types the `localstack` variant may use: those LocalStack 4.14.0's community
 * image has a provider for (and whose services docker-compose.localstack.yml starts). Anything else would
 * only "deploy" as a mock under CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES (the HTTP API did, with an
 * `unknown` URL): test/infra/localstack-variant.test.ts keeps the variant to this list.
 */
export const LOCALSTACK_COMMUNITY_RESOURCE_TYPES: ReadonlySet<string> = new Set([
  'AWS::CDK::Metadata',
  'AWS::CloudWatch::Alarm',
  'AWS::DynamoDB::Table',
  'AWS::Events::Rule',
  'AWS::IAM::Policy',
  'AWS::IAM::Role',
  'AWS::KMS::Key',
  'AWS::Lambda::EventInvokeConfig',
  'AWS::Lambda::EventSourceMapping',
  'AWS::Lambda::Function',
  'AWS::Lambda::Permission',
  'AWS::Lambda::Url',
  'AWS::Logs::LogGroup',
  'AWS::S3::Bucket',
  'AWS::S3::BucketPolicy',
  'AWS::SecretsManager::Secret',
  'AWS::SNS::Subscription',
  'AWS::SNS::Topic',
  'AWS::SNS::TopicPolicy',
  'AWS::SQS::Queue',
  'AWS::SQS::QueuePolicy',
]);

/** Environment every project function gets on LocalStack: path-style S3, presigned for the public endpoint. */
class LocalStackS3Environment implements IAspect {
  constructor(private readonly publicS3Endpoint: string) {}

  visit(node: IConstruct): void {
    if (!(node instanceof MediaFunction)) return;
    node.addEnvironment('S3_FORCE_PATH_STYLE', 'true');
    node.addEnvironment('S3_PUBLIC_ENDPOINT', this.publicS3Endpoint);
  }
}

/**
 * The parts of the `localstack` target that are not a choice inside one concern (those are Storage's
 * `uploadNotifications`, Processing's `nativeDependencies`, UploadApi's `withHttpApi` and ApiAuth's
 * `routeAuthorizer`):
 * - a function URL on the API function, the API's address on LocalStack's free image, which has no
 *   provider for API Gateway v2: the function routes by path when its route key is `$default`, so it
 *   serves the same API there. The HTTP API, its authorizer and the page's routes are left out of this
 *   variant altogether: with CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES they would only "deploy" as mocks
 *   whose URL is `unknown`;
 * - path-style S3 and presigned URLs signed for `publicS3Endpoint`, on every project function (an aspect,
 *   so functions defined later get them too).
 */
export const applyLocalStackTarget = (stack: Stack, props: LocalStackTargetProps): FunctionUrl => {
  Aspects.of(stack).add(new LocalStackS3Environment(props.publicS3Endpoint));
  return props.apiFunction.addFunctionUrl({
    authType: FunctionUrlAuthType.NONE,
    cors: {
      allowedOrigins: [...props.allowedOrigins],
      allowedMethods: [HttpMethod.GET, HttpMethod.POST, HttpMethod.DELETE],
      // A wildcard does not cover Authorization (Fetch standard): browsers need it named to send the key.
      allowedHeaders: ['*', 'authorization'],
      maxAge: Duration.hours(1),
    },
  });
};
