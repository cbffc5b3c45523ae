import { type Kysely, sql } from 'kysely';

/** What the retention sweep scans: finished deliveries by age, events by arrival. */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index deliveries_finished_updated on deliveries (updated_at) where status in ('succeeded', 'failed')`.execute(db);
  await sql`create index events_received on events (received_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index events_received`.execute(db);
  await sql`drop index deliveries_finished_updated`.execute(db);
}
