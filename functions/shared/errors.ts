/**
 * The error vocabulary of the pipeline. Every error that can reach a caller or a job record is an
 * AppError with a stable machine-readable `code`; HTTP statuses are assigned in exactly one place
 * (functions/api/http-errors.ts) and job failures store `code` and `message` as they are.
 */
export class AppError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The request is malformed or names something that does not fit; the message says what to fix. */
export class ValidationError extends AppError {
  readonly field: string | undefined;
  constructor(code: string, message: string, field?: string) {
    super(code, message);
    this.field = field;
  }
}

export class NotFoundError extends AppError {}

/** The request is valid but conflicts with the resource's current state (retry of a done job, say). */
export class ConflictError extends AppError {}

export class PayloadTooLargeError extends AppError {}

/** The request carries no credential, or one that names no caller (401); the message says what to send. */
export class UnauthorizedError extends AppError {}

/** The caller is known but may not do this (403): a valid token that names no valid tenant, say. */
export class ForbiddenError extends AppError {}

/** The caller is over a limit for now (429); `retryAfterSeconds` says when to try again (`Retry-After`). */
export class TooManyRequestsError extends AppError {
  readonly retryAfterSeconds: number;
  constructor(code: string, message: string, retryAfterSeconds: number) {
    super(code, message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * Processing cannot succeed however often it is tried: a corrupt or unsupported file, a file over
 * the pixel or duration cap. The job fails at once, with `message` as its readable `error`.
 */
export class PermanentMediaError extends AppError {}

/** Configuration is missing or invalid: raised at cold start so a bad deploy fails loudly. */
export class ConfigError extends AppError {
  constructor(message: string) {
    super('Config::Invalid', message);
  }
}

export const isPermanent = (error: unknown): error is PermanentMediaError =>
  error instanceof PermanentMediaError;

/** A message safe to store on a job or log: the error's own text for AppErrors, a generic one otherwise. */
export const describeError = (error: unknown): { code: string; message: string } => {
  if (error instanceof AppError) return { code: error.code, message: error.message };
  const name = error instanceof Error ? error.name : 'Error';
  return { code: 'Internal::Unexpected', message: `an unexpected ${name} occurred` };
};
