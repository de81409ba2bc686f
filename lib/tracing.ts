import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { type CfnFunction, Tracing } from 'aws-cdk-lib/aws-lambda';
import type { MediaFunction } from './constructs/media-function.ts';
import { acknowledge } from './constructs/nag.ts';

/**
 * The variable that turns on Powertools Tracer's capture of the SDK clients (functions/shared/aws-clients.ts).
 * Tracer itself also reads it; unset, the functions create no tracer at all.
 */
export const TRACE_ENABLED_VARIABLE = 'POWERTOOLS_TRACE_ENABLED';

/**
 * X-Ray active tracing on each function: Lambda records every invocation, and Powertools Tracer adds a
 * subsegment per AWS SDK call. What CDK's `tracing: Tracing.ACTIVE` does at construction, applied after
 * it, so that the concern constructs need not each pass the setting down.
 *
 * HTTP APIs (API Gateway v2) have no X-Ray tracing (only REST APIs do): a trace starts at the function.
 */
export const enableActiveTracing = (functions: readonly MediaFunction[]): void => {
  for (const fn of functions) {
    (fn.node.defaultChild as CfnFunction).tracingConfig = { mode: Tracing.ACTIVE };
    fn.addEnvironment(TRACE_ENABLED_VARIABLE, 'true');
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'],
        resources: ['*'],
      }),
    );
    if (fn.role) {
      acknowledge(
        fn.role,
        'AwsSolutions-IAM5[Resource::*]',
        'X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level permissions: their resource is always *.',
      );
    }
  }
};
