import { type Kysely, sql } from 'kysely';

/** Queued chat completions: the request, and once done its result or error. */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table async_jobs (
      id text primary key,
      tenant_id text not null,
      key_id text not null,
      request_id text not null,
      model text not null,
      status text not null,
      request jsonb not null,
      result jsonb,
      error jsonb,
      cost bigint,
      attempts smallint not null default 0,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      completed_at timestamptz,
      constraint async_jobs_status check (status in ('queued', 'running', 'succeeded', 'failed'))
    )`.execute(db);
  await sql`create index async_jobs_tenant_created on async_jobs (tenant_id, created_at desc)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table async_jobs`.execute(db);
}
