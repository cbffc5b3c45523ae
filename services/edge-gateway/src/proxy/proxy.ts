import { randomFillSync } from 'node:crypto';
import http from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import { createProxyMiddleware, type RequestHandler } from 'http-proxy-middleware';
import {
  AppError,
  type CircuitBreakerPolicy,
  CircuitState,
  createCircuitBreaker,
  INTERNAL_HEADERS,
  isBrokenCircuitError,
  type Logger,
  sendError,
} from '@tollgate/common';
import type { GatewayMetrics } from '../metrics';
import { gatewayState } from '../request-state';
import { hasBody, meterBody, tooLarge } from './body';
import { errorFormatForPath, matchUpstream, type UpstreamName } from './routes';

export interface ProxyOptions {
  upstreams: Record<UpstreamName, string>;
  timeoutMs: number;
  streamTimeoutMs: number;
  breaker: { consecutiveFailures: number; halfOpenAfterMs: number; halfOpenMaxMs?: number };
  logger: Logger;
  metrics: GatewayMetrics;
}

/**
 * Client-sent internal headers (the identity): only the gateway may set these. Other
 * `x-tollgate-*` headers are client options (`x-tollgate-cache`) and pass through.
 */
export function stripClientIdentityHeaders(req: Request, _res: Response, next: NextFunction): void {
  for (const name of INTERNAL_HEADERS) delete req.headers[name];
  next();
}

/** RFC 9110 §7.6.1 hop-by-hop fields, plus the legacy ones proxies still see. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'upgrade'];

function dropHopByHop(headers: http.IncomingHttpHeaders): void {
  const listed = headers.connection;
  if (typeof listed === 'string') {
    for (const name of listed.split(',')) {
      const field = name.trim().toLowerCase();
      // Never let a client hide end-to-end fields the gateway relies on.
      if (field && !INTERNAL_HEADERS.includes(field) && field !== 'x-request-id' && field !== 'traceparent') delete headers[field];
    }
  }
  for (const name of HOP_BY_HOP) delete headers[name];
}

/** 24 random bytes as hex, drawn from a pooled buffer: one getrandom call per 170 requests. */
const RANDOM_POOL = Buffer.alloc(4096);
let randomOffset = RANDOM_POOL.length;
function randomHex24(): string {
  if (randomOffset + 24 > RANDOM_POOL.length) {
    randomFillSync(RANDOM_POOL);
    randomOffset = 0;
  }
  const hex = RANDOM_POOL.toString('hex', randomOffset, randomOffset + 24);
  randomOffset += 24;
  return hex;
}

const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * A request without a usable W3C traceparent gets one, so every service logs the same trace id
 * even when the gateway itself is not exporting spans (with tracing on, the http
 * instrumentation replaces it with the gateway's own span context).
 */
function ensureTraceparent(req: Request): void {
  const incoming = req.headers.traceparent;
  if (typeof incoming === 'string' && TRACEPARENT.test(incoming)) return;
  delete req.headers.tracestate;
  const ids = randomHex24();
  req.headers.traceparent = `00-${ids.slice(0, 32)}-${ids.slice(32)}-01`;
}

interface ProxyExchange {
  upstream: UpstreamName;
  timedOut: boolean;
  clientGone: boolean;
  proxyReq?: http.ClientRequest;
  /** Settles the circuit breaker's view of this call. */
  settle: (failure?: Error) => void;
}

const EXCHANGE = Symbol('proxyExchange');
type ProxiedRequest = Request & { [EXCHANGE]?: ProxyExchange };

/**
 * One streaming proxy per upstream (http-proxy-middleware): bodies and responses are piped,
 * never buffered, so SSE chunks and uploads flow through as they arrive. Refused or reset
 * upstreams answer 502, deadlines 504, both in the error envelope (OpenAI's shape on its
 * routes); a circuit breaker per upstream answers 503 at once while open; a client that goes
 * away aborts the upstream request.
 */
export function createUpstreamProxy(options: ProxyOptions) {
  const { logger, metrics } = options;
  // A keep-alive pool per upstream: a new TCP connection per request would dominate latency.
  const agents = new Map<UpstreamName, http.Agent>();
  const proxies = new Map<UpstreamName, { normal: RequestHandler<Request, Response>; streaming: RequestHandler<Request, Response> }>();
  const breakers = new Map<UpstreamName, CircuitBreakerPolicy>();

  const make = (name: UpstreamName, target: string, agent: http.Agent, timeoutMs: number): RequestHandler<Request, Response> =>
    createProxyMiddleware<Request, Response>({
      target,
      agent,
      changeOrigin: false,
      xfwd: true,
      on: {
        // Emitted just before http-proxy pipes the body upstream: the one moment a 'data'
        // listener sees every chunk without buffering or pausing anything.
        start: (req) => {
          const request = req as ProxiedRequest;
          const state = gatewayState(request);
          if (!hasBody(request)) return;
          const chunked = request.headers['content-length'] === undefined;
          if (!chunked && !state.hashBody) return; // Content-Length was already checked against the limit.
          state.bodyDigest = meterBody(request, {
            limit: state.bodyLimit,
            hash: state.hashBody === true,
            onExceeded: () => {
              state.bodyTooLarge = true;
              request.unpipe();
              request[EXCHANGE]?.proxyReq?.destroy(tooLarge(state.bodyLimit));
            },
          });
        },
        proxyReq: (proxyReq, req, res) => {
          const exchange = (req as ProxiedRequest)[EXCHANGE]!;
          exchange.proxyReq = proxyReq;
          if (gatewayState(req as Request).bodyTooLarge) proxyReq.destroy(tooLarge(gatewayState(req as Request).bodyLimit));
          proxyReq.setTimeout(timeoutMs, () => {
            exchange.timedOut = true;
            proxyReq.destroy(new Error(`upstream ${name} timed out after ${timeoutMs} ms`));
          });
          // The client left: stop the upstream work too (a streamed completion stops generating).
          res.once('close', () => {
            if (!res.writableFinished) {
              exchange.clientGone = true;
              proxyReq.destroy();
            }
          });
        },
        proxyRes: (proxyRes, req) => {
          dropHopByHop(proxyRes.headers);
          // An upstream that answers is up, whatever the status: its own 502/503 (a failing AI
          // provider, its database away) carries the best advice for the client (Retry-After),
          // and counting it would cut every route of that service — all models because one
          // provider fails. The breaker counts what only the gateway sees: refused, reset, timed out.
          (req as ProxiedRequest)[EXCHANGE]!.settle();
        },
        error: (err, req, res) => {
          const request = req as ProxiedRequest;
          const exchange = request[EXCHANGE]!;
          const state = gatewayState(request);
          const response = res as Response;
          const tooBig = state.bodyTooLarge === true;
          if (exchange.clientGone || tooBig) exchange.settle();
          else exchange.settle(err);
          if (!tooBig && !exchange.clientGone) {
            metrics.upstreamFailures.inc({ upstream: name, kind: exchange.timedOut ? 'timeout' : 'unreachable' });
            logger.warn('upstream request failed', { upstream: name, err: err.message, code: (err as NodeJS.ErrnoException).code, timed_out: exchange.timedOut });
          }
          if (!('headersSent' in response) || response.headersSent) {
            // The response had started (or this is a socket): cutting it is all that is left.
            (res as { destroy?: () => void }).destroy?.();
            return;
          }
          let appError: AppError;
          if (tooBig) {
            // sendError closes the connection cleanly: the rest of the chunked body is unread.
            appError = tooLarge(state.bodyLimit);
          } else if (exchange.timedOut) {
            appError = new AppError('UPSTREAM_TIMEOUT', `The ${name} service did not answer in time`);
          } else {
            appError = new AppError('UPSTREAM_FAILED', `The ${name} service is unreachable`);
          }
          sendError(request, response, appError, errorFormatForPath(state.route.path));
        },
      },
    });

  for (const [name, target] of Object.entries(options.upstreams) as [UpstreamName, string][]) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 512, keepAliveMsecs: 10_000 });
    agents.set(name, agent);
    proxies.set(name, { normal: make(name, target, agent, options.timeoutMs), streaming: make(name, target, agent, options.streamTimeoutMs) });
    breakers.set(
      name,
      createCircuitBreaker({
        consecutiveFailures: options.breaker.consecutiveFailures,
        halfOpenAfterMs: options.breaker.halfOpenAfterMs,
        ...(options.breaker.halfOpenMaxMs !== undefined ? { halfOpenMaxMs: options.breaker.halfOpenMaxMs } : {}),
      }),
    );
  }

  const circuitOpen = (req: Request, res: Response, name: UpstreamName) => {
    metrics.upstreamFailures.inc({ upstream: name, kind: 'circuit_open' });
    if (res.headersSent) return;
    sendError(
      req,
      res,
      new AppError('SERVICE_UNAVAILABLE', `The ${name} service is failing; requests are paused briefly`, {
        headers: { 'Retry-After': String(Math.max(1, Math.ceil(options.breaker.halfOpenAfterMs / 1000))) },
      }),
      errorFormatForPath(gatewayState(req).route.path),
    );
  };

  const middleware = (req: Request, res: Response, next: NextFunction): void => {
    const state = req.gateway;
    // Only /v1 requests went through classification, authentication and limits.
    const route = state ? matchUpstream(state.route.path) : undefined;
    if (!route) {
      next();
      return;
    }
    (req as Request & { metricsRoute?: string }).metricsRoute = `proxy:${route.upstream}`;
    // While open, execute() refuses at once (BrokenCircuitError); once the half-open delay has
    // passed it lets one trial call through.
    const breaker = breakers.get(route.upstream)!;
    // While one trial call is out, cockatiel would hold every other call until the trial's
    // answer (up to the route's deadline): refuse them at once instead, as while open.
    if (breaker.state === CircuitState.HalfOpen) {
      circuitOpen(req, res, route.upstream);
      return;
    }
    dropHopByHop(req.headers);
    ensureTraceparent(req);
    const proxy = proxies.get(route.upstream)!;
    const handler = route.streaming ? proxy.streaming : proxy.normal;
    breaker
      .execute(
        () =>
          new Promise<void>((resolve, reject) => {
            const exchange: ProxyExchange = {
              upstream: route.upstream,
              timedOut: false,
              clientGone: false,
              settle: (failure) => (failure ? reject(failure) : resolve()),
            };
            (req as ProxiedRequest)[EXCHANGE] = exchange;
            // A client that leaves before any answer says nothing about the upstream's health.
            res.once('close', () => resolve());
            void handler(req, res, next);
          }),
      )
      .catch((err: unknown) => {
        // Failures were answered by the proxy's error handler; only the breaker's refusal is left.
        if (isBrokenCircuitError(err)) circuitOpen(req, res, route.upstream);
      });
  };

  return {
    middleware,
    breakerState: (name: UpstreamName) => breakers.get(name)!.state,
    close: () => {
      for (const agent of agents.values()) agent.destroy();
    },
  };
}
