import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import {
  AppError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  PayloadTooLargeError,
  TooManyRequestsError,
  UnauthorizedError,
  ValidationError,
} from '#shared/errors';
import { logger } from '#shared/observability';
import { MethodNotAllowedError, ServiceUnavailableError, UnsupportedMediaTypeError } from './api-errors.ts';
import { type ErrorBody, json } from './responses.ts';

/**
 * The one place where errors become HTTP responses. The classes are the contract: domain code throws
 * what went wrong, never a status. Anything unrecognised is a 500 whose body says nothing internal, only
 * the request id that finds the logged error.
 */
const STATUS_BY_CLASS: ReadonlyArray<readonly [abstract new (...args: never[]) => AppError, number]> = [
  [ValidationError, 400],
  [UnauthorizedError, 401],
  [ForbiddenError, 403],
  [NotFoundError, 404],
  [MethodNotAllowedError, 405],
  [ConflictError, 409],
  [PayloadTooLargeError, 413],
  [UnsupportedMediaTypeError, 415],
  [TooManyRequestsError, 429],
  [ServiceUnavailableError, 503],
];

export const httpStatusOf = (error: unknown): number | undefined =>
  error instanceof AppError ? STATUS_BY_CLASS.find(([type]) => error instanceof type)?.[1] : undefined;

const fieldOf = (error: AppError): string | undefined => {
  const field = (error as { field?: unknown }).field;
  return typeof field === 'string' && field.length > 0 ? field : undefined;
};

type ApiRequest = { event: APIGatewayProxyEventV2; context: Context; error: unknown; response: unknown };

export const toErrorResponse = (error: unknown, requestId: string): APIGatewayProxyStructuredResultV2 => {
  const status = httpStatusOf(error);
  if (status !== undefined && error instanceof AppError) {
    const field = fieldOf(error);
    const body: ErrorBody = {
      error: { code: error.code, message: error.message, ...(field ? { field } : {}) },
    };
    const response = json(status, body);
    if (status === 503) response.headers = { ...response.headers, 'retry-after': '30' };
    // RFC 9110: a 401 names the scheme the credential goes in.
    if (status === 401) response.headers = { ...response.headers, 'www-authenticate': 'Bearer' };
    if (error instanceof MethodNotAllowedError) {
      response.headers = { ...response.headers, allow: error.allow.join(', ') };
    }
    if (error instanceof TooManyRequestsError) {
      response.headers = { ...response.headers, 'retry-after': String(error.retryAfterSeconds) };
    }
    return response;
  }
  const body: ErrorBody = {
    error: {
      code: 'Internal::Unexpected',
      message: `the request could not be completed because of an internal error; if it persists, report request id ${requestId}`,
      request_id: requestId,
    },
  };
  return json(500, body);
};

/** Middy middleware: maps a thrown error to its HTTP response and logs what the caller does not see. */
export const httpErrors = (): MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> => ({
  onError: async (request) => {
    const { event, context, error } = request as unknown as ApiRequest;
    const requestId = event.requestContext?.requestId ?? context.awsRequestId;
    const response = toErrorResponse(error, requestId);
    if (response.statusCode === 500) {
      logger.error('request failed', { error: error as Error, request_id: requestId });
    } else {
      const { code, message } = error as AppError;
      logger.info('request refused', { status: response.statusCode, code, reason: message });
    }
    request.response = response;
  },
});
