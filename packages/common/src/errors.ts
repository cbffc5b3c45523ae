/**
 * The one closed set of error codes of the platform (docs/architecture.md, "Conventions"), their HTTP
 * statuses, and the two wire shapes: Tollgate's envelope and OpenAI's error object.
 */
export const ERROR_STATUS = {
  VALIDATION_FAILED: 400,
  UNAUTHENTICATED: 401,
  INSUFFICIENT_CREDITS: 402,
  /** A key over its budget for the period (details.resets_at). */
  BUDGET_EXCEEDED: 402,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  IDEMPOTENCY_KEY_REUSED: 422,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UPSTREAM_FAILED: 502,
  SERVICE_UNAVAILABLE: 503,
  UPSTREAM_TIMEOUT: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export const isErrorCode = (value: unknown): value is ErrorCode =>
  typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERROR_STATUS, value);

export interface AppErrorOptions {
  details?: Record<string, unknown>;
  /** Extra response headers, e.g. Retry-After for RATE_LIMITED. */
  headers?: Record<string, string>;
  cause?: unknown;
}

/** An error whose code, message and details are safe to show to the caller. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;
  /**
   * Whether the message may be shown. A plain field, not a getter: http-errors (body-parser's
   * verify hook) assigns `expose` on errors it wraps, and a getter would make that throw.
   */
  expose: boolean;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.details = options.details;
    this.headers = options.headers;
    this.expose = this.status < 500 || code === 'UPSTREAM_FAILED' || code === 'SERVICE_UNAVAILABLE' || code === 'UPSTREAM_TIMEOUT';
  }


}

export const validationFailed = (message: string, details?: Record<string, unknown>) =>
  new AppError('VALIDATION_FAILED', message, details ? { details } : {});
export const unauthenticated = (message = 'A valid credential is required') => new AppError('UNAUTHENTICATED', message);
export const forbidden = (message = 'This credential may not do that') => new AppError('FORBIDDEN', message);
export const notFound = (what = 'Resource') => new AppError('NOT_FOUND', `${what} not found`);
export const conflict = (message: string, details?: Record<string, unknown>) =>
  new AppError('CONFLICT', message, details ? { details } : {});

/** Messages shown for 5xx codes: never the internal cause. */
const GENERIC_MESSAGES: Partial<Record<ErrorCode, string>> = {
  INTERNAL: 'An internal error occurred',
  UPSTREAM_FAILED: 'An upstream service failed',
  SERVICE_UNAVAILABLE: 'The service is temporarily unavailable',
  UPSTREAM_TIMEOUT: 'An upstream service timed out',
};

export interface ErrorEnvelope {
  error: { code: ErrorCode; message: string; request_id: string | undefined; details?: Record<string, unknown> };
}

/** Turn anything thrown into an AppError; unknown errors become a generic INTERNAL. */
/**
 * PostgreSQL "data exception" codes raised by a value the client sent (a NUL byte in text, a
 * malformed uuid, a number out of range): the request is wrong, not the server.
 */
const PG_INPUT_ERRORS = new Set(['22001', '22003', '22007', '22008', '22021', '22P02', '22P05', '2201E', '2201F']);

/**
 * PostgreSQL or Redis unreachable or overwhelmed (connection refused/reset/terminated, server
 * shutting down, "connection exception" class 08, a statement cancelled by statement_timeout
 * (57014), ioredis giving up on a command while it reconnects): the client should retry later,
 * so 503 rather than 500.
 */
export function isDependencyUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : '';
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', '57014', '57P01', '57P02', '57P03'].includes(code) ||
    code.startsWith('08') ||
    /Connection terminated|timeout exceeded when trying to connect|Connection is closed|Stream isn't writeable|Client has encountered a connection error|Command timed out|Reached the max retries per request limit/i.test(message)
  );
}

export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const pgCode = (err as { code?: unknown } | undefined)?.code;
  if (isDependencyUnavailable(err)) {
    return new AppError('SERVICE_UNAVAILABLE', GENERIC_MESSAGES.SERVICE_UNAVAILABLE!, { cause: err, headers: { 'Retry-After': '2' } });
  }
  if (typeof pgCode === 'string' && PG_INPUT_ERRORS.has(pgCode) && typeof (err as { severity?: unknown }).severity === 'string') {
    return new AppError('VALIDATION_FAILED', 'A value in the request is not acceptable (bad encoding, format or range)', { cause: err });
  }
  const e = err as { status?: unknown; statusCode?: unknown; type?: unknown; expose?: unknown; message?: unknown };
  // body-parser / http-errors style errors carry a safe status and type.
  const status = typeof e?.status === 'number' ? e.status : typeof e?.statusCode === 'number' ? e.statusCode : undefined;
  if (status !== undefined && status >= 400 && status < 500) {
    if (e.type === 'entity.too.large' || status === 413) return new AppError('PAYLOAD_TOO_LARGE', 'The request body is too large', { cause: err });
    if (e.type === 'entity.parse.failed') return new AppError('VALIDATION_FAILED', 'The request body is not valid JSON', { cause: err });
    if (status === 415) return new AppError('UNSUPPORTED_MEDIA_TYPE', 'Unsupported content type', { cause: err });
    const code = (Object.keys(ERROR_STATUS) as ErrorCode[]).find((c) => ERROR_STATUS[c] === status) ?? 'VALIDATION_FAILED';
    const message = e.expose === true && typeof e.message === 'string' ? e.message : 'The request is invalid';
    return new AppError(code, message, { cause: err });
  }
  return new AppError('INTERNAL', GENERIC_MESSAGES.INTERNAL!, { cause: err });
}

export function toEnvelope(err: AppError, requestId: string | undefined): ErrorEnvelope {
  const message = err.status >= 500 && !err.expose ? GENERIC_MESSAGES[err.code] ?? GENERIC_MESSAGES.INTERNAL! : err.message;
  const body: ErrorEnvelope = { error: { code: err.code, message, request_id: requestId } };
  if (err.details && (err.status < 500 || err.expose)) body.error.details = err.details;
  return body;
}

/** OpenAI's error `type` for each of our codes, so OpenAI SDKs pick the right error class. */
const OPENAI_TYPES: Record<ErrorCode, string> = {
  VALIDATION_FAILED: 'invalid_request_error',
  UNAUTHENTICATED: 'authentication_error',
  INSUFFICIENT_CREDITS: 'insufficient_quota',
  BUDGET_EXCEEDED: 'insufficient_quota',
  FORBIDDEN: 'permission_error',
  NOT_FOUND: 'not_found_error',
  METHOD_NOT_ALLOWED: 'invalid_request_error',
  CONFLICT: 'invalid_request_error',
  PAYLOAD_TOO_LARGE: 'invalid_request_error',
  UNSUPPORTED_MEDIA_TYPE: 'invalid_request_error',
  IDEMPOTENCY_KEY_REUSED: 'invalid_request_error',
  RATE_LIMITED: 'rate_limit_error',
  INTERNAL: 'api_error',
  UPSTREAM_FAILED: 'api_error',
  SERVICE_UNAVAILABLE: 'api_error',
  UPSTREAM_TIMEOUT: 'api_error',
};

export interface OpenAiErrorBody {
  error: { message: string; type: string; code: string; param: string | null; request_id?: string | undefined };
}

export function toOpenAiError(err: AppError, requestId: string | undefined): OpenAiErrorBody {
  const envelope = toEnvelope(err, requestId);
  const param = typeof err.details?.['param'] === 'string' ? (err.details['param'] as string) : null;
  return {
    error: {
      message: envelope.error.message,
      type: OPENAI_TYPES[err.code],
      // OpenAI names an unknown or forbidden model `model_not_found`; SDKs and tools look for it.
      code: err.code === 'NOT_FOUND' && err.details?.['reason'] === 'model_not_found' ? 'model_not_found' : err.code.toLowerCase(),
      param,
      request_id: requestId,
    },
  };
}
