import { randomBytes } from 'node:crypto';
import { type Kysely } from 'kysely';
import pg from 'pg';
import { withDefaultUser, createDb, createRedis, deleteByPrefix, ensureDatabase, migrateToLatest, type Migrations, type Redis } from '@tollgate/common';

/** Where tests run: their own database, never the one `npm start` uses. */
export const TEST_DATABASE_URL = process.env['TEST_DATABASE_URL'] ?? 'postgres://localhost:5432/tollgate_test';
export const TEST_REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

let databaseReady: Promise<void> | undefined;

/** Creates the test database once per process; tolerates another worker creating it first. */
export function ensureTestDatabase(): Promise<void> {
  databaseReady ??= ensureDatabase(TEST_DATABASE_URL).then(
    () => undefined,
    (err: { code?: string }) => {
      // 42P04 duplicate_database / 23505: another jest worker won the race.
      if (err.code === '42P04' || err.code === '23505') return undefined;
      throw err;
    },
  );
  return databaseReady!;
}

export interface TestEnv {
  /** Unique per test file: `t_<label>_<random>`. */
  schema: string;
  /** Unique Redis key prefix (and BullMQ prefix) for this file. */
  prefix: string;
  databaseUrl: string;
  redisUrl: string;
  db: Kysely<any>;
  redis: Redis;
  /** Run a service's migrations into this file's schema. */
  migrate(migrations: Migrations): Promise<void>;
  /** Drops the schema and deletes every key under the prefix; closes connections. */
  cleanup(): Promise<void>;
}

/**
 * One isolated Postgres schema and Redis prefix per test file, so files run in parallel
 * against the same servers without seeing each other's rows or keys.
 */
export async function createTestEnv(label = 'test'): Promise<TestEnv> {
  await ensureTestDatabase();
  const suffix = randomBytes(5).toString('hex');
  const safeLabel = label.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 30);
  const schema = `t_${safeLabel}_${suffix}`;
  const prefix = `test:${safeLabel}:${suffix}`;
  const db = createDb<any>({ connectionString: TEST_DATABASE_URL, schema, poolMax: 20 });
  const redis = createRedis(TEST_REDIS_URL, 'request', { lazyConnect: false });
  return {
    schema,
    prefix,
    databaseUrl: TEST_DATABASE_URL,
    redisUrl: TEST_REDIS_URL,
    db,
    redis,
    async migrate(migrations) {
      await migrateToLatest(db, schema, migrations);
    },
    async cleanup() {
      const client = new pg.Client({ connectionString: withDefaultUser(TEST_DATABASE_URL) });
      try {
        await db.destroy();
        await client.connect();
        await client.query(`drop schema if exists "${schema}" cascade`);
      } finally {
        await client.end().catch(() => undefined);
      }
      try {
        await deleteByPrefix(redis, prefix);
      } finally {
        redis.disconnect();
      }
    },
  };
}
