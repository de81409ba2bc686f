import {
  type ClientRequest,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { FaultDice, type FaultSpec, type SdkFault, targets } from './faults.ts';
import type { FunctionSpec, LocalEndpoints, Stoppable } from './types.ts';

/**
 * The SDK boundary's faults (local/faults.ts `sdk-error`): a pass-through proxy in front of one
 * emulator, given to one function as its `AWS_ENDPOINT_URL_<SERVICE>`, that answers the calls a fault
 * names with the error the real service sends (throttling or a 5xx) and forwards everything else
 * untouched (its Host header included, so SigV4 signatures still verify). The SDK then retries, gives
 * up or surfaces the error exactly as it would against AWS.
 *
 * The crash errors stand for the process dying at the SDK boundary: `crash-before` never forwards the
 * call, `crash-after` forwards it and withholds the answer; either way `onCrash` kills the calling
 * function's execution environments before the connection closes, so the function learns nothing more.
 */

export interface FaultProxy extends Stoppable {
  endpoint: string;
  /** Calls answered with an injected error so far. */
  injected(): number;
}

/** The operation a request calls: JSON protocols name it in X-Amz-Target; S3's REST API by its shape. */
export const operationOf = (service: SdkFault['service'], request: IncomingMessage): string => {
  if (service !== 's3') {
    const target = String(request.headers['x-amz-target'] ?? '');
    return target.slice(target.lastIndexOf('.') + 1);
  }
  const url = new URL(request.url ?? '/', 'http://s3');
  const query = url.searchParams;
  const [, bucket = '', ...key] = url.pathname.split('/');
  const hasKey = key.join('/') !== '';
  switch (request.method) {
    case 'GET':
      if (!hasKey) return bucket ? 'ListObjectsV2' : 'ListBuckets';
      return query.has('uploadId') ? 'ListParts' : 'GetObject';
    case 'HEAD':
      return hasKey ? 'HeadObject' : 'HeadBucket';
    case 'PUT':
      if (!hasKey) return 'CreateBucket';
      if (query.has('partNumber')) return 'UploadPart';
      return request.headers['x-amz-copy-source'] ? 'CopyObject' : 'PutObject';
    case 'POST':
      if (query.has('uploads')) return 'CreateMultipartUpload';
      if (query.has('uploadId')) return 'CompleteMultipartUpload';
      return query.has('delete') ? 'DeleteObjects' : 'PostObject';
    case 'DELETE':
      return query.has('uploadId') ? 'AbortMultipartUpload' : hasKey ? 'DeleteObject' : 'DeleteBucket';
    default:
      return request.method ?? 'UNKNOWN';
  }
};

const CRASH_SETTLE_MS = 200;

type AnsweredFault = SdkFault & { error: 'throttling' | 'server-error' };
type CrashFault = SdkFault & { error: 'crash-before' | 'crash-after' };

const isCrash = (fault: SdkFault): fault is CrashFault =>
  fault.error === 'crash-before' || fault.error === 'crash-after';

/** The answer the real service gives for the fault, in its protocol. */
const answer = (fault: AnsweredFault, operation: string, response: ServerResponse): void => {
  const message = `${fault.error} injected by MEDIA_PIPELINE_FAULTS into ${operation}`;
  if (fault.service === 's3') {
    const [status, code] = fault.error === 'throttling' ? [503, 'SlowDown'] : [500, 'InternalError'];
    response.writeHead(status, { 'content-type': 'application/xml', 'x-amz-error-code': code });
    response.end(
      `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`,
    );
    return;
  }
  const [status, type] =
    fault.error === 'throttling'
      ? [
          400,
          fault.service === 'dynamodb'
            ? 'com.amazonaws.dynamodb.v20120810#ThrottlingException'
            : 'com.amazonaws.sqs#ThrottlingException',
        ]
      : [
          500,
          fault.service === 'dynamodb'
            ? 'com.amazonaws.dynamodb.v20120810#InternalServerError'
            : 'com.amazonaws.sqs#InternalError',
        ];
  response.writeHead(status, {
    'content-type': 'application/x-amz-json-1.0',
    'x-amzn-query-error': `${type.split('#')[1]};Sender`,
  });
  response.end(JSON.stringify({ __type: type, message }));
};

export const startFaultProxy = async (
  target: string,
  faults: readonly SdkFault[],
  options: {
    random?: () => number;
    /** Sees every request it forwards, with the answer and the upstream request (tests watch calls). */
    observe?: (request: IncomingMessage, response: ServerResponse, upstream: ClientRequest) => void;
    /**
     * Kills the calling function's execution environments for a `crash-before` / `crash-after` fault;
     * the connection is closed once it returned. @default - only the connection is closed
     */
    onCrash?: (fault: SdkFault, operation: string) => void | Promise<void>;
  } = {},
): Promise<FaultProxy> => {
  const dice = new FaultDice<SdkFault>(options.random);
  let injected = 0;
  const crash = async (fault: CrashFault, operation: string, response: ServerResponse): Promise<void> => {
    try {
      await options.onCrash?.(fault, operation);
      // SIGKILL is delivered asynchronously: the connection must not close while the caller still runs.
      await new Promise((resolve) => setTimeout(resolve, CRASH_SETTLE_MS));
    } finally {
      response.destroy();
    }
  };
  const server = createServer((request, response) => {
    const fault = faults.find((candidate) => {
      const operation = operationOf(candidate.service, request);
      return (candidate.operation === undefined || candidate.operation === operation) && dice.roll(candidate);
    });
    const operation = fault ? operationOf(fault.service, request) : '';
    if (fault) injected++;
    if (fault && !isCrash(fault)) {
      request.resume();
      answer(fault as AnsweredFault, operation, response);
      return;
    }
    if (fault?.error === 'crash-before') {
      request.resume();
      void crash(fault as CrashFault, operation, response);
      return;
    }
    const upstream = httpRequest(
      new URL(request.url ?? '/', target),
      { method: request.method, headers: request.headers },
      (reply) => {
        if (fault) {
          // The side effect happened upstream: its whole answer is read and dropped, then the crash.
          reply.resume();
          reply.once('end', () => void crash(fault as CrashFault, operation, response));
          return;
        }
        response.writeHead(reply.statusCode ?? 502, reply.headers);
        reply.pipe(response);
      },
    );
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
    options.observe?.(request, response, upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    injected: () => injected,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};

const ENDPOINT_VARIABLES: Readonly<Record<SdkFault['service'], keyof LocalEndpoints>> = {
  s3: 's3',
  sqs: 'sqs',
  dynamodb: 'dynamodb',
};
const ENDPOINT_ENV: Readonly<Record<SdkFault['service'], string>> = {
  s3: 'AWS_ENDPOINT_URL_S3',
  sqs: 'AWS_ENDPOINT_URL_SQS',
  dynamodb: 'AWS_ENDPOINT_URL_DYNAMODB',
};

/**
 * One proxy per function and service that an `sdk-error` fault names, and the function specs with
 * their endpoints pointed at them (`runtimeOverrides`); every other function talks to the emulators.
 */
export const startFaultProxies = async (
  functions: readonly FunctionSpec[],
  faults: readonly FaultSpec[],
  endpoints: LocalEndpoints,
  options: {
    /** Kills the execution environments of the function a crash fault hit (the runtime's pool). */
    onCrash?: (functionLogicalId: string, fault: SdkFault, operation: string) => void | Promise<void>;
  } = {},
): Promise<{ functions: FunctionSpec[]; proxies: FaultProxy[] }> => {
  const sdkFaults = faults.filter((fault): fault is SdkFault => fault.action === 'sdk-error');
  const proxies: FaultProxy[] = [];
  const specs = await Promise.all(
    functions.map(async (spec) => {
      const mine = sdkFaults.filter((fault) => targets(fault, spec));
      const overrides: Record<string, string> = {};
      for (const service of new Set(mine.map((fault) => fault.service))) {
        const proxy = await startFaultProxy(
          endpoints[ENDPOINT_VARIABLES[service]],
          mine.filter((fault) => fault.service === service),
          {
            ...(options.onCrash
              ? {
                  onCrash: (fault: SdkFault, operation: string) =>
                    options.onCrash?.(spec.logicalId, fault, operation),
                }
              : {}),
          },
        );
        proxies.push(proxy);
        overrides[ENDPOINT_ENV[service]] = proxy.endpoint;
      }
      return Object.keys(overrides).length > 0 ? { ...spec, runtimeOverrides: overrides } : spec;
    }),
  );
  return { functions: specs, proxies };
};
