import http from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import { createProxyMiddleware, type RequestHandler } from 'http-proxy-middleware';
import {
  AppError,
  type CircuitBreakerPolicy,
  CircuitState,
  createCircuitBreaker,
  currentContext,
  formatTraceparent,
  INTERNAL_HEADERS,
  isBrokenCircuitError,
  isValidTraceparent,
  type Logger,
  sendError,
  traceIdsUnder,
} from '@tollgate/common';
import { detachedUpstreamOf } from '../idempotency/middleware';
import type { GatewayMetrics } from '../metrics';
import { gatewayState } from '../request-state';
import { hasBody, meterBody, tooLarge } from './body';
import type { UpstreamName } from './routes';

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
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'upgrade', 'expect'];

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

/**
 * The upstream's traceparent. Without the OpenTelemetry SDK the gateway's own span (from the
 * request context) becomes the parent; with it, the http instrumentation replaces the header
 * with its span context, so only a missing or unusable one needs filling in here.
 */
function ensureTraceparent(req: Request): void {
  const incoming = req.headers.traceparent;
  if (!isValidTraceparent(incoming)) delete req.headers.tracestate;
  const ids = currentContext()?.trace;
  if (ids) req.headers.traceparent = formatTraceparent(ids);
  else if (!isValidTraceparent(incoming)) req.headers.traceparent = formatTraceparent(traceIdsUnder(undefined));
}

interface ProxyExchange {
  upstream: UpstreamName;
  timedOut: boolean;
  clientGone: boolean;
  proxyReq?: http.ClientRequest;
  proxyRes?: http.IncomingMessage;
  /** Settles the circuit breaker's view of this call. */
  settle: (failure?: Error) => void;
}

const EXCHANGE = Symbol('proxyExchange');
type ProxiedRequest = Request & { [EXCHANGE]?: ProxyExchange };

/** An idempotent upstream keeps running after its client left unless its answer is a stream. */
const keepsRunning = (proxyRes: http.IncomingMessage | undefined) =>
  !String(proxyRes?.headers['content-type'] ?? '').startsWith('text/event-stream');

/** The client's socket is gone: read the rest of the answer for the idempotency record only. */
function drainDetached(proxyRes: http.IncomingMessage | undefined): void {
  if (!proxyRes) return;
  proxyRes.unpipe();
  proxyRes.resume();
}

/**
 * One streaming proxy per upstream (http-proxy-middleware): bodies and responses are piped,
 * never buffered, so SSE chunks and uploads flow through as they arrive. Refused or reset
 * upstreams answer 502, deadlines 504, both in the error envelope (OpenAI's shape on its
 * routes); a circuit breaker per upstream answers 503 at once while open; a client that goes
 * away aborts the upstream request — unless it sent an Idempotency-Key and the answer is not a
 * stream: then the upstream finishes (it may charge for the work) and the idempotency layer
 * stores its answer for the client's retry.
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
        // httpxy emits this from the upstream request's 'socket' event, in the same tick as (and
        // just before) it pipes the body: the one moment a 'data' listener sees every chunk
        // without buffering or pausing anything.
        proxyReq: (proxyReq, req, res) => {
          const exchange = (req as ProxiedRequest)[EXCHANGE]!;
          exchange.proxyReq = proxyReq;
          {
            const request = req as ProxiedRequest;
            const state = gatewayState(request);
            const chunked = request.headers['content-length'] === undefined;
            // Content-Length was already checked against the limit; nothing to meter unless asked to hash or keep it.
            if (hasBody(request) && (chunked || state.hashBody || state.keepBody)) {
              state.bodyDigest = meterBody(request, {
                limit: state.bodyLimit,
                hash: state.hashBody === true,
                keep: state.keepBody === true,
                onExceeded: () => {
                  state.bodyTooLarge = true;
                  request.unpipe();
                  proxyReq.destroy(tooLarge(state.bodyLimit));
                },
              });
            }
          }
          if (gatewayState(req as Request).bodyTooLarge) proxyReq.destroy(tooLarge(gatewayState(req as Request).bodyLimit));
          proxyReq.setTimeout(timeoutMs, () => {
            exchange.timedOut = true;
            proxyReq.destroy(new Error(`upstream ${name} timed out after ${timeoutMs} ms`));
          });
          const detached = detachedUpstreamOf(req as Request);
          if (detached) {
            detached.adopted = true;
            // httpxy destroys the upstream request when the client's response closes unfinished
            // (a listener it adds before this event). An idempotent, non-streamed call must finish
            // upstream (it may be billed): refuse that one call; ours pass an error or come after
            // clientGone is set with a streamed answer.
            const destroy = proxyReq.destroy.bind(proxyReq);
            proxyReq.destroy = ((err?: Error) => {
              if (err === undefined && !res.writableFinished && !exchange.clientGone && keepsRunning(exchange.proxyRes)) return proxyReq;
              return destroy(err);
            }) as typeof proxyReq.destroy;
          }
          // The client left: stop the upstream work too (a streamed completion stops generating),
          // unless an idempotent answer is still to come (see keepsRunning).
          res.once('close', () => {
            if (!res.writableFinished) {
              exchange.clientGone = true;
              if (detached && keepsRunning(exchange.proxyRes)) drainDetached(exchange.proxyRes);
              else proxyReq.destroy();
            }
          });
        },
        proxyRes: (proxyRes, req) => {
          const exchange = (req as ProxiedRequest)[EXCHANGE]!;
          exchange.proxyRes = proxyRes;
          const detached = detachedUpstreamOf(req as Request);
          if (detached) {
            // Likewise httpxy destroys the upstream answer when the client's response closes; a
            // detached one is read to its end for the idempotency record instead.
            if (keepsRunning(proxyRes)) {
              const destroyAnswer = proxyRes.destroy.bind(proxyRes);
              proxyRes.destroy = ((err?: Error) => (err === undefined && exchange.clientGone ? proxyRes : destroyAnswer(err))) as typeof proxyRes.destroy;
            }
            detached.watch(proxyRes);
            if (exchange.clientGone) {
              if (keepsRunning(proxyRes)) setImmediate(() => drainDetached(proxyRes));
              else exchange.proxyReq?.destroy();
            }
          }
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
          detachedUpstreamOf(request)?.abandon();
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
          sendError(request, response, appError, state.route.errorFormat);
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
      gatewayState(req).route.errorFormat,
    );
  };

  const middleware = (req: Request, res: Response, next: NextFunction): void => {
    // Only /v1 requests went through classification, authentication and limits; the gateway's
    // own routes were answered before this.
    const route = req.gateway?.route;
    // Nothing is forwarded that authorize did not pass, however Express routed it.
    if (!route || route.owner === 'gateway' || req.gateway?.authorized !== true) {
      next();
      return;
    }
    const upstream = route.owner;
    (req as Request & { metricsRoute?: string }).metricsRoute = `proxy:${upstream}`;
    // While open, execute() refuses at once (BrokenCircuitError); once the half-open delay has
    // passed it lets one trial call through.
    const breaker = breakers.get(upstream)!;
    // While one trial call is out, cockatiel would hold every other call until the trial's
    // answer (up to the route's deadline): refuse them at once instead, as while open.
    if (breaker.state === CircuitState.HalfOpen) {
      circuitOpen(req, res, upstream);
      return;
    }
    dropHopByHop(req.headers);
    ensureTraceparent(req);
    const proxy = proxies.get(upstream)!;
    const handler = route.streaming ? proxy.streaming : proxy.normal;
    breaker
      .execute(
        () =>
          new Promise<void>((resolve, reject) => {
            const exchange: ProxyExchange = {
              upstream: upstream,
              timedOut: false,
              clientGone: false,
              settle: (failure) => (failure ? reject(failure) : resolve()),
            };
            (req as ProxiedRequest)[EXCHANGE] = exchange;
            // A client that leaves before any answer says nothing about the upstream's health.
            res.once('close', () => resolve());
            // http-proxy-middleware 4 also calls next(err) after the error handler has answered.
            void handler(req, res, (err?: unknown) => {
              if (err === undefined) next();
            });
          }),
      )
      .catch((err: unknown) => {
        // Failures were answered by the proxy's error handler; only the breaker's refusal is left.
        if (isBrokenCircuitError(err)) circuitOpen(req, res, upstream);
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
