import { sql } from 'kysely';
import { captureLogger, createTestEnv, type TestEnv } from '@tollgate/testkit';
import { createDb, queryFingerprint } from '../src/db';
import { createMetrics } from '../src/metrics';

/** The value of one sample in the text exposition, or undefined when the series is missing. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('database pool observation (metrics, slow queries, leaks)', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv('dbobserve');
  });
  afterAll(async () => {
    await env.cleanup();
  });

  it('reports pool use, waiting checkouts and acquire timeouts', async () => {
    const metrics = createMetrics('t', { collectDefault: false });
    const { logger } = captureLogger();
    const db = createDb<any>({ connectionString: env.databaseUrl, schema: env.schema, poolMax: 2, observe: { registry: metrics.registry, logger, slowQueryMs: 0, leakWarnMs: 0 } });
    try {
      // Two transactions hold both connections; a third checkout waits, and is counted.
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const holders = [0, 1].map(() => db.transaction().execute(async (trx) => {
        await sql`select 1`.execute(trx);
        await gate;
      }));
      await new Promise((r) => setTimeout(r, 100));
      const third = sql`select 1`.execute(db);
      await new Promise((r) => setTimeout(r, 50));
      const during = await metrics.registry.metrics();
      expect(sample(during, 'db_pool_connections{state="in_use",service="t"}')).toBe(2);
      expect(sample(during, 'db_pool_connections{state="waiting",service="t"}')).toBe(1);
      expect(sample(during, 'db_pool_max{service="t"}')).toBe(2);
      release();
      await Promise.all([...holders, third]);
      const after = await metrics.registry.metrics();
      expect(sample(after, 'db_pool_connections{state="waiting",service="t"}')).toBe(0);
      expect(sample(after, 'db_pool_acquire_seconds_count{service="t"}')).toBeGreaterThanOrEqual(3);
      expect(sample(after, 'db_pool_acquire_timeouts_total{service="t"}')).toBe(0);
    } finally {
      await db.destroy();
    }
  });

  it('counts a checkout that times out waiting for a connection', async () => {
    const metrics = createMetrics('t', { collectDefault: false });
    const { logger } = captureLogger();
    const db = createDb<any>({ connectionString: env.databaseUrl, schema: env.schema, poolMax: 1, observe: { registry: metrics.registry, logger, slowQueryMs: 0, leakWarnMs: 0 } });
    try {
      // pg gives up on a checkout after connectionTimeoutMillis (5 s, createPool).
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const holder = db.transaction().execute(async (trx) => {
        await sql`select 1`.execute(trx);
        await gate;
      });
      await new Promise((r) => setTimeout(r, 100));
      await expect(sql`select 1`.execute(db)).rejects.toThrow(/timeout exceeded when trying to connect/);
      release();
      await holder;
      expect(sample(await metrics.registry.metrics(), 'db_pool_acquire_timeouts_total{service="t"}')).toBe(1);
    } finally {
      await db.destroy();
    }
  }, 20_000);

  it('logs a slow statement by fingerprint, never its parameters', async () => {
    const metrics = createMetrics('t', { collectDefault: false });
    const { logger, lines } = captureLogger();
    const db = createDb<any>({ connectionString: env.databaseUrl, schema: env.schema, observe: { registry: metrics.registry, logger, slowQueryMs: 50, leakWarnMs: 0 } });
    try {
      await sql`select pg_sleep(0.1), ${'secret-parameter'}::text as p, 'literal-secret' as l`.execute(db);
      await sql`select 1`.execute(db);
      await new Promise((r) => setImmediate(r));
      const slow = lines.filter((l) => l['message'] === 'slow query');
      expect(slow).toHaveLength(1);
      expect(slow[0]!['fingerprint']).toBe('select pg_sleep(?), $1::text as p, ? as l');
      expect(JSON.stringify(slow[0])).not.toMatch(/secret/);
      expect(sample(await metrics.registry.metrics(), 'db_slow_queries_total{service="t"}')).toBe(1);
    } finally {
      await db.destroy();
    }
  });

  it('warns once, with the checkout stack, about a client held too long', async () => {
    const metrics = createMetrics('t', { collectDefault: false });
    const { logger, lines } = captureLogger();
    const db = createDb<any>({
      connectionString: env.databaseUrl,
      schema: env.schema,
      observe: { registry: metrics.registry, logger, slowQueryMs: 0, leakWarnMs: 100, leakCheckEveryMs: 20 },
    });
    try {
      await db.transaction().execute(async (trx) => {
        await sql`select 1`.execute(trx);
        await new Promise((r) => setTimeout(r, 300));
      });
      await sql`select 1`.execute(db); // quick checkouts are not leaks
      await new Promise((r) => setTimeout(r, 100));
      const leaks = lines.filter((l) => String(l['message']).startsWith('database client held too long'));
      expect(leaks).toHaveLength(1);
      expect(String(leaks[0]!['checked_out_at'])).toMatch(/checked out here\n\s+at /);
      expect(sample(await metrics.registry.metrics(), 'db_pool_leak_warnings_total{service="t"}')).toBe(1);
    } finally {
      await db.destroy();
    }
  });

  it('fingerprints literals away', () => {
    expect(queryFingerprint("select * from t where a = 'x''y' and b = 42 and c = $1\n  limit 10")).toBe('select * from t where a = ? and b = ? and c = $1 limit ?');
  });
});
