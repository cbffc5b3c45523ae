import { type Kysely, sql } from 'kysely';

/** A queued completion keeps its key's budget (as submitted), so the worker's hold reserves it too. */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table async_jobs add column budget jsonb`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table async_jobs drop column if exists budget`.execute(db);
}
