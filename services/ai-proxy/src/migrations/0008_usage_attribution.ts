import { type Kysely, sql } from 'kysely';

/**
 * Attribution on every usage row: the client's `X-Tollgate-Tags` (a flat string map), OpenAI's
 * `user` and `metadata` fields. A queued completion keeps its tags until its usage row is written.
 * The index serves reports that walk one tenant's rows in time order with a cursor.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table usage add column tags jsonb not null default '{}'::jsonb`.execute(db);
  await sql`alter table usage add column "user" text`.execute(db);
  await sql`alter table usage add column metadata jsonb`.execute(db);
  await sql`alter table async_jobs add column tags jsonb not null default '{}'::jsonb`.execute(db);
  await sql`create index usage_tenant_created_id on usage (tenant_id, created_at desc, id desc)`.execute(db);
  await sql`drop index usage_tenant_created`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`create index usage_tenant_created on usage (tenant_id, created_at desc)`.execute(db);
  await sql`drop index usage_tenant_created_id`.execute(db);
  await sql`alter table async_jobs drop column tags`.execute(db);
  await sql`alter table usage drop column metadata`.execute(db);
  await sql`alter table usage drop column "user"`.execute(db);
  await sql`alter table usage drop column tags`.execute(db);
}
