import type { DbOrTx, TusUploadRow, TusUploadsTable } from '../db';
import type { Insertable } from 'kysely';

export const TUS_COLUMNS = [
  'id',
  'tenant_id',
  'filename',
  'purpose',
  'expires_in_s',
  'length',
  'offset',
  'metadata',
  'detected_mime',
  'file_id',
  'created_at',
  'updated_at',
  'expires_at',
] as const;

export async function insertUpload(db: DbOrTx, row: Insertable<TusUploadsTable>): Promise<TusUploadRow> {
  return db.insertInto('tus_uploads').values(row).returning(TUS_COLUMNS).executeTakeFirstOrThrow();
}

/** This tenant's upload, if it has not expired; another tenant's reads as missing. */
export async function findUpload(db: DbOrTx, tenantId: string, id: string, now: Date): Promise<TusUploadRow | undefined> {
  return db
    .selectFrom('tus_uploads')
    .select(TUS_COLUMNS)
    .where('id', '=', id)
    .where('tenant_id', '=', tenantId)
    .where('expires_at', '>', now)
    .executeTakeFirst();
}

export async function advanceOffset(db: DbOrTx, id: string, from: number, to: number, now: Date): Promise<boolean> {
  const result = await db
    .updateTable('tus_uploads')
    .set({ offset: to, updated_at: now })
    .where('id', '=', id)
    .where('offset', '=', from)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function setDetectedMime(db: DbOrTx, id: string, mime: string): Promise<void> {
  await db.updateTable('tus_uploads').set({ detected_mime: mime }).where('id', '=', id).execute();
}

export async function deleteUpload(db: DbOrTx, id: string): Promise<TusUploadRow | undefined> {
  return db.deleteFrom('tus_uploads').where('id', '=', id).returning(TUS_COLUMNS).executeTakeFirst();
}

export async function findExpiredUploads(db: DbOrTx, now: Date, limit: number): Promise<Pick<TusUploadRow, 'id'>[]> {
  return db.selectFrom('tus_uploads').select('id').where('expires_at', '<=', now).limit(limit).execute();
}

export async function existingUploadIds(db: DbOrTx, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.selectFrom('tus_uploads').select('id').where('id', 'in', ids).execute();
  return new Set(rows.map((r) => r.id));
}
