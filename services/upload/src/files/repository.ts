import { newestFirstPage, type TimeCursor } from '@tollgate/common';
import type { DbOrTx, FileRow, FileStatus, NewFileRow } from '../db';

/** Every column of a file row; no column is secret, but reads still say what they take. */
export const FILE_COLUMNS = [
  'id',
  'tenant_id',
  'filename',
  'purpose',
  'bytes',
  'sha256',
  'mime_type',
  'storage_key',
  'status',
  'created_at',
  'expires_at',
  'removed_at',
] as const;

export async function insertFile(db: DbOrTx, row: NewFileRow): Promise<FileRow> {
  return db.insertInto('files').values(row).returning(FILE_COLUMNS).executeTakeFirstOrThrow();
}

/** A ready, unexpired file of this tenant; another tenant's id reads as missing. */
export async function findReadyFile(db: DbOrTx, tenantId: string, id: string, now: Date): Promise<FileRow | undefined> {
  return db
    .selectFrom('files')
    .select(FILE_COLUMNS)
    .where('id', '=', id)
    .where('tenant_id', '=', tenantId)
    .where('status', '=', 'ready')
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .executeTakeFirst();
}

export interface ListFilesQuery {
  tenantId: string;
  limit: number;
  purpose?: string | undefined;
  /** Keyset position: rows strictly after (created_at, id) in descending order. */
  after?: TimeCursor | undefined;
  now: Date;
}

export async function listReadyFiles(db: DbOrTx, q: ListFilesQuery): Promise<FileRow[]> {
  let query = db
    .selectFrom('files')
    .select(FILE_COLUMNS)
    .where('tenant_id', '=', q.tenantId)
    .where('status', '=', 'ready')
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', q.now)]));
  if (q.purpose) query = query.where('purpose', '=', q.purpose);
  return newestFirstPage(query, q.after, q.limit).execute();
}

/** Ready → deleted/expired, once: returns the row only to the caller that made the change. */
export async function markRemoved(
  db: DbOrTx,
  id: string,
  status: Exclude<FileStatus, 'ready'>,
  now: Date,
  tenantId?: string,
): Promise<FileRow | undefined> {
  let query = db.updateTable('files').set({ status, removed_at: now }).where('id', '=', id).where('status', '=', 'ready');
  if (tenantId !== undefined) query = query.where('tenant_id', '=', tenantId);
  return query.returning(FILE_COLUMNS).executeTakeFirst();
}

export async function deleteRemovedRow(db: DbOrTx, id: string): Promise<void> {
  await db.deleteFrom('files').where('id', '=', id).where('status', '<>', 'ready').execute();
}

export async function findDueForExpiry(db: DbOrTx, now: Date, limit: number): Promise<Pick<FileRow, 'id'>[]> {
  return db
    .selectFrom('files')
    .select('id')
    .where('status', '=', 'ready')
    .where('expires_at', '<=', now)
    .orderBy('expires_at')
    .limit(limit)
    .execute();
}

export async function findPendingRemoval(db: DbOrTx, limit: number): Promise<Pick<FileRow, 'id' | 'storage_key'>[]> {
  return db.selectFrom('files').select(['id', 'storage_key']).where('status', '<>', 'ready').orderBy('removed_at').limit(limit).execute();
}

/** Which of these storage keys belong to a file row (any status). */
export async function knownStorageKeys(db: DbOrTx, keys: string[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const rows = await db.selectFrom('files').select('storage_key').where('storage_key', 'in', keys).execute();
  return new Set(rows.map((r) => r.storage_key));
}
