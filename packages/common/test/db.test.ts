import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { createTestEnv, type TestEnv } from '@tollgate/testkit';
import { createDb, migrateToLatest } from '../src/db';

describe('database helpers on real Postgres', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv('db');
  });
  afterAll(async () => {
    await env.cleanup();
  });

  let applyCount = 0;
  const migrations: Record<string, Migration> = {
    '0001_create_widgets': {
      up: async (db: Kysely<any>) => {
        applyCount++;
        await db.schema.createTable('widgets').addColumn('id', 'bigserial', (c) => c.primaryKey()).addColumn('amount', 'bigint', (c) => c.notNull()).execute();
      },
    },
    '0002_add_name': {
      up: async (db: Kysely<any>) => {
        await db.schema.alterTable('widgets').addColumn('name', 'text').execute();
      },
    },
  };

  it('runs migrations once even when several replicas start together', async () => {
    const replicas = [0, 1, 2].map(() => createDb<any>({ connectionString: env.databaseUrl, schema: env.schema, poolMax: 2 }));
    try {
      const applied = await Promise.all(replicas.map((db) => migrateToLatest(db, env.schema, migrations)));
      expect(applyCount).toBe(1);
      expect(applied.flat().sort()).toEqual(['0001_create_widgets', '0002_add_name']);
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(`${env.schema}.kysely_migration`)}`.execute(env.db);
      expect(rows[0]!.n).toBe(2);
    } finally {
      await Promise.all(replicas.map((db) => db.destroy()));
    }
  });

  it("runs migrations past the pool's statement_timeout, then gives the connection its limit back", async () => {
    // One connection, so the statement after the migration runs on the connection that migrated.
    const db = createDb<any>({ connectionString: env.databaseUrl, schema: `${env.schema}_slow`, poolMax: 1, statementTimeoutMs: 200 });
    const holder = createDb<any>({ connectionString: env.databaseUrl, schema: `${env.schema}_slow`, poolMax: 1 });
    const slow: Record<string, Migration> = {
      '0001_slow': { up: async (m: Kysely<any>) => void (await sql`select pg_sleep(0.4)`.execute(m)) },
    };
    try {
      // Another replica holds the migration lock longer than the timeout: this one waits for it.
      const released = holder.connection().execute(async (conn) => {
        await sql`select pg_advisory_lock(hashtext(${`tollgate:migrate:${env.schema}_slow`}))`.execute(conn);
        await sql`select pg_sleep(0.4)`.execute(conn);
        await sql`select pg_advisory_unlock(hashtext(${`tollgate:migrate:${env.schema}_slow`}))`.execute(conn);
      });
      await new Promise((r) => setTimeout(r, 50));
      await expect(migrateToLatest(db, `${env.schema}_slow`, slow)).resolves.toEqual(['0001_slow']);
      await released;
      await expect(sql`select pg_sleep(0.4)`.execute(db)).rejects.toMatchObject({ code: '57014' });
    } finally {
      await sql`drop schema if exists ${sql.id(`${env.schema}_slow`)} cascade`.execute(env.db);
      await Promise.all([db.destroy(), holder.destroy()]);
    }
  });

  it('reads BIGINT as exact numbers and refuses values beyond 2^53', async () => {
    await env.db.insertInto('widgets').values({ amount: 9_007_199_254_740_991 }).execute();
    const row = await env.db.selectFrom('widgets').select('amount').executeTakeFirstOrThrow();
    expect(row.amount).toBe(9_007_199_254_740_991);
    await sql`insert into widgets (amount) values (9007199254740993)`.execute(env.db);
    await expect(env.db.selectFrom('widgets').select('amount').orderBy('id', 'desc').limit(1).execute()).rejects.toThrow(/safe integer/);
  });
});
