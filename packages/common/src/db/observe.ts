import { createHash } from 'node:crypto';
import type pg from 'pg';
import client from 'prom-client';
import type { Logger } from '../logger';

export interface PoolObservation {
  registry: client.Registry;
  logger: Logger;
  /** A statement slower than this is logged (fingerprint only, never its parameters); 0: off. */
  slowQueryMs: number;
  /** A client checked out longer than this is logged once with the stack that took it; 0: off. */
  leakWarnMs: number;
  /** How often checked-out clients are looked at for leaks (tests shorten it). */
  leakCheckEveryMs?: number;
}

const ACQUIRE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * The statement with its literals replaced by `?` and whitespace collapsed, so one slow query
 * shape is one log line shape. Kysely sends parameters apart ($1…), and they are never logged.
 */
export function queryFingerprint(text: string): string {
  return text
    .replace(/'(?:[^']|'')*'/g, '?')
    .replace(/(?<![$\w])\d+(?:\.\d+)?\b/g, '?')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 1_000);
}

function queryText(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  if (arg && typeof arg === 'object' && typeof (arg as { text?: unknown }).text === 'string') return (arg as { text: string }).text;
  return undefined;
}

/**
 * Pool health for operators: gauges of total/idle/in-use/waiting connections, how long a
 * checkout waits, checkouts that timed out (answered 503 + Retry-After), slow statements and
 * clients held too long (leaks: a transaction that never ends, a forgotten release).
 * Returns a stop function for the leak timer.
 */
export function observePool(pool: pg.Pool, options: PoolObservation): () => void {
  const registers = [options.registry];
  const max = (pool as unknown as { options: { max: number } }).options.max;
  new client.Gauge({
    name: 'db_pool_connections',
    help: 'PostgreSQL pool connections by state (total, idle, in_use, waiting = checkouts queued for a connection)',
    labelNames: ['state'] as const,
    registers,
    collect() {
      this.set({ state: 'total' }, pool.totalCount);
      this.set({ state: 'idle' }, pool.idleCount);
      this.set({ state: 'in_use' }, pool.totalCount - pool.idleCount);
      this.set({ state: 'waiting' }, pool.waitingCount);
    },
  });
  new client.Gauge({
    name: 'db_pool_max',
    help: 'Most connections the PostgreSQL pool opens (DATABASE_POOL_MAX)',
    registers,
    collect() {
      this.set(max);
    },
  });
  const acquire = new client.Histogram({ name: 'db_pool_acquire_seconds', help: 'Time a checkout waited for a pooled connection', buckets: ACQUIRE_BUCKETS, registers });
  const acquireTimeouts = new client.Counter({
    name: 'db_pool_acquire_timeouts_total',
    help: 'Checkouts that gave up waiting for a connection (the request was answered 503 with Retry-After)',
    registers,
  });
  const slowQueries = new client.Counter({ name: 'db_slow_queries_total', help: 'Statements slower than DB_SLOW_QUERY_MS', registers });
  const leaks = new client.Counter({ name: 'db_pool_leak_warnings_total', help: 'Clients held longer than DB_LEAK_WARN_MS (each logged once with its checkout stack)', registers });

  // Checked-out clients: when and from where (the stack only when leak detection is on).
  const checkedOut = new Map<pg.PoolClient, { since: number; stack?: string; warned: boolean }>();
  const connect = pool.connect.bind(pool) as (cb?: (err: Error | undefined, c?: pg.PoolClient, done?: (release?: unknown) => void) => void) => Promise<pg.PoolClient> | undefined;
  const settle = (start: number, err: unknown, c: pg.PoolClient | undefined, stack: string | undefined) => {
    acquire.observe((performance.now() - start) / 1000);
    if (err) {
      if (/timeout exceeded when trying to connect/i.test(String((err as Error)?.message))) acquireTimeouts.inc();
      return;
    }
    if (c) checkedOut.set(c, { since: Date.now(), stack, warned: false });
  };
  (pool as { connect: unknown }).connect = function observedConnect(cb?: (err: Error | undefined, c?: pg.PoolClient, done?: (release?: unknown) => void) => void) {
    const start = performance.now();
    const stack = options.leakWarnMs > 0 ? new Error('checked out here').stack : undefined;
    if (typeof cb === 'function') {
      return connect((err, c, done) => {
        settle(start, err, c, stack);
        cb(err, c, done);
      });
    }
    return connect()!.then(
      (c) => {
        settle(start, undefined, c, stack);
        return c;
      },
      (err: unknown) => {
        settle(start, err, undefined, stack);
        throw err;
      },
    );
  };
  pool.on('release', (_err: Error | undefined, c: pg.PoolClient) => checkedOut.delete(c));
  pool.on('remove', (c: pg.PoolClient) => checkedOut.delete(c));

  if (options.slowQueryMs > 0) {
    pool.on('connect', (c: pg.PoolClient) => {
      const query = c.query.bind(c) as (...args: unknown[]) => unknown;
      (c as { query: unknown }).query = function observedQuery(...args: unknown[]) {
        const start = performance.now();
        const result = query(...args);
        if (result && typeof (result as Promise<unknown>).then === 'function') {
          const done = () => {
            const ms = performance.now() - start;
            if (ms < options.slowQueryMs) return;
            slowQueries.inc();
            const fingerprint = queryFingerprint(queryText(args[0]) ?? '(unknown)');
            options.logger.warn('slow query', {
              duration_ms: Math.round(ms),
              query_id: createHash('sha1').update(fingerprint).digest('hex').slice(0, 12),
              fingerprint,
            });
          };
          (result as Promise<unknown>).then(done, done);
        }
        return result;
      };
    });
  }

  if (options.leakWarnMs <= 0) return () => undefined;
  const timer = setInterval(
    () => {
      const now = Date.now();
      for (const held of checkedOut.values()) {
        if (held.warned || now - held.since < options.leakWarnMs) continue;
        held.warned = true;
        leaks.inc();
        options.logger.warn('database client held too long (leak?)', { held_ms: now - held.since, checked_out_at: held.stack });
      }
    },
    options.leakCheckEveryMs ?? Math.min(5_000, Math.max(50, Math.floor(options.leakWarnMs / 2))),
  );
  timer.unref();
  return () => clearInterval(timer);
}
