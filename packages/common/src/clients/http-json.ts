import http from 'node:http';
import https from 'node:https';
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
  /** Replaces the built-in keep-alive node:http client (tests, other transports). */
  fetchImpl?: typeof fetch;
}

/** What callJson needs from an answer, whichever transport fetched it. */
interface JsonAnswer {
  status: number;
  text: string;
  retryAfter: string | null;
}

/** The same words as fetch's AbortSignal.timeout(), which callers (and callJson) recognise. */
const TIMEOUT_MESSAGE = 'The operation was aborted due to timeout';

/**
 * Sibling calls go through node:http with one keep-alive pool per process instead of the
 * global fetch: fetch's web streams, abort signals and per-chunk writes cost more CPU than the
 * call itself (the credits hold/capture around every chat completion), and node:http sends a
 * small JSON request in one write.
 */
const keepAliveHttp = new http.Agent({ keepAlive: true, keepAliveMsecs: 10_000, maxSockets: 256 });
const keepAliveHttps = new https.Agent({ keepAlive: true, keepAliveMsecs: 10_000, maxSockets: 256 });

/** Rejects before an answer with a retryable error (like a failed fetch), after it with a plain one. */
function requestOverNodeHttp(url: string, method: string, headers: Record<string, string>, body: string | undefined, timeoutMs: number): Promise<JsonAnswer> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const transport = target.protocol === 'https:' ? https : http;
    const outgoing: Record<string, string | number> = { ...headers };
    if (body !== undefined) outgoing['content-length'] = Buffer.byteLength(body);
    let answered = false;
    const req = transport.request(target, { method, headers: outgoing, agent: target.protocol === 'https:' ? keepAliveHttps : keepAliveHttp }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        clearTimeout(timer);
        const retryAfter = res.headers['retry-after'];
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), retryAfter: typeof retryAfter === 'string' ? retryAfter : null });
      });
      res.on('error', (err) => fail(err));
      res.on('aborted', () => fail(new Error('the response was cut short')));
    });
    const fail = (err: Error) => {
      clearTimeout(timer);
      reject(answered ? err : new RetryableError(`${method} ${url} failed: ${err.message}`));
    };
    const timer = setTimeout(() => req.destroy(new Error(TIMEOUT_MESSAGE)), timeoutMs);
    req.on('error', fail);
    req.end(body);
  });
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
        const payload = body !== undefined ? JSON.stringify(body) : undefined;
        const timeoutMs = options.timeoutMs ?? 10_000;
        let answer: JsonAnswer;
        if (options.fetchImpl) {
          let res: Response;
          try {
            res = await options.fetchImpl(url, {
              method,
              headers,
              ...(payload !== undefined ? { body: payload } : {}),
              signal: AbortSignal.timeout(timeoutMs),
            });
          } catch (err) {
            throw new RetryableError(`${method} ${url} failed: ${(err as Error).message}`);
          }
          answer = { status: res.status, text: await res.text(), retryAfter: res.headers.get('retry-after') };
        } else {
          answer = await requestOverNodeHttp(url, method, headers, payload, timeoutMs);
        }
        const text = answer.text;
        let parsed: unknown;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          parsed = undefined;
        }
        const res = { ok: answer.status >= 200 && answer.status < 300, status: answer.status };
        if (res.ok) return parsed as T;
        if (res.status >= 500 || res.status === 429) {
          throw new RetryableError(`${method} ${url} answered ${res.status}`, parseRetryAfter(answer.retryAfter));
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
