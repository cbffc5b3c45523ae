import { Kysely, PostgresDialect, sql } from 'kysely';
import { type Migration, Migrator } from 'kysely/migration';
import pg from 'pg';
import type { Logger } from '../logger';
import { observePool, type PoolObservation } from './observe';

export { observePool, queryFingerprint, type PoolObservation } from './observe';

// BIGINT (int8) columns hold micro-credits, byte counts and count(*). They are read as JS
// numbers, which is exact up to 2^53 (9e9 credits); beyond that we refuse rather than round.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`BIGINT ${value} exceeds the safe integer range`);
  return n;
});

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function assertSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) throw new Error(`Invalid schema name: ${schema}`);
  return schema;
}

export interface DbOptions {
  connectionString: string;
  /** The service's own schema; every unqualified table name resolves there. */
  schema: string;
  poolMax?: number;
  /** Per-statement guard so a stuck query can't hold a pooled connection forever. */
  statementTimeoutMs?: number;
  applicationName?: string;
  /** Pool gauges, acquire histogram, slow-query log and leak warnings on this registry. */
  observe?: PoolObservation;
}

/**
 * The default URL (`postgres://localhost:5432/tollgate`) names no user; libpq would then use
 * $PGUSER or $USER, which a container or CI may not set. Fall back to `postgres`.
 */
export function withDefaultUser(connectionString: string): string {
  const url = new URL(connectionString);
  if (!url.username && !process.env['PGUSER'] && !process.env['USER']) url.username = 'postgres';
  return url.toString();
}

export function createPool(options: DbOptions): pg.Pool {
  const schema = assertSchemaName(options.schema);
  const pool = new pg.Pool({
    connectionString: withDefaultUser(options.connectionString),
    max: options.poolMax ?? 10,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 5_000,
    application_name: options.applicationName ?? schema,
    options: `-c search_path=${schema},public -c statement_timeout=${options.statementTimeoutMs ?? 30_000}`,
  });
  // An idle client whose server went away emits 'error' on the pool; unhandled, that would
  // crash the process. The pool drops the client and the next query reconnects.
  pool.on('error', () => undefined);
  // A client that is checked out but between statements (inside a transaction, or holding the
  // migration lock) emits 'error' itself when its server goes away; unhandled, that kills the
  // process. Its next query fails instead, and the pool discards it on release.
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  if (options.observe) observePool(pool, options.observe);
  return pool;
}

export function createDb<DB>(options: DbOptions): Kysely<DB> {
  return new Kysely<DB>({ dialect: new PostgresDialect({ pool: createPool(options) }) });
}

export type Migrations = Record<string, Migration>;

/**
 * Creates the schema and runs every pending migration while holding a session-level advisory
 * lock keyed by the schema, so replicas starting together never race (kysely's own migration
 * lock would also serialise them, but it does not cover the CREATE SCHEMA).
 */
export async function migrateToLatest(db: Kysely<any>, schema: string, migrations: Migrations, logger?: Logger): Promise<string[]> {
  assertSchemaName(schema);
  // kysely's migrator introspects the tables of every schema; a schema dropped by someone else
  // at that moment (parallel test files, a tenant teardown) fails that query. The whole batch
  // runs in one transaction, so trying again is safe.
  for (let attempt = 1; ; attempt++) {
    try {
      return await migrateOnce(db, schema, migrations, logger);
    } catch (err) {
      const message = String((err as Error)?.message ?? err);
      if (attempt >= 4 || !/does not exist|cache lookup failed|concurrent/i.test(message)) throw err;
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }
}

async function migrateOnce(db: Kysely<any>, schema: string, migrations: Migrations, logger?: Logger): Promise<string[]> {
  return db.connection().execute(async (conn) => {
    // The pool's statement_timeout (30 s) must not bound migrations: a replica waits for the
    // lock as long as another replica's migration takes, and a migration may rewrite a big table.
    await sql`set statement_timeout = 0`.execute(conn);
    try {
      await sql`select pg_advisory_lock(hashtext(${`tollgate:migrate:${schema}`}))`.execute(conn);
    } catch (err) {
      await sql`reset statement_timeout`.execute(conn).catch(() => undefined);
      throw err;
    }
    try {
      await sql`create schema if not exists ${sql.id(schema)}`.execute(conn);
      const migrator = new Migrator({
        db: conn.withSchema(schema),
        provider: { getMigrations: async () => migrations },
        migrationTableSchema: schema,
      });
      const { error, results } = await migrator.migrateToLatest();
      const applied = (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
      const failed = (results ?? []).find((r) => r.status === 'Error');
      if (error) {
        throw new Error(`Migration ${failed?.migrationName ?? '(unknown)'} failed in schema ${schema}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
      if (applied.length) logger?.info('migrations applied', { schema, applied });
      return applied;
    } finally {
      await sql`select pg_advisory_unlock(hashtext(${`tollgate:migrate:${schema}`}))`.execute(conn);
      // Back to the pool's own limit before the connection serves requests again.
      await sql`reset statement_timeout`.execute(conn);
    }
  });
}

export async function pingDb(db: Kysely<any>): Promise<void> {
  await sql`select 1`.execute(db);
}

/** Create the database named in the URL if it does not exist (used by `npm start`). */
export async function ensureDatabase(connectionString: string): Promise<boolean> {
  const url = new URL(connectionString);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!name) return false;
  const admin = new URL(withDefaultUser(connectionString));
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (rowCount) return false;
    await client.query(`create database "${name.replace(/"/g, '""')}"`);
    return true;
  } finally {
    await client.end();
  }
}
