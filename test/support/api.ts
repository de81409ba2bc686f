import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { JobStore } from '#shared/job-store';
import { createTestEnvironment, type TestEnvironment, type TestEnvironmentOptions } from './emulators.ts';
import { type HttpResponse, readResponse } from './http-events.ts';
import { lambdaContext } from './lambda-context.ts';

export interface ApiHarness {
  env: TestEnvironment;
  store: JobStore;
  /** Invokes the API function the way API Gateway does and parses its JSON answer. */
  invoke<T = Record<string, unknown>>(event: APIGatewayProxyEventV2): Promise<HttpResponse<T>>;
}

export interface ApiHarnessOptions extends TestEnvironmentOptions {
  /** Runs after the emulators are up and before the handler loads (and reads its configuration). */
  beforeImport?: (env: TestEnvironment) => void;
}

/** The API function against fresh emulators, imported only once its environment is in place. */
export const startApi = async (options: ApiHarnessOptions = {}): Promise<ApiHarness> => {
  const env = await createTestEnvironment(options);
  options.beforeImport?.(env);
  const { handler } = (await import('../../functions/api/handler.ts')) as {
    handler: (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;
  };
  return {
    env,
    store: await env.jobStore(),
    invoke: async <T>(event: APIGatewayProxyEventV2) =>
      readResponse<T>(await handler(event, lambdaContext('api'))),
  };
};
