import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Express } from 'express';
import type { Logger } from '../logger';
import type { Readiness } from './readiness';

export type Closer = { name: string; close: () => Promise<unknown> };

export interface ServerOptions {
  app: Express;
  port: number;
  host?: string;
  logger: Logger;
  readiness?: Readiness;
  /** Hard deadline for the whole shutdown; past it connections are cut and we exit 1. */
  shutdownTimeoutMs?: number;
  /** Closed in order after the HTTP server stopped: workers, then queues, then pools. */
  closers?: Closer[];
  /** Slow-client guards: time to receive headers / the whole request. */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  /** Install SIGTERM/SIGINT handlers that shut down and exit (main.ts); tests leave it off. */
  handleSignals?: boolean;
  /**
   * `public`: everything but the operator endpoints (/metrics, /readyz); `ops`: only those and
   * /healthz (the METRICS_PORT listener); `all` (default): one listener serves everything.
   */
  serve?: 'all' | 'public' | 'ops';
}

const OPS_PATHS = new Set(['/metrics', '/readyz']);

/**
 * The path as express would route it (case-insensitive, trailing slash ignored), so `/Metrics/`
 * cannot slip past the split between the public and the operator listener.
 */
function routedPath(url: string | undefined): string {
  const path = (url ?? '/').split('?', 1)[0]!.toLowerCase().replace(/\/+$/, '');
  return path === '' ? '/' : path;
}

function refuseNotHere(req: http.IncomingMessage, res: http.ServerResponse): void {
  const body = JSON.stringify({ error: { code: 'NOT_FOUND', message: `No route for ${req.method} ${routedPath(req.url).slice(0, 200)}`, request_id: null } });
  res.writeHead(404, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) }).end(body);
}

// RFC 9112 §3.2.2: a server must accept the absolute form (`GET http://host/path`).
const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;

function refuseTarget(res: http.ServerResponse, message: string): void {
  const body = JSON.stringify({ error: { code: 'VALIDATION_FAILED', message, request_id: null } });
  res.writeHead(400, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close' }).end(body);
}

/**
 * Every request reaches the app in origin form: an absolute-form target is reduced to its path
 * and query here, once, because Express and http-proxy read it with the legacy URL parser, which
 * turns an odd authority (`http://a:b/v1/...`) into part of the path — so what a router matched
 * and what a check judged could differ. A fragment is never part of a request target.
 */
function originForm(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  let url = req.url ?? '/';
  if (url[0] !== '/') {
    const absolute = ABSOLUTE_FORM.exec(url);
    if (!absolute) {
      refuseTarget(res, 'The request target must be a path or an absolute URL');
      return false;
    }
    url = url.slice(absolute[0].length);
    if (url === '' || url[0] === '?') url = `/${url}`;
    req.url = url;
  }
  if (url.includes('#')) {
    refuseTarget(res, 'A request target has no fragment');
    return false;
  }
  return true;
}

function listenerHandler(app: Express, serve: 'all' | 'public' | 'ops'): http.RequestListener {
  if (serve === 'all') {
    return (req, res) => {
      if (originForm(req, res)) app(req, res);
    };
  }
  return (req, res) => {
    if (!originForm(req, res)) return;
    const path = routedPath(req.url);
    const ops = OPS_PATHS.has(path);
    if (serve === 'public' ? ops : !ops && path !== '/healthz') refuseNotHere(req, res);
    else app(req, res);
  };
}

export interface RunningServer {
  server: http.Server;
  port: number;
  url: string;
  /** Stop accepting, drain in-flight requests, close dependencies. Resolves true if drained in time. */
  shutdown: (reason?: string) => Promise<boolean>;
}

/**
 * Request and response classes born with the app's own prototypes. On arrival express re-parents
 * every req and res (`Object.setPrototypeOf(req, app.request)`); changing the prototype of a live
 * object drops V8's fast paths for everything that touches it afterwards. For an object that
 * already has that prototype the call is a no-op. Measured on a bare express proxy: 6.8k → 15k
 * req/s (scripts/bench/gateway). Node's IncomingMessage and ServerResponse are plain constructor
 * functions; should a later Node make them classes, this falls back to the defaults.
 */
export function expressBornClasses(app: Express): { IncomingMessage?: typeof http.IncomingMessage; ServerResponse?: typeof http.ServerResponse } {
  const isClass = (fn: unknown) => typeof fn === 'function' && /^class\b/.test(Function.prototype.toString.call(fn));
  if (isClass(http.IncomingMessage) || isClass(http.ServerResponse)) return {};
  const BaseRequest = http.IncomingMessage as unknown as (this: unknown, socket: Socket) => void;
  const BaseResponse = http.ServerResponse as unknown as (this: unknown, req: http.IncomingMessage, options?: unknown) => void;
  function ExpressRequest(this: unknown, socket: Socket) {
    BaseRequest.call(this, socket);
  }
  ExpressRequest.prototype = app.request;
  function ExpressResponse(this: unknown, req: http.IncomingMessage, options?: unknown) {
    BaseResponse.call(this, req, options);
  }
  ExpressResponse.prototype = app.response;
  return { IncomingMessage: ExpressRequest as unknown as typeof http.IncomingMessage, ServerResponse: ExpressResponse as unknown as typeof http.ServerResponse };
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { app, logger } = options;
  const server = http.createServer(
    {
      ...expressBornClasses(app),
      headersTimeout: options.headersTimeoutMs ?? 20_000,
      requestTimeout: options.requestTimeoutMs ?? 300_000,
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 65_000,
      maxHeaderSize: 16 * 1024,
    },
    listenerHandler(app, options.serve ?? 'all'),
  );
  // Requests Node rejects before express sees them (oversized headers, malformed request lines,
  // header timeouts) still get the error envelope instead of a bare status line.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const [status, code, message] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'VALIDATION_FAILED', 'Request headers are too large']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'VALIDATION_FAILED', 'The request took too long to arrive']
          : [400, 'VALIDATION_FAILED', 'Malformed HTTP request'];
    const body = JSON.stringify({ error: { code, message, request_id: null } });
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host && options.host !== '0.0.0.0' ? options.host : '127.0.0.1';

  let shuttingDown: Promise<boolean> | undefined;
  const shutdown = (reason = 'shutdown'): Promise<boolean> => {
    shuttingDown ??= (async () => {
      const deadlineMs = options.shutdownTimeoutMs ?? 25_000;
      logger.info('shutting down', { reason, deadline_ms: deadlineMs });
      options.readiness?.setDraining();
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), deadlineMs);
        timer.unref();
      });
      const drain = (async () => {
        // close() stops accepting and resolves once every in-flight response has finished;
        // idle keep-alive sockets are closed now, busy ones after their response.
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await closed;
        for (const closer of options.closers ?? []) {
          try {
            await closer.close();
          } catch (err) {
            logger.warn('closing a dependency failed', { dependency: closer.name, err });
          }
        }
        return true as const;
      })();
      const drained = await Promise.race([drain, deadline]);
      clearTimeout(timer);
      if (!drained) {
        logger.error('shutdown deadline passed; cutting remaining connections', { deadline_ms: deadlineMs });
        server.closeAllConnections();
      } else {
        logger.info('shutdown complete');
      }
      return drained;
    })();
    return shuttingDown;
  };

  if (options.handleSignals) {
    const onSignal = (signal: NodeJS.Signals) => {
      void shutdown(signal).then((ok) => process.exit(ok ? 0 : 1));
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }

  logger.info('listening', { port, serve: options.serve ?? 'all' });
  return { server, port, url: `http://${host}:${port}`, shutdown };
}
