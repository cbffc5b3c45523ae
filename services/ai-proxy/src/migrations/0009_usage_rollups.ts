import { type Kysely, sql } from 'kysely';

/**
 * Daily rollups of usage, kept for good (raw rows live USAGE_RETENTION_DAYS): `usage_daily` has
 * one row per tenant, key, model and UTC day (what model/key/day reports read: tag sets would
 * multiply its rows), `usage_daily_tags` one per tenant, key, model, tag set and day (for
 * `group_by=tag:`). `usage_rollup_state.rolled_through` is the first day NOT yet rolled: reports
 * read rollups before it and raw rows from it on.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table usage_daily (
      tenant_id text not null,
      day date not null,
      key_id text not null,
      model text not null,
      requests bigint not null,
      input_tokens bigint not null,
      output_tokens bigint not null,
      cost bigint not null,
      primary key (tenant_id, day, key_id, model)
    )`.execute(db);
  await sql`create index usage_daily_day on usage_daily (day)`.execute(db);
  await sql`
    create table usage_daily_tags (
      tenant_id text not null,
      day date not null,
      key_id text not null,
      model text not null,
      tags jsonb not null,
      requests bigint not null,
      input_tokens bigint not null,
      output_tokens bigint not null,
      cost bigint not null,
      primary key (tenant_id, day, key_id, model, tags)
    )`.execute(db);
  await sql`create index usage_daily_tags_day on usage_daily_tags (day)`.execute(db);
  await sql`
    create table usage_rollup_state (
      id smallint primary key default 1,
      rolled_through date,
      constraint usage_rollup_state_one_row check (id = 1)
    )`.execute(db);
  await sql`insert into usage_rollup_state (id, rolled_through) values (1, null)`.execute(db);
  // The rollup walks one day of every tenant's rows at a time.
  await sql`create index usage_created on usage (created_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index usage_created`.execute(db);
  await sql`drop table usage_rollup_state`.execute(db);
  await sql`drop table usage_daily_tags`.execute(db);
  await sql`drop table usage_daily`.execute(db);
}
