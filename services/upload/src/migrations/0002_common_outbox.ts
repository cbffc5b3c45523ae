import { createOutboxTable } from '@tollgate/common';
import { type Kysely, sql } from 'kysely';

/**
 * upload's own `event_outbox` (rows deleted once published) becomes the platform's one outbox
 * table (packages/common's `outbox_events`, published rows marked then pruned). Events still
 * waiting move across in the same transaction, so none is lost or sent twice by the change.
 * The old table stays for this release: replicas of the previous release still write to it
 * during a rolling deploy, and the maintenance sweep moves what they write (a later migration
 * drops it).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await createOutboxTable(db);
  await sql`
    insert into outbox_events (id, type, tenant_id, data, created_at)
    select id, type, tenant_id, data, created_at from event_outbox
    on conflict (id) do nothing`.execute(db);
  await sql`delete from event_outbox`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    insert into event_outbox (id, type, tenant_id, data, created_at)
    select id, type, tenant_id, data, created_at from outbox_events where published_at is null`.execute(db);
  await sql`drop table outbox_events`.execute(db);
}
