import type { Db, EventRow } from '../db/schema';

/** Inserts the event unless its id is known; true when it was new. */
export async function insertEventIfNew(db: Db, row: EventRow): Promise<boolean> {
  const inserted = await db
    .insertInto('events')
    .values(row)
    .onConflict((oc) => oc.column('id').doNothing())
    .returning(['id'])
    .executeTakeFirst();
  return inserted !== undefined;
}

export async function findEvent(db: Db, id: string): Promise<Pick<EventRow, 'id' | 'tenant_id' | 'type' | 'created_at'> | undefined> {
  return db.selectFrom('events').select(['id', 'tenant_id', 'type', 'created_at']).where('id', '=', id).executeTakeFirst();
}

export async function eventPayload(db: Db, id: string): Promise<string | undefined> {
  const row = await db.selectFrom('events').select(['payload']).where('id', '=', id).executeTakeFirst();
  return row?.payload;
}
