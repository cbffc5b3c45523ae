import { createOutboxTable } from '@tollgate/common';
import { type Kysely, sql } from 'kysely';

/**
 * credits' outbox_events was the model for the platform's one outbox table; this brings it the
 * shared shape's later addition (an index to prune published events by age). The table exists,
 * so only the missing index is created.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await createOutboxTable(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists outbox_events_published`.execute(db);
}
