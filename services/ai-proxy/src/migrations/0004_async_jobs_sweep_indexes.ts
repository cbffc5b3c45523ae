import { type Kysely, sql } from 'kysely';

/** What the recovery sweep and the retention prune scan, so neither reads the whole table. */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index async_jobs_in_flight_updated on async_jobs (updated_at) where status in ('queued', 'running')`.execute(db);
  await sql`create index async_jobs_finished_completed on async_jobs (completed_at) where status in ('succeeded', 'failed')`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index async_jobs_finished_completed`.execute(db);
  await sql`drop index async_jobs_in_flight_updated`.execute(db);
}
