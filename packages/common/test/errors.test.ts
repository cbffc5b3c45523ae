import { AppError, ERROR_STATUS, toAppError, toEnvelope, toOpenAiError } from '../src/errors';

describe('error codes and envelope', () => {
  it('maps every code of docs/architecture.md to its status', () => {
    expect(ERROR_STATUS).toMatchObject({
      VALIDATION_FAILED: 400,
      UNAUTHENTICATED: 401,
      INSUFFICIENT_CREDITS: 402,
      FORBIDDEN: 403,
      NOT_FOUND: 404,
      CONFLICT: 409,
      PAYLOAD_TOO_LARGE: 413,
      UNSUPPORTED_MEDIA_TYPE: 415,
      IDEMPOTENCY_KEY_REUSED: 422,
      RATE_LIMITED: 429,
      INTERNAL: 500,
      UPSTREAM_FAILED: 502,
      SERVICE_UNAVAILABLE: 503,
      UPSTREAM_TIMEOUT: 504,
    });
  });

  it('builds the envelope with code, message, request id and details', () => {
    const err = new AppError('RATE_LIMITED', 'Slow down', { details: { retry_after_s: 3 } });
    expect(err.status).toBe(429);
    expect(toEnvelope(err, 'req-12345678')).toEqual({
      error: { code: 'RATE_LIMITED', message: 'Slow down', request_id: 'req-12345678', details: { retry_after_s: 3 } },
    });
  });

  it('never exposes the message or details of an internal error', () => {
    const wrapped = toAppError(new Error('connect ECONNREFUSED 10.0.0.5:5432 password=hunter2'));
    expect(wrapped.code).toBe('INTERNAL');
    const body = toEnvelope(wrapped, 'r1234567');
    expect(body.error.message).toBe('An internal error occurred');
    expect(JSON.stringify(body)).not.toMatch(/ECONNREFUSED|hunter2|stack/);
    const internalWithDetails = new AppError('INTERNAL', 'db exploded at row 7', { details: { sql: 'select secret' } });
    expect(toEnvelope(internalWithDetails, 'x').error).toEqual({ code: 'INTERNAL', message: 'An internal error occurred', request_id: 'x' });
  });

  it('maps body-parser errors to 400 and 413', () => {
    expect(toAppError(Object.assign(new Error('bad json'), { status: 400, type: 'entity.parse.failed' })).code).toBe('VALIDATION_FAILED');
    expect(toAppError(Object.assign(new Error('too big'), { status: 413, type: 'entity.too.large' })).code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('answers OpenAI-compatible routes in OpenAI error shape', () => {
    const body = toOpenAiError(new AppError('INSUFFICIENT_CREDITS', 'Not enough credits'), 'req-1');
    expect(body).toEqual({ error: { message: 'Not enough credits', type: 'insufficient_quota', code: 'insufficient_credits', param: null, request_id: 'req-1' } });
    const validation = toOpenAiError(new AppError('VALIDATION_FAILED', 'messages is required', { details: { param: 'messages' } }), undefined);
    expect(validation.error).toMatchObject({ type: 'invalid_request_error', param: 'messages' });
  });
});

describe('dependency outages', () => {
  it('answer 503 with Retry-After, not 500, when PostgreSQL or Redis is unreachable', () => {
    for (const err of [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      new Error('Connection terminated unexpectedly'),
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
      // ioredis with its offline queue: a command given up while it reconnects.
      new Error('Command timed out'),
      new Error('Reached the max retries per request limit (which is 1). Refer to "maxRetriesPerRequest" option for details.'),
      // statement_timeout: the database is overwhelmed, not the request wrong.
      Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014', severity: 'ERROR' }),
    ]) {
      const appError = toAppError(err);
      expect(appError.code).toBe('SERVICE_UNAVAILABLE');
      expect(appError.headers).toEqual({ 'Retry-After': '2' });
      expect(toEnvelope(appError, 'r').error.message).toBe('The service is temporarily unavailable');
    }
    expect(toAppError(new Error('boom')).code).toBe('INTERNAL');
  });
});
