import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger, metrics } from './observability.ts';

/**
 * Wraps a handler with what every function shares: the Lambda context on each log line (logger keys
 * appended during an invocation are cleared after it) and metrics flushed once per invocation.
 */
export const withObservability = <TEvent, TResult>(
  handler: (event: TEvent, context: Context) => Promise<TResult>,
) =>
  middy(handler)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics, { captureColdStartMetric: true }));
