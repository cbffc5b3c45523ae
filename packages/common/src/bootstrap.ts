import type { Kysely } from 'kysely';
import { z } from 'zod';
import { type BaseConfig, ConfigError, envOptionalBoolean, parseConfig } from './config';
import { createDb, migrateToLatest, type Migrations, pingDb } from './db';
import { createService, type Service } from './http/create-service';
import { Readiness } from './http/readiness';
import { type Closer, type ServerOptions, startServer } from './http/server';
import { createLogger, type Logger } from './logger';
import { createMetrics, type Metrics, observeRedis } from './metrics';
import { observeQueues } from './queues';
import { createRedis, pingRedis, type Redis } from './redis';

export type ProcessRole = 'all' | 'api' | 'worker';

/**
 * `--role=api`: the routes only; `--role=worker`: the workers behind a health, readiness and
 * metrics listener; `--role=all` (default): both (workers as RUN_WORKERS_IN_API says).
 */
export function roleFromArgv(argv: string[] = process.argv): ProcessRole {
  const arg = argv.find((a) => a.startsWith('--role='));
  const role = arg?.slice('--role='.length) ?? process.env['PROCESS_ROLE'] ?? 'all';
  if (role !== 'all' && role !== 'api' && role !== 'worker') {
    process.stderr.write(`Invalid --role: ${role} (expected all, api or worker)\n`);
    process.exit(1);
  }
  return role;
}

export interface ServiceConfig extends BaseConfig {
  PORT: number;
  DB_SCHEMA: string;
}

/** What runService builds for every service from config and hands its buildDeps (the base). */
export interface ServiceDeps<C extends ServiceConfig> {
  config: C;
  role: ProcessRole;
  logger: Logger;
  metrics: Metrics;
  db: Kysely<any>;
  /** Fail-fast connection for the request path. */
  redis: Redis;
  /** Connection for BullMQ queues and workers. */
  queueRedis: Redis;
  readiness: Readiness;
}

/**
 * What a service's deps are built from: runService's base, or a test's own connections (no role,
 * no queue connection, readiness optional).
 */
export type DepsSources<C extends ServiceConfig> = Pick<ServiceDeps<C>, 'config' | 'logger' | 'metrics' | 'db' | 'redis'> & { readiness?: Readiness };

/** What a service's `startWorkers(deps)` hands back: closed first on shutdown, before its deps. */
export interface ServiceWorkers {
  closers: Closer[];
}

/** What a service's `buildDeps` returns at least: its own closers (queues, publishers, pools). */
export interface BuiltDeps {
  /** Closed after the workers (workers before queues), before Redis and Postgres. */
  closers: Closer[];
}

/** Slow-client guards for the HTTP server (the gateway and upload set their own). */
export type ServerTimeouts = Pick<ServerOptions, 'headersTimeoutMs' | 'requestTimeoutMs' | 'keepAliveTimeoutMs'>;

export interface RunServiceOptions<C extends ServiceConfig, D extends BuiltDeps> {
  name: string;
  config: C;
  migrations: Migrations;
  /** src/deps.ts: every dependency of the routes and the workers, built once from the base. */
  buildDeps: (base: ServiceDeps<C>) => Promise<D> | D;
  /** src/app.ts: the express app, routes only (no timers, no workers). */
  api: (deps: D) => Service;
  /** src/workers.ts: queue workers and periodic loops; a service without any leaves it out. */
  workers?: (deps: D) => Promise<ServiceWorkers> | ServiceWorkers;
  server?: (config: C) => ServerTimeouts;
  role?: ProcessRole;
  /** Flushes traces at exit. */
  tracing?: { shutdown: () => Promise<void> };
  /** Where deprecated settings are read from (tests); default process.env. */
  env?: Record<string, string | undefined>;
}

/** Closes in order, each after the one before (tests that built a service's deps themselves). */
export async function closeAll(closers: Closer[]): Promise<void> {
  for (const closer of closers) await closer.close();
}

/**
 * The per-service names RUN_WORKERS_IN_API replaced, still honoured (with a warning) for one
 * release so a running deployment keeps its behaviour; remove after that release.
 */
export const DEPRECATED_RUN_WORKERS_NAMES: Readonly<Record<string, string>> = {
  credits: 'MAINTENANCE_IN_API',
  webhook: 'WEBHOOK_RUN_WORKERS',
};

/** RUN_WORKERS_IN_API when set, else the service's deprecated name when set (with a warning), else true. */
export function runWorkersInApi(
  name: string,
  config: Pick<BaseConfig, 'RUN_WORKERS_IN_API'>,
  logger: Logger,
  env: Record<string, string | undefined> = process.env,
): boolean {
  const deprecated = DEPRECATED_RUN_WORKERS_NAMES[name];
  const old = deprecated === undefined ? undefined : parseConfig(z.object({ [deprecated]: envOptionalBoolean() }), env)[deprecated];
  if (config.RUN_WORKERS_IN_API !== undefined) {
    if (old !== undefined) logger.warn(`${deprecated} is deprecated and ignored: RUN_WORKERS_IN_API is set`, { setting: deprecated });
    return config.RUN_WORKERS_IN_API;
  }
  if (old !== undefined) {
    logger.warn(`${deprecated} is deprecated: set RUN_WORKERS_IN_API=${old} instead (read for one more release)`, { setting: deprecated });
    return old;
  }
  return true;
}

/**
 * `--role=worker`: health, readiness and metrics only, the same for every service; the work
 * happens in the workers.
 */
export function workerOnlyService(name: string, base: Pick<ServiceDeps<ServiceConfig>, 'logger' | 'metrics' | 'readiness'>): Service {
  return createService({ name: `${name}-worker`, logger: base.logger, metrics: base.metrics, readiness: base.readiness, routes: () => undefined });
}

export interface AssembledProcess {
  service: Service;
  /** The workers' closers, then the deps' own. */
  closers: Closer[];
  workersStarted: boolean;
}

/**
 * What a process of `role` runs, given its built deps: `api` the routes only, `worker` the
 * workers behind the health-only listener, `all` the routes plus the workers unless
 * RUN_WORKERS_IN_API (or its deprecated name) is false.
 */
export async function assembleProcess<C extends ServiceConfig, D extends BuiltDeps>(
  options: Pick<RunServiceOptions<C, D>, 'name' | 'api' | 'workers' | 'env'> & { role: ProcessRole; base: ServiceDeps<C>; deps: D },
): Promise<AssembledProcess> {
  const { name, role, base, deps } = options;
  if (role === 'worker' && !options.workers) throw new ConfigError(`${name} has no workers: run it with --role=api or --role=all`);
  const runWorkers = role === 'worker' || (role === 'all' && runWorkersInApi(name, base.config, base.logger, options.env));
  const service = role === 'worker' ? workerOnlyService(name, base) : options.api(deps);
  const workers = runWorkers && options.workers ? await options.workers(deps) : undefined;
  return { service, closers: [...(workers?.closers ?? []), ...deps.closers], workersStarted: workers !== undefined };
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string; errors?: { message?: string }[] };
  return e?.code ? `${e.code} ${e.message ?? ''}`.trim() : e?.message || e?.errors?.[0]?.message || String(err);
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}

/**
 * The whole life of one service process: dependencies, migrations (under a lock), the app,
 * listen, and graceful shutdown on SIGTERM/SIGINT. A dependency that is unreachable at start
 * stops the process with one clear line, not a stack trace.
 */
export async function runService<C extends ServiceConfig, D extends BuiltDeps>(options: RunServiceOptions<C, D>): Promise<void> {
  const { config, name } = options;
  const role = options.role ?? roleFromArgv();
  const logger = createLogger({ service: role === 'worker' ? `${name}-worker` : name, level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });
  const metrics = createMetrics(name);
  const db = createDb<any>({
    connectionString: config.DATABASE_URL,
    schema: config.DB_SCHEMA,
    poolMax: config.DATABASE_POOL_MAX,
    applicationName: name,
    observe: { registry: metrics.registry, logger, slowQueryMs: config.DB_SLOW_QUERY_MS, leakWarnMs: config.DB_LEAK_WARN_MS },
  });
  const redis = createRedis(config.REDIS_URL, 'request');
  const queueRedis = createRedis(config.REDIS_URL, 'queue');
  observeRedis(metrics, { request: redis, queue: queueRedis });
  observeQueues(metrics);
  // Errors are reported by readiness checks and by the operations that hit them.
  redis.on('error', () => undefined);
  queueRedis.on('error', () => undefined);

  const fail = (what: string, err: unknown): never => {
    process.stderr.write(`${name}: ${what}: ${describe(err)}\n`);
    process.exit(1);
  };

  try {
    await pingDb(db);
  } catch (err) {
    fail(`cannot reach PostgreSQL at ${redactUrl(config.DATABASE_URL)} (set DATABASE_URL)`, err);
  }
  try {
    await pingRedis(redis);
  } catch (err) {
    fail(`cannot reach Redis at ${redactUrl(config.REDIS_URL)} (set REDIS_URL)`, err);
  }
  try {
    await migrateToLatest(db, config.DB_SCHEMA, options.migrations, logger);
  } catch (err) {
    fail('migrations failed', err);
  }

  const readiness = new Readiness();
  readiness.register('postgres', () => pingDb(db)).register('redis', () => pingRedis(redis));
  const base: ServiceDeps<C> = { config, role, logger, metrics, db, redis, queueRedis, readiness };
  // A bad setting found while wiring (a routing file, a worker role without workers): one line.
  const built = await Promise.resolve()
    .then(async () => assembleProcess({ ...options, role, base, deps: await options.buildDeps(base) }))
    .catch((err: unknown) => (err instanceof ConfigError ? fail('cannot start', err) : Promise.reject(err)));

  // With METRICS_PORT, the operator endpoints get their own listener (not published by the
  // Ingress); it stays up while the public one drains, so readiness probes see the 503.
  const metricsPort = config.METRICS_PORT;
  const ops =
    metricsPort === undefined
      ? undefined
      : await startServer({ app: built.service.app, port: metricsPort, host: config.HOST, logger, serve: 'ops' }).catch((err: unknown) =>
          fail(`cannot listen on ${config.HOST}:${metricsPort} (METRICS_PORT)`, err),
        );
  await startServer({
    app: built.service.app,
    port: config.PORT,
    host: config.HOST,
    logger,
    readiness: built.service.readiness,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    handleSignals: true,
    serve: ops ? 'public' : 'all',
    ...options.server?.(config),
    closers: [
      ...(ops ? [{ name: 'metrics listener', close: () => ops.shutdown('service stopped') }] : []),
      ...built.closers,
      { name: 'redis', close: () => Promise.all([redis.quit(), queueRedis.quit()]) },
      { name: 'postgres', close: () => db.destroy() },
      { name: 'tracing', close: () => options.tracing?.shutdown() ?? Promise.resolve() },
    ],
  }).catch((err: unknown) => fail(`cannot listen on ${config.HOST}:${config.PORT}`, err));
  logger.info('ready', { role, port: config.PORT, workers: built.workersStarted });
}
