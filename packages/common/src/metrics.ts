import type { NextFunction, Request, Response } from 'express';
import client from 'prom-client';

export interface Metrics {
  registry: client.Registry;
  httpRequestsTotal: client.Counter<'method' | 'route' | 'status'>;
  httpRequestDuration: client.Histogram<'method' | 'route' | 'status'>;
}

/** A registry per service (not the global one), so tests can build many apps in one process. */
export function createMetrics(service: string, options: { collectDefault?: boolean } = {}): Metrics {
  const registry = new client.Registry();
  registry.setDefaultLabels({ service });
  if (options.collectDefault ?? true) client.collectDefaultMetrics({ register: registry });
  const httpRequestsTotal = new client.Counter({
    name: 'http_requests_total',
    help: 'HTTP requests handled, by route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const httpRequestDuration = new client.Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration in seconds, by route template',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  return { registry, httpRequestsTotal, httpRequestDuration };
}

/**
 * The route template a request matched (`/v1/files/:id`), never the raw path, so label
 * cardinality stays bounded. Unmatched requests are grouped as "unmatched".
 */
export function routeTemplate(req: Request): string {
  const routePath: unknown = (req as Request & { route?: { path?: unknown } }).route?.path;
  if (typeof routePath === 'string') return `${req.baseUrl}${routePath}` || '/';
  const label = (req as Request & { metricsRoute?: string }).metricsRoute;
  return label ?? 'unmatched';
}

export function metricsMiddleware(metrics: Metrics) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const start = process.hrtime.bigint();
    // Express restores req.baseUrl when a router exits, so the template is read while the
    // handler is still writing its headers, not at 'finish'.
    let route: string | undefined;
    const writeHead = res.writeHead;
    res.writeHead = function patchedWriteHead(this: Response, ...args: unknown[]) {
      route ??= routeTemplate(req);
      return (writeHead as (...a: unknown[]) => Response).apply(this, args);
    } as typeof res.writeHead;
    res.once('finish', () => {
      const labels = { method: req.method, route: route ?? routeTemplate(req), status: String(res.statusCode) };
      metrics.httpRequestsTotal.inc(labels);
      metrics.httpRequestDuration.observe(labels, Number(process.hrtime.bigint() - start) / 1e9);
    });
    next();
  };
}

/**
 * `redis_up{connection}`: 1 while the connection is ready. Read from the client's state at
 * scrape time; the request connection failing means rate limits run failed open or closed and
 * idempotency records are not written, the queue connection failing means jobs wait.
 */
export function observeRedis(metrics: Metrics, connections: Record<string, { status: string }>): void {
  new client.Gauge({
    name: 'redis_up',
    help: 'Whether this process is connected to Redis (1) or not (0), by connection (request, queue)',
    labelNames: ['connection'] as const,
    registers: [metrics.registry],
    collect() {
      for (const [connection, redis] of Object.entries(connections)) this.set({ connection }, redis.status === 'ready' ? 1 : 0);
    },
  });
}

/**
 * Series on one service's registry, one line each: `series.counter(name, help, labelNames)`. The
 * label names' literal types carry into the metric, so a wrong label is a type error.
 */
export function seriesOn(metrics: Metrics) {
  const registers = [metrics.registry];
  return {
    counter: <L extends string = string>(name: string, help: string, labelNames: readonly L[] = []): client.Counter<L> =>
      new client.Counter<L>({ name, help, labelNames, registers }),
    histogram: <L extends string = string>(name: string, help: string, buckets: number[], labelNames: readonly L[] = []): client.Histogram<L> =>
      new client.Histogram<L>({ name, help, labelNames, buckets, registers }),
    /** `collect` runs at scrape time (values read from the database, Redis or memory then). */
    gauge: <L extends string = string>(name: string, help: string, labelNames: readonly L[] = [], collect?: (this: client.Gauge<L>) => void | Promise<void>): client.Gauge<L> =>
      new client.Gauge<L>({ name, help, labelNames, registers, ...(collect ? { collect } : {}) }),
  };
}

/**
 * prom-client itself, for services' own counters and histograms: with pnpm's strict layout a
 * service can only import what it depends on, and one copy of the library must own the registry.
 */
export { client as promClient };
