import dns, { type LookupAddress } from 'node:dns';
import type { LookupFunction, Socket } from 'node:net';
import { parseRetryAfter } from '@tollgate/common';
import { Agent, buildConnector, request } from 'undici';
import { type AllowList, ipLiteralOf, isAllowedTarget } from './address-policy';

/** A connection refused because the address it would reach is private (SSRF guard). */
export class BlockedTargetError extends Error {
  readonly code = 'ERR_WEBHOOK_BLOCKED_TARGET';
  constructor(
    readonly host: string,
    readonly address: string,
  ) {
    super(`Refused to connect to ${host}: ${address} is not a public address`);
    this.name = 'BlockedTargetError';
  }
}

/** The DNS resolver, behind the node signature so tests can serve names from a table. */
export type Resolver = (
  hostname: string,
  options: dns.LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

export const systemResolver: Resolver = (hostname, options, callback) => dns.lookup(hostname, options, callback);

/**
 * A `lookup` for net/tls that resolves every address of the name and refuses the connection
 * when any of them is not allowed, so what is dialled has always been checked (DNS rebinding
 * between an earlier check and the connect gains nothing: this is the connect).
 */
export function guardedLookup(allow: AllowList, resolve: Resolver = systemResolver): LookupFunction {
  return ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err);
      if (!addresses || addresses.length === 0)
        return callback(Object.assign(new Error(`No address for ${hostname}`), { code: 'ENOTFOUND' }));
      const blocked = addresses.find((a) => !isAllowedTarget(a.address, allow));
      if (blocked) return callback(new BlockedTargetError(hostname, blocked.address));
      if (options.all) return callback(null, addresses);
      return callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  }) as LookupFunction;
}

export type ErrorClass =
  | 'http_status'
  | 'redirect'
  | 'timeout'
  | 'connection_refused'
  | 'connection_error'
  | 'dns_error'
  | 'tls_error'
  | 'blocked_target'
  | 'invalid_target';

export interface SendRequest {
  url: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface SendResult {
  ok: boolean;
  statusCode: number | null;
  errorClass: ErrorClass | null;
  /** One line about what went wrong (never a stack). */
  errorMessage: string | null;
  /** The first `responseBodyLimit` bytes of the response body, as text. */
  responseBody: string | null;
  responseBodyTruncated: boolean;
  /** From a Retry-After on 429/503. */
  retryAfterMs: number | null;
  latencyMs: number;
}

export interface WebhookHttpClient {
  send(req: SendRequest): Promise<SendResult>;
  close(): Promise<void>;
}

export interface SafeHttpClientOptions {
  allow: AllowList;
  /** Whole attempt: connect, send, headers and the (capped) body. */
  timeoutMs: number;
  responseBodyLimit: number;
  resolver?: Resolver;
  userAgent?: string;
}

function classify(err: unknown): { errorClass: ErrorClass; message: string } {
  // undici wraps connect errors; the interesting one may be a cause or two down.
  let e = err as (Error & { code?: string; cause?: unknown }) | undefined;
  for (let depth = 0; e && depth < 4; depth++) {
    if (e instanceof BlockedTargetError || e.code === 'ERR_WEBHOOK_BLOCKED_TARGET')
      return { errorClass: 'blocked_target', message: e.message };
    const code = e.code ?? '';
    if (
      e.name === 'TimeoutError' ||
      e.name === 'AbortError' ||
      code === 'UND_ERR_HEADERS_TIMEOUT' ||
      code === 'UND_ERR_BODY_TIMEOUT' ||
      code === 'UND_ERR_CONNECT_TIMEOUT' ||
      code === 'ETIMEDOUT'
    ) {
      return { errorClass: 'timeout', message: 'The endpoint did not answer in time' };
    }
    if (code === 'ECONNREFUSED') return { errorClass: 'connection_refused', message: 'Connection refused' };
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ENODATA')
      return { errorClass: 'dns_error', message: `DNS lookup failed (${code})` };
    if (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code))
      return { errorClass: 'tls_error', message: `TLS failed (${code})` };
    if (e.cause === undefined || e.cause === e) break;
    e = e.cause as typeof e;
  }
  const code = (err as { code?: string })?.code;
  return { errorClass: 'connection_error', message: code ? `Connection failed (${code})` : 'Connection failed' };
}

/**
 * POSTs webhook bodies through an undici Agent whose connector checks the address actually
 * dialled: IP-literal hosts before connecting, names through `guardedLookup`, and the socket's
 * remote address once connected. Redirects are never followed (undici's request does not).
 */
export function createSafeHttpClient(options: SafeHttpClientOptions): WebhookHttpClient {
  const { allow, timeoutMs } = options;
  const baseConnect = buildConnector({ timeout: timeoutMs, lookup: guardedLookup(allow, options.resolver) });
  const agent = new Agent({
    keepAliveTimeout: 4_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connect: (opts, callback) => {
      const literal = ipLiteralOf(opts.hostname);
      if (literal !== undefined && !isAllowedTarget(literal, allow)) {
        callback(new BlockedTargetError(opts.hostname, literal), null);
        return;
      }
      baseConnect(opts, (err, socket) => {
        if (err || !socket) {
          callback(err ?? new Error('connect failed'), null);
          return;
        }
        // Defence in depth: judge the peer we are actually connected to.
        const remote = (socket as Socket).remoteAddress;
        if (!remote || !isAllowedTarget(remote, allow)) {
          socket.destroy();
          callback(new BlockedTargetError(opts.hostname, remote ?? 'unknown'), null);
          return;
        }
        callback(null, socket);
      });
    },
  });
  const userAgent = options.userAgent ?? 'Tollgate-Webhooks/1.0';

  return {
    async send(req) {
      const started = performance.now();
      const elapsed = () => Math.round(performance.now() - started);
      let url: URL;
      try {
        url = new URL(req.url);
        if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('unsupported protocol');
      } catch {
        return {
          ok: false,
          statusCode: null,
          errorClass: 'invalid_target',
          errorMessage: 'The endpoint URL is not a valid http(s) URL',
          responseBody: null,
          responseBodyTruncated: false,
          retryAfterMs: null,
          latencyMs: 0,
        };
      }
      const signal = AbortSignal.timeout(timeoutMs);
      let statusCode: number | null = null;
      try {
        const res = await request(url, {
          method: 'POST',
          dispatcher: agent,
          signal,
          headers: { 'content-type': 'application/json', 'user-agent': userAgent, ...req.headers },
          body: req.body,
        });
        statusCode = res.statusCode;
        const chunks: Buffer[] = [];
        let size = 0;
        let truncated = false;
        try {
          for await (const chunk of res.body) {
            const buf = chunk as Buffer;
            const room = options.responseBodyLimit - size;
            if (buf.length > room) {
              if (room > 0) chunks.push(buf.subarray(0, room));
              size += Math.max(room, 0);
              truncated = true;
              break;
            }
            chunks.push(buf);
            size += buf.length;
          }
        } catch {
          // The status is what counts; a body cut short (deadline, reset) is kept as far as read.
          truncated = true;
        } finally {
          res.body.destroy();
        }
        const ok = statusCode >= 200 && statusCode < 300;
        const retryAfterHeader = res.headers['retry-after'];
        const retryAfterMs =
          statusCode === 429 || statusCode === 503
            ? (parseRetryAfter(Array.isArray(retryAfterHeader) ? retryAfterHeader[0] : retryAfterHeader) ?? null)
            : null;
        const redirect = statusCode >= 300 && statusCode < 400;
        return {
          ok,
          statusCode,
          errorClass: ok ? null : redirect ? 'redirect' : 'http_status',
          errorMessage: ok ? null : redirect ? `Redirect (${statusCode}) not followed` : `HTTP ${statusCode}`,
          responseBody: Buffer.concat(chunks).toString('utf8'),
          responseBodyTruncated: truncated,
          retryAfterMs,
          latencyMs: elapsed(),
        };
      } catch (err) {
        const { errorClass, message } = classify(signal.aborted ? signal.reason : err);
        return {
          ok: false,
          statusCode,
          errorClass,
          errorMessage: message,
          responseBody: null,
          responseBodyTruncated: false,
          retryAfterMs: null,
          latencyMs: elapsed(),
        };
      }
    },
    async close() {
      await agent.close();
    },
  };
}
