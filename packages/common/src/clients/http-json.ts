import { AppError, isErrorCode } from '../errors';
import { currentContext } from '../context';
import { parseRetryAfter, retry } from '../resilience';
import { injectTraceHeaders } from '../tracing';

export interface JsonClientOptions {
  baseUrl: string;
  /** Returns the X-Tollgate-Identity value for each call (minted fresh, short-lived). */
  identity: () => string;
  timeoutMs?: number;
  /** Retries for connect errors, 5xx and 429. Only safe for idempotent calls. */
  retries?: number;
  fetchImpl?: typeof fetch;
}

class RetryableError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/**
 * JSON over HTTP to a sibling service, carrying request id, trace context and identity. The
 * sibling's 4xx envelope comes back as the same AppError (so a 402 stays a 402); 5xx and
 * unreachable become UPSTREAM_FAILED / UPSTREAM_TIMEOUT after retries.
 */
export async function callJson<T>(options: JsonClientOptions, method: string, path: string, body?: unknown): Promise<T> {
  const fetchImpl = options.fetchImpl ?? fetch;
  const url = `${options.baseUrl.replace(/\/$/, '')}${path}`;
  try {
    return await retry(
      async () => {
        const headers: Record<string, string> = {
          accept: 'application/json',
          'x-tollgate-identity': options.identity(),
          ...injectTraceHeaders(),
        };
        const requestId = currentContext()?.requestId;
        if (requestId) headers['x-request-id'] = requestId;
        if (body !== undefined) headers['content-type'] = 'application/json';
        let res: Response;
        try {
          res = await fetchImpl(url, {
            method,
            headers,
            ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
            signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
          });
        } catch (err) {
          throw new RetryableError(`${method} ${url} failed: ${(err as Error).message}`);
        }
        const text = await res.text();
        let parsed: unknown;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          parsed = undefined;
        }
        if (res.ok) return parsed as T;
        if (res.status >= 500 || res.status === 429) {
          throw new RetryableError(`${method} ${url} answered ${res.status}`, parseRetryAfter(res.headers.get('retry-after')));
        }
        const envelope = (parsed as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
        const code = isErrorCode(envelope?.code) ? envelope.code : 'VALIDATION_FAILED';
        const message = typeof envelope?.message === 'string' ? envelope.message : `${method} ${path} answered ${res.status}`;
        throw new AppError(code, message, envelope?.details && typeof envelope.details === 'object' ? { details: envelope.details as Record<string, unknown> } : {});
      },
      { retries: options.retries ?? 2, baseDelayMs: 100, maxDelayMs: 2_000, shouldRetry: (err) => err instanceof RetryableError },
    );
  } catch (err) {
    if (err instanceof AppError) throw err;
    const timedOut = (err as Error).message.includes('aborted due to timeout') || (err as Error).message.includes('TimeoutError');
    throw new AppError(timedOut ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_FAILED', 'A dependency of this service failed', { cause: err });
  }
}
