import { createOutboxTable } from '@tollgate/common';
import { type Kysely, sql } from 'kysely';

/** Events recorded with the state change they announce (packages/common's one outbox). */
export async function up(db: Kysely<any>): Promise<void> {
  await createOutboxTable(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table if exists outbox_events`.execute(db);
}
