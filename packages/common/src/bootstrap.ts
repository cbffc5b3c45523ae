import type { Kysely } from 'kysely';
import { type BaseConfig } from './config';
import { createDb, migrateToLatest, type Migrations, pingDb } from './db';
import type { Service } from './http/create-service';
import { Readiness } from './http/readiness';
import { type Closer, type ServerOptions, startServer } from './http/server';
import { createLogger, type Logger } from './logger';
import { createMetrics, type Metrics, observeRedis } from './metrics';
import { observeQueues } from './queues';
import { createRedis, pingRedis, type Redis } from './redis';

export type ProcessRole = 'all' | 'api' | 'worker';

/** `--role=worker` runs only the service's workers (plus health endpoints); default: all. */
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

/** What main.ts hands the app factory: every dependency built once, from config. */
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

export interface BuiltService {
  service: Service;
  /** Closed first on shutdown (workers before queues), before Redis and Postgres. */
  closers?: Closer[];
  /** Slow-client guards for the HTTP server (the edge gateway sets its own). */
  server?: Pick<ServerOptions, 'headersTimeoutMs' | 'requestTimeoutMs' | 'keepAliveTimeoutMs'>;
}

export interface RunServiceOptions<C extends ServiceConfig> {
  name: string;
  config: C;
  migrations: Migrations;
  build: (deps: ServiceDeps<C>) => Promise<BuiltService> | BuiltService;
  role?: ProcessRole;
  /** Flushes traces at exit. */
  tracing?: { shutdown: () => Promise<void> };
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
export async function runService<C extends ServiceConfig>(options: RunServiceOptions<C>): Promise<void> {
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
  const built = await options.build({ config, role, logger, metrics, db, redis, queueRedis, readiness });

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
    ...built.server,
    closers: [
      ...(ops ? [{ name: 'metrics listener', close: () => ops.shutdown('service stopped') }] : []),
      ...(built.closers ?? []),
      { name: 'redis', close: () => Promise.all([redis.quit(), queueRedis.quit()]) },
      { name: 'postgres', close: () => db.destroy() },
      { name: 'tracing', close: () => options.tracing?.shutdown() ?? Promise.resolve() },
    ],
  }).catch((err: unknown) => fail(`cannot listen on ${config.HOST}:${config.PORT}`, err));
  logger.info('ready', { role, port: config.PORT });
}
