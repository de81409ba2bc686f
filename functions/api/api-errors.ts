import { AppError, PayloadTooLargeError } from '#shared/errors';

/**
 * Errors only the API raises, beside the shared hierarchy in functions/shared/errors.ts. Their HTTP
 * statuses, like every other, are assigned in http-errors.ts.
 */

/** The request body is in a format this route does not take (415). */
export class UnsupportedMediaTypeError extends AppError {}

/** A dependency refused the work for now; the caller should try again later (503). */
export class ServiceUnavailableError extends AppError {}

/**
 * The path exists but not with this method (405): `allow` lists the methods it takes, for the `Allow`
 * header RFC 9110 requires on a 405.
 */
export class MethodNotAllowedError extends AppError {
  readonly allow: readonly string[];
  constructor(code: string, message: string, allow: readonly string[]) {
    super(code, message);
    this.allow = allow;
  }
}

/** A payload over a limit that one request field declares (the `size` of a JSON create, say). */
export class FieldTooLargeError extends PayloadTooLargeError {
  readonly field: string;
  constructor(code: string, message: string, field: string) {
    super(code, message);
    this.field = field;
  }
}
