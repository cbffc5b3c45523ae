import http from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import { createProxyMiddleware, type RequestHandler } from 'http-proxy-middleware';
import { AppError, type Logger, sendError } from '@tollgate/common';
import { type UpstreamName, matchUpstream } from './routes';

export interface ProxyOptions {
  upstreams: Record<UpstreamName, string>;
  timeoutMs: number;
  streamTimeoutMs: number;
  logger: Logger;
}

/** Hop-by-hop and identity headers a client must never get through to a service. */
export function stripClientIdentityHeaders(req: Request, _res: Response, next: NextFunction): void {
  for (const name of Object.keys(req.headers)) {
    if (name.startsWith('x-tollgate-')) delete req.headers[name];
  }
  next();
}

const TIMED_OUT = Symbol('timedOut');

/**
 * One streaming proxy per upstream (http-proxy-middleware): bodies and responses are piped,
 * never buffered, so SSE chunks and uploads flow through as they arrive. Refused or reset
 * upstreams answer 502, deadlines 504, both in the error envelope; a client that goes away
 * aborts the upstream request.
 */
export function createUpstreamProxy(options: ProxyOptions) {
  // A keep-alive pool per upstream: a new TCP connection per request would dominate latency.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512, keepAliveMsecs: 10_000 });
  const proxies = new Map<UpstreamName, { normal: RequestHandler<Request, Response>; streaming: RequestHandler<Request, Response> }>();

  const make = (name: UpstreamName, target: string, timeoutMs: number): RequestHandler<Request, Response> =>
    createProxyMiddleware<Request, Response>({
      target,
      agent,
      changeOrigin: false,
      xfwd: true,
      on: {
        proxyReq: (proxyReq, req, res) => {
          proxyReq.setTimeout(timeoutMs, () => {
            (req as Request & { [TIMED_OUT]?: boolean })[TIMED_OUT] = true;
            proxyReq.destroy(new Error(`upstream ${name} timed out after ${timeoutMs} ms`));
          });
          // The client left: stop the upstream work too (a streamed completion stops generating).
          res.once('close', () => {
            if (!res.writableFinished) proxyReq.destroy();
          });
        },
        error: (err, req, res) => {
          const request = req as Request & { [TIMED_OUT]?: boolean };
          const timedOut = request[TIMED_OUT] === true;
          options.logger.warn('upstream request failed', { upstream: name, err: (err as Error).message, code: (err as NodeJS.ErrnoException).code, timed_out: timedOut });
          const response = res as Response;
          if (!('headersSent' in response) || response.headersSent) {
            // The response had started (or this is a socket): cutting it is all that is left.
            (res as { destroy?: () => void }).destroy?.();
            return;
          }
          const appError = timedOut
            ? new AppError('UPSTREAM_TIMEOUT', `The ${name} service did not answer in time`)
            : new AppError('UPSTREAM_FAILED', `The ${name} service is unreachable`);
          sendError(request, response, appError, request.path.startsWith('/v1/chat') || request.path.startsWith('/v1/embeddings') ? 'openai' : 'envelope');
        },
      },
    });

  for (const [name, target] of Object.entries(options.upstreams) as [UpstreamName, string][]) {
    proxies.set(name, { normal: make(name, target, options.timeoutMs), streaming: make(name, target, options.streamTimeoutMs) });
  }

  const middleware = (req: Request, res: Response, next: NextFunction): void => {
    const route = matchUpstream(req.path);
    if (!route) {
      next();
      return;
    }
    (req as Request & { metricsRoute?: string }).metricsRoute = `proxy:${route.upstream}`;
    const proxy = proxies.get(route.upstream)!;
    void (route.streaming ? proxy.streaming : proxy.normal)(req, res, next);
  };
  return { middleware, agent };
}
