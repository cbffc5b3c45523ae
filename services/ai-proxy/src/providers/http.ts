import { parseRetryAfter } from '@tollgate/common';
import { createParser } from 'eventsource-parser';
import { Agent, errors as undiciErrors, type Dispatcher } from 'undici';
import { UpstreamError } from './errors';

/**
 * Upstream HTTP through one undici Agent: a keep-alive connection pool per origin, so a call
 * to a provider reuses warm TLS connections instead of dialling each time.
 */
export function createUpstreamAgent(options: { connectionsPerOrigin?: number; keepAliveTimeoutMs?: number } = {}): Agent {
  return new Agent({
    connections: options.connectionsPerOrigin ?? 128,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 30_000,
    keepAliveMaxTimeout: 600_000,
    connect: { timeout: 10_000 },
    pipelining: 1,
  });
}

export interface UpstreamRequest {
  url: string;
  method?: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: unknown;
  signal: AbortSignal;
  /** Streaming: longest wait for headers and between body chunks. */
  idleTimeoutMs?: number;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
}

function headerValue(headers: UpstreamResponse['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Turn a thrown undici/abort error into an UpstreamError (timeouts and connect errors are retryable). */
export function classifyNetworkError(err: unknown, what: string, signal?: AbortSignal): unknown {
  if (err instanceof UpstreamError) return err;
  const e = err as { name?: string; code?: string; message?: string };
  if (signal?.aborted) {
    const reason = signal.reason as { name?: string } | undefined;
    // A timeout of ours (deadline or per-target) is the upstream's fault; a client abort is not.
    if (reason?.name === 'TimeoutError') return new UpstreamError(`${what} timed out`, 'timeout', { cause: err });
    return signal.reason ?? err;
  }
  if (
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError ||
    e?.name === 'TimeoutError' ||
    e?.code === 'UND_ERR_CONNECT_TIMEOUT'
  ) {
    return new UpstreamError(`${what} timed out`, 'timeout', { cause: err });
  }
  return new UpstreamError(`${what} failed: ${e?.code ?? e?.name ?? 'error'}`, 'connect', { cause: err });
}

/**
 * One upstream request. A non-2xx status is read (bounded) and thrown as an UpstreamError with
 * the provider's message and any Retry-After; the caller gets the open body on success.
 */
export async function upstreamRequest(
  agent: Dispatcher,
  req: UpstreamRequest,
  describeError: (status: number, body: string) => string,
): Promise<UpstreamResponse> {
  let res: Dispatcher.ResponseData;
  try {
    res = await agent.request({
      origin: new URL(req.url).origin,
      path: new URL(req.url).pathname + new URL(req.url).search,
      method: req.method ?? 'POST',
      headers: { ...req.headers, ...(req.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(req.body !== undefined ? { body: JSON.stringify(req.body) } : {}),
      signal: req.signal,
      ...(req.idleTimeoutMs !== undefined ? { headersTimeout: req.idleTimeoutMs, bodyTimeout: req.idleTimeoutMs } : {}),
    });
  } catch (err) {
    throw classifyNetworkError(err, `${req.method ?? 'POST'} ${new URL(req.url).host}`, req.signal);
  }
  if (res.statusCode >= 200 && res.statusCode < 300) return { status: res.statusCode, headers: res.headers, body: res.body };
  let text = '';
  try {
    text = (await res.body.text()).slice(0, 4_000);
  } catch {
    // the body is only for the message
  }
  throw new UpstreamError(`upstream answered ${res.statusCode}`, 'http', {
    status: res.statusCode,
    retryAfterMs: parseRetryAfter(headerValue(res.headers, 'retry-after')),
    upstreamMessage: describeError(res.statusCode, text),
  });
}

export async function readJson<T>(res: UpstreamResponse, what: string, signal: AbortSignal): Promise<T> {
  let text: string;
  try {
    text = await res.body.text();
  } catch (err) {
    throw classifyNetworkError(err, what, signal);
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new UpstreamError(`${what} returned invalid JSON`, 'protocol', { cause: err });
  }
}

export interface SseEvent {
  event: string | undefined;
  data: string;
}

/**
 * Server-sent events from an upstream body, yielded as each event completes (no buffering
 * beyond the current event). Framing is eventsource-parser's: \n, \r\n and a lone \r end a
 * line, comments and unknown fields are skipped, multi-line data is joined with \n, and a
 * chunk may end anywhere (mid-line, between \r and \n, mid UTF-8 sequence).
 *
 * One leniency over the spec: an event whose closing blank line never came (the upstream
 * closed right after its last `data:` line) is still delivered at the end of the body.
 */
export async function* readSse(body: AsyncIterable<Buffer | string>, what: string, signal: AbortSignal): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let ready: SseEvent[] = [];
  const parser = createParser({
    onEvent: (message) => {
      ready.push({ event: message.event, data: message.data });
    },
  });
  const drain = function* (): Generator<SseEvent> {
    const events = ready;
    ready = [];
    yield* events;
  };
  try {
    for await (const chunk of body) {
      parser.feed(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
      if (ready.length > 0) yield* drain();
    }
  } catch (err) {
    throw classifyNetworkError(err, what, signal);
  }
  // The end of the body ends the last line and the last event.
  parser.feed(`${decoder.decode()}\n\n`);
  yield* drain();
}

/** JSON of one SSE data payload, or a protocol error. */
export function parseEventJson<T>(data: string, what: string): T {
  try {
    return JSON.parse(data) as T;
  } catch (err) {
    throw new UpstreamError(`${what} sent an invalid stream event`, 'protocol', { cause: err });
  }
}
