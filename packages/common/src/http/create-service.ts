import cors from 'cors';
import express, { type Express, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import helmet from 'helmet';
import type { BaseConfig } from '../config';
import { AppError } from '../errors';
import { identityMiddleware } from '../identity';
import type { Logger } from '../logger';
import { type Metrics, metricsMiddleware } from '../metrics';
import { docsRouter } from './docs';
import { assertJsonDepth } from './json-depth';
import { type ErrorFormat, errorHandler } from './error-handler';
import { Readiness } from './readiness';
import { receiveDeadline, type ReceiveDeadlineOptions } from './receive-deadline';
import { requestIdMiddleware } from './request-id';

/**
 * helmet's headers do not depend on the request with the options used here (no nonce or
 * function directives), so they are captured once from a dry run and replayed per request:
 * one loop of setHeader instead of twelve chained middlewares. A middleware that did anything
 * else (read the request, answer asynchronously, fail) is refused at startup.
 */
function staticHeadersOf(middleware: (req: Request, res: Response, next: (err?: unknown) => void) => void): (res: Response) => void {
  const steps: Array<[name: string, value: string | undefined]> = [];
  let done = false;
  const fakeRes = {
    setHeader: (name: string, value: unknown) => {
      if (typeof value !== 'string') throw new Error(`helmet set ${name} to a non-string`);
      steps.push([name, value]);
    },
    removeHeader: (name: string) => steps.push([name, undefined]),
  };
  const fakeReq = new Proxy({}, { get: (_t, prop) => { throw new Error(`helmet read req.${String(prop)}`); } });
  middleware(fakeReq as Request, fakeRes as unknown as Response, (err?: unknown) => {
    if (err) throw err;
    done = true;
  });
  if (!done) throw new Error('helmet did not finish synchronously');
  return (res) => {
    for (let i = 0; i < steps.length; i++) {
      const [name, value] = steps[i]!;
      if (value === undefined) res.removeHeader(name);
      else res.setHeader(name, value);
    }
  };
}

export interface ServiceOptions {
  name: string;
  logger: Logger;
  metrics: Metrics;
  readiness?: Readiness;
  /** Origins allowed by CORS; empty means no cross-origin browser access. */
  corsOrigins?: string[];
  /** Limit for JSON bodies; `false` leaves bodies unparsed (the gateway streams them). */
  jsonBodyLimit?: string | false;
  /** Deepest JSON nesting accepted (default 64). */
  maxJsonDepth?: number;
  /** A handler that has not started its response by then gets a 503 (streams are left alone). */
  requestTimeoutMs?: number;
  /** Requests (but the exempt ones, uploads) must arrive in full within this; see receiveDeadline. */
  receiveDeadline?: ReceiveDeadlineOptions;
  /** Log one line per request (off in benchmarks). */
  accessLog?: boolean;
  /** OpenAPI 3.1 document served at /openapi.json, with Swagger UI at /docs. */
  openapi?: () => Record<string, unknown>;
  /** Which error shape a request gets when its router did not say (OpenAI-compatible routes). */
  errorFormatFor?: (req: Request) => ErrorFormat;
  /** Mount the service's routers. */
  routes: (app: Express) => void;
}

export interface Service {
  app: Express;
  readiness: Readiness;
}

/**
 * The express app every Tollgate service is built on: security headers, request id and log
 * context, access log, metrics, health and readiness, docs, body limits, the 404 and the one
 * error handler, in that order.
 */
export function createService(options: ServiceOptions): Service {
  const { logger, metrics } = options;
  const readiness = options.readiness ?? new Readiness();
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  // Query strings are parsed flat: nested objects from `a[b]=c` are not an API we offer.
  app.set('query parser', 'simple');

  const securityHeaders = staticHeadersOf(
    helmet({
      contentSecurityPolicy: {
        useDefaults: true,
        // Swagger UI styles its components inline.
        directives: { 'style-src': ["'self'", "'unsafe-inline'"], 'img-src': ["'self'", 'data:'], 'upgrade-insecure-requests': null },
      },
      frameguard: { action: 'deny' },
      crossOriginResourcePolicy: { policy: 'same-site' },
    }),
  );
  app.use(requestIdMiddleware());
  if (options.receiveDeadline) app.use(receiveDeadline(options.receiveDeadline));
  // A NUL byte is never part of a valid path or query here, and PostgreSQL refuses it in text.
  // Then helmet's headers, replayed from one capture (the same names, values and order), and,
  // while draining, a request to keep-alive clients to reconnect elsewhere: one layer, not three.
  app.use((req: Request, res: Response, next: NextFunction) => {
    const url = req.url;
    if (url.includes('\0') || url.includes('%00')) throw new AppError('VALIDATION_FAILED', 'The URL contains a NUL byte');
    securityHeaders(res);
    if (readiness.isDraining) res.setHeader('Connection', 'close');
    next();
  });
  app.use(metricsMiddleware(metrics));
  if (options.accessLog ?? true) {
    app.use((req: Request, res: Response, next: NextFunction) => {
      const start = performance.now();
      res.once('finish', () => {
        if (req.path === '/healthz' || req.path === '/readyz' || req.path === '/metrics') return;
        logger.info('request', {
          method: req.method,
          path: req.path,
          status: res.statusCode,
          duration_ms: Math.round((performance.now() - start) * 10) / 10,
        });
      });
      next();
    });
  }

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', service: options.name });
  });
  app.get('/readyz', readiness.handler());
  app.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });
  const openapi = options.openapi;
  if (openapi) {
    // Tests check every response against it (packages/testkit/src/response-hook.ts).
    app.locals['openapi'] = openapi;
    app.get('/openapi.json', (_req, res) => {
      res.json(openapi());
    });
    app.use('/docs', docsRouter('/openapi.json'));
  }

  const timeoutMs = options.requestTimeoutMs;
  if (timeoutMs) {
    app.use((req: Request, res: Response, next: NextFunction) => {
      const timer = setTimeout(() => {
        if (!res.headersSent) {
          logger.warn('request timed out', { method: req.method, path: req.path, timeout_ms: timeoutMs });
          next(new AppError('SERVICE_UNAVAILABLE', 'The request took too long', { details: { timeout_ms: timeoutMs } }));
        }
      }, timeoutMs);
      res.once('close', () => clearTimeout(timer));
      res.once('finish', () => clearTimeout(timer));
      next();
    });
  }
  if (options.jsonBodyLimit !== false) {
    const maxDepth = options.maxJsonDepth ?? 64;
    app.use(express.json({ limit: options.jsonBodyLimit ?? '1mb', strict: true, verify: (_req, _res, buf) => assertJsonDepth(buf, maxDepth) }));
  }
  if (options.corsOrigins && options.corsOrigins.length > 0) {
    app.use(cors({ origin: options.corsOrigins, exposedHeaders: ['X-Request-ID', 'Retry-After', 'RateLimit', 'RateLimit-Policy'] }));
  }

  options.routes(app);

  app.use((req: Request, _res: Response, next: NextFunction) => {
    next(new AppError('NOT_FOUND', `No route for ${req.method} ${req.path.slice(0, 200)}`));
  });
  app.use(errorHandler(logger, options.errorFormatFor));
  return { app, readiness };
}

export interface InternalApiOptions extends Omit<ServiceOptions, 'routes'> {
  config: Pick<BaseConfig, 'CORS_ORIGINS' | 'BODY_LIMIT' | 'REQUEST_TIMEOUT_MS' | 'ACCESS_LOG' | 'INTERNAL_JWT_SECRET'>;
  /** Mounted in order, behind the identity check. */
  routers: RequestHandler[];
}

/**
 * A service behind the gateway: createService with CORS, body limit, request timeout and access log
 * from the base config (an option given here wins), and every router behind the identity token check.
 */
export function createInternalApi(options: InternalApiOptions): Service {
  const { config, routers, ...rest } = options;
  return createService({
    corsOrigins: config.CORS_ORIGINS,
    jsonBodyLimit: config.BODY_LIMIT,
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    accessLog: config.ACCESS_LOG,
    ...rest,
    routes: (app) => {
      app.use(identityMiddleware(config.INTERNAL_JWT_SECRET));
      for (const router of routers) app.use(router);
    },
  });
}
