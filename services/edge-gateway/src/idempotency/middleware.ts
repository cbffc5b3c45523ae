import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import { AppError, type Logger } from '@tollgate/common';
import type { GatewayMetrics } from '../metrics';
import { drainAndHash, EMPTY_SHA256, hasBody, tooLarge } from '../proxy/body';
import { type GatewayRequestState, gatewayState } from '../request-state';
import type { CompletedRecord, IdempotencyStore } from './store';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
/** Printable ASCII without spaces, like Stripe's keys (UUIDs fit comfortably). */
const VALID_KEY = /^[\x21-\x7e]{1,255}$/;

/** Response headers that describe one delivery, not the stored result. */
const NOT_REPLAYED = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'date',
  'x-request-id',
  'ratelimit',
  'ratelimit-policy',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  'retry-after',
  'set-cookie',
]);

export interface IdempotencyOptions {
  store: IdempotencyStore;
  logger: Logger;
  metrics: GatewayMetrics;
  failOpen: boolean;
  maxResponseBytes: number;
  /** How long the in-flight lock may live: past the longest the request can run. */
  lockTtlMs: (req: Request) => number;
}

const isEventStream = (res: Response) => String(res.getHeader('content-type') ?? '').startsWith('text/event-stream');

/**
 * How the proxy finishes an idempotent request whose client left before the answer (proxy.ts).
 * The upstream may still complete it — and charge for it — so the key stays locked and the
 * answer is stored when it arrives: a retry gets 409 meanwhile, then the replay, never a second
 * run. Streamed answers are still cut (they bill what was delivered) and release the key.
 */
export interface DetachedUpstream {
  /** Set by the proxy when the request went upstream: a client leaving no longer releases the key. */
  adopted: boolean;
  /** The upstream's answer, watched from its headers on; stored if the client has gone when it ends. */
  watch(proxyRes: IncomingMessage): void;
  /** The upstream failed or was cut: a client that has gone releases the key so a retry runs. */
  abandon(): void;
}

const detachedUpstreams = new WeakMap<Request, DetachedUpstream>();
/** The idempotent request's hand-over for the proxy (undefined without an Idempotency-Key). */
export const detachedUpstreamOf = (req: Request): DetachedUpstream | undefined => detachedUpstreams.get(req);

function fingerprint(req: Request, bodySha256: string): string {
  return createHash('sha256').update(`${req.method}\n${gatewayState(req).route.path}\n${bodySha256}`).digest('hex');
}

/**
 * The body's SHA-256 once the first request is over. Bodies are never buffered for this:
 * local JSON routes hash the bytes their parser read anyway; proxied bodies (JSON or
 * multipart) are hashed while they stream to the upstream (see proxy.ts).
 */
async function bodyHashOf(req: Request, state: GatewayRequestState): Promise<string | undefined> {
  if (state.parsedBodySha256 !== undefined) return state.parsedBodySha256;
  if (state.bodyDigest) {
    const digest = await state.bodyDigest;
    return digest.complete ? digest.sha256 : undefined;
  }
  return hasBody(req) ? undefined : EMPTY_SHA256;
}

/**
 * Idempotency-Key on POST (docs/architecture.md): the first response is stored for 24 h and replayed with
 * `Idempotent-Replayed: true`; a repeat while the first runs gets 409; the same key with another
 * method, path or body gets 422. Records are per tenant. Not stored, so a retry runs again:
 * streamed (text/event-stream) responses, responses over the size cap, 409/429 and 5xx answers,
 * and requests the client abandoned before they went upstream. A proxied request the client
 * abandons keeps its lock and is stored when the upstream answers (see DetachedUpstream).
 */
export function createIdempotency(options: IdempotencyOptions) {
  const { store, metrics, logger } = options;

  function replay(res: Response, record: CompletedRecord): void {
    for (const [name, value] of Object.entries(record.headers)) res.setHeader(name, value);
    res.setHeader('Idempotent-Replayed', 'true');
    res.status(record.status).end(Buffer.from(record.body, 'base64'));
  }

  function recordResponse(req: Request, res: Response, key: string, token: string): void {
    const state = gatewayState(req);
    const chunks: Buffer[] = [];
    let size = 0;
    let storable = true;
    const collect = (chunk: unknown, encoding: unknown) => {
      if (!storable || chunk === undefined || chunk === null || typeof chunk === 'function') return;
      if (isEventStream(res)) {
        storable = false;
        chunks.length = 0;
        return;
      }
      const buffer = Buffer.isBuffer(chunk)
        ? chunk
        : typeof chunk === 'string'
          ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
          : Buffer.from(chunk as Uint8Array);
      size += buffer.length;
      if (size > options.maxResponseBytes) {
        storable = false;
        chunks.length = 0;
        return;
      }
      chunks.push(buffer);
    };
    const originalWrite = res.write;
    const originalEnd = res.end;
    res.write = function write(this: Response, chunk: unknown, ...rest: unknown[]) {
      collect(chunk, rest[0]);
      return (originalWrite as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as Response['write'];
    res.end = function end(this: Response, chunk?: unknown, ...rest: unknown[]) {
      collect(chunk, rest[0]);
      return (originalEnd as (...args: unknown[]) => Response).call(this, chunk, ...rest);
    } as Response['end'];

    const release = () =>
      store.release(key, token).catch((err: unknown) => logger.warn('could not release an idempotency key', { err: (err as Error).message }));

    /** Stores one finished answer (or releases the key when it is not to be replayed). */
    const keep = (status: number, rawHeaders: Record<string, number | string | string[] | undefined>, body: Buffer | undefined) => {
      void (async () => {
        if (body === undefined || status >= 500 || status === 409 || status === 429) return release();
        const bodySha = await bodyHashOf(req, state);
        if (bodySha === undefined) return release();
        const headers: Record<string, string | string[]> = {};
        for (const [name, value] of Object.entries(rawHeaders)) {
          if (value === undefined || NOT_REPLAYED.has(name)) continue;
          headers[name] = Array.isArray(value) ? value : String(value);
        }
        await store.complete(key, {
          state: 'completed',
          token,
          fingerprint: fingerprint(req, bodySha),
          status,
          headers,
          body: (state.redactStoredBody ?? ((b: Buffer) => b))(body).toString('base64'),
          completed_at: Date.now(),
        });
      })().catch((err: unknown) => logger.warn('could not store an idempotent response', { err: (err as Error).message }));
    };

    // The upstream's own view of its answer, for when the client is gone before it ends.
    let clientGone = false;
    let upstream: { status: number; headers: IncomingMessage['headers']; body: Buffer | undefined } | 'failed' | undefined;
    const settleDetached = () => {
      if (!clientGone || upstream === undefined) return;
      if (upstream === 'failed') void release();
      else keep(upstream.status, upstream.headers, upstream.body);
    };
    const detached: DetachedUpstream = {
      adopted: false,
      watch(proxyRes) {
        const parts: Buffer[] = [];
        let bytes = 0;
        let keepable = !String(proxyRes.headers['content-type'] ?? '').startsWith('text/event-stream');
        proxyRes.on('data', (chunk: Buffer) => {
          if (!keepable) return;
          bytes += chunk.length;
          if (bytes > options.maxResponseBytes) {
            keepable = false;
            parts.length = 0;
          } else parts.push(chunk);
        });
        proxyRes.once('end', () => {
          upstream ??= { status: proxyRes.statusCode ?? 502, headers: proxyRes.headers, body: keepable ? Buffer.concat(parts) : undefined };
          settleDetached();
        });
        proxyRes.once('aborted', () => detached.abandon());
        proxyRes.once('error', () => detached.abandon());
      },
      abandon() {
        upstream ??= 'failed';
        settleDetached();
      },
    };
    detachedUpstreams.set(req, detached);

    res.once('close', () => {
      if (res.writableFinished) return;
      clientGone = true;
      // Not upstream (yet): nothing can complete it, so a retry may run.
      if (!detached.adopted) void release();
      else settleDetached();
    });
    res.once('finish', () => {
      keep(res.statusCode, res.getHeaders(), storable && !isEventStream(res) ? Buffer.concat(chunks) : undefined);
    });
  }

  return async function idempotency(req: Request, res: Response, next: NextFunction): Promise<void> {
    const raw = req.headers[IDEMPOTENCY_HEADER];
    // Only authenticated /v1 requests (classified by the gateway chain) are made idempotent.
    if (req.method !== 'POST' || raw === undefined || !req.gateway || !req.identity) {
      next();
      return;
    }
    if (typeof raw !== 'string' || !VALID_KEY.test(raw)) {
      throw new AppError('VALIDATION_FAILED', 'Idempotency-Key must be 1 to 255 printable ASCII characters', { details: { param: 'Idempotency-Key' } });
    }
    const state = gatewayState(req);
    const key = store.keyFor(req.identity!.tenantId, raw);
    const token = randomUUID();
    let begun;
    try {
      begun = await store.begin(key, token, options.lockTtlMs(req));
    } catch (err) {
      metrics.idempotency.inc({ outcome: 'store_error' });
      logger.error('idempotency store unavailable', { err: (err as Error).message, fail_open: options.failOpen });
      if (options.failOpen) {
        next();
        return;
      }
      throw new AppError('SERVICE_UNAVAILABLE', 'Idempotency keys cannot be honoured right now; retry shortly', { headers: { 'Retry-After': '1' }, cause: err });
    }

    if (!begun.acquired) {
      const record = begun.record;
      if (record.state === 'in_flight') {
        metrics.idempotency.inc({ outcome: 'in_flight' });
        res.setHeader('Connection', 'close');
        throw new AppError('CONFLICT', 'A request with this Idempotency-Key is still being processed', { headers: { 'Retry-After': '1' } });
      }
      // The repeat's body is read (and dropped) only to compare it with the first one.
      const digest = state.parsedBodySha256 !== undefined ? { sha256: state.parsedBodySha256, exceeded: false } : await drainAndHash(req, state.bodyLimit);
      if (digest.exceeded) throw tooLarge(state.bodyLimit);
      if (digest.sha256 === undefined || fingerprint(req, digest.sha256) !== record.fingerprint) {
        metrics.idempotency.inc({ outcome: 'mismatch' });
        throw new AppError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was already used with a different request', {
          details: { param: 'Idempotency-Key' },
        });
      }
      metrics.idempotency.inc({ outcome: 'replayed' });
      replay(res, record);
      return;
    }

    metrics.idempotency.inc({ outcome: 'new' });
    state.hashBody = true;
    recordResponse(req, res, key, token);
    next();
  };
}
