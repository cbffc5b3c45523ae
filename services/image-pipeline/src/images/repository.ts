import { newestFirstPage, type TimeCursor } from '@tollgate/common';
import { sql } from 'kysely';
import type { DbOrTx, GenerationJobRow, ImageRow, ImageUpdate, NewGenerationJob, NewImage } from '../db';
import type { ImageStatus } from './states';

export const IMAGE_COLUMNS = [
  'id',
  'tenant_id',
  'source',
  'job_id',
  'job_index',
  'file_id',
  'prompt',
  'model',
  'seed',
  'profile',
  'requested_width',
  'requested_height',
  'status',
  'failure_code',
  'failure_message',
  'quality',
  'variants',
  'charge_amount',
  'hold_id',
  'charge_status',
  'rejection_reason',
  'publish_attempt',
  'publication',
  'created_at',
  'updated_at',
] as const;

const JOB_COLUMNS = [
  'id',
  'tenant_id',
  'prompt',
  'model',
  'profile',
  'width',
  'height',
  'n',
  'seed',
  'dedup_key',
  'status',
  'created_at',
] as const;

export async function insertImages(db: DbOrTx, rows: NewImage[]): Promise<ImageRow[]> {
  if (rows.length === 0) return [];
  return db.insertInto('images').values(rows).returning(IMAGE_COLUMNS).execute();
}

export async function recordTransitions(
  db: DbOrTx,
  rows: { image_id: string; tenant_id: string; from_status: ImageStatus | null; to_status: ImageStatus; reason?: string | null }[],
): Promise<void> {
  if (rows.length === 0) return;
  await db
    .insertInto('image_transitions')
    .values(rows.map((r) => ({ ...r, reason: r.reason ?? null })))
    .execute();
}

/** A tenant's image; another tenant's id reads as missing. */
export async function findImage(db: DbOrTx, tenantId: string, id: string): Promise<ImageRow | undefined> {
  return db.selectFrom('images').select(IMAGE_COLUMNS).where('id', '=', id).where('tenant_id', '=', tenantId).executeTakeFirst();
}

/** For workers, which act on ids from their own jobs. */
export async function findImageById(db: DbOrTx, id: string): Promise<ImageRow | undefined> {
  return db.selectFrom('images').select(IMAGE_COLUMNS).where('id', '=', id).executeTakeFirst();
}

/** The row locked for the rest of the transaction, so two actions on one image serialise. */
export async function lockImage(db: DbOrTx, tenantId: string, id: string): Promise<ImageRow | undefined> {
  return db
    .selectFrom('images')
    .select(IMAGE_COLUMNS)
    .where('id', '=', id)
    .where('tenant_id', '=', tenantId)
    .forUpdate()
    .executeTakeFirst();
}

/**
 * Moves an image from one of `from` to `to`, atomically: the row is returned only to the
 * caller whose update matched, so a retried or duplicated job cannot apply a transition twice.
 * The transition is recorded in image_transitions. Call inside a transaction.
 */
export async function transitionImage(
  db: DbOrTx,
  id: string,
  from: readonly ImageStatus[],
  to: ImageStatus,
  set: Omit<ImageUpdate, 'status' | 'id' | 'tenant_id'> = {},
  reason?: string | null,
): Promise<ImageRow | undefined> {
  const before = await db.selectFrom('images').select(['status']).where('id', '=', id).forUpdate().executeTakeFirst();
  if (!before || !from.includes(before.status)) return undefined;
  const row = await db
    .updateTable('images')
    .set({ ...set, status: to, updated_at: sql<Date>`now()` as unknown as Date })
    .where('id', '=', id)
    .where('status', 'in', [...from])
    .returning(IMAGE_COLUMNS)
    .executeTakeFirst();
  if (row)
    await recordTransitions(db, [
      { image_id: id, tenant_id: row.tenant_id, from_status: before.status, to_status: to, reason: reason ?? null },
    ]);
  return row;
}

/** Bookkeeping that is not a state change (charge progress, stored variants). */
export async function updateImage(
  db: DbOrTx,
  id: string,
  set: Omit<ImageUpdate, 'status' | 'id' | 'tenant_id'>,
  onlyIn?: readonly ImageStatus[],
): Promise<ImageRow | undefined> {
  let query = db
    .updateTable('images')
    .set({ ...set, updated_at: sql<Date>`now()` as unknown as Date })
    .where('id', '=', id);
  if (onlyIn) query = query.where('status', 'in', [...onlyIn]);
  return query.returning(IMAGE_COLUMNS).executeTakeFirst();
}

export async function deleteImageRow(db: DbOrTx, id: string): Promise<void> {
  await db.deleteFrom('images').where('id', '=', id).execute();
}

export interface ListImagesQuery {
  tenantId: string;
  limit: number;
  status?: ImageStatus | undefined;
  jobId?: string | undefined;
  /** Keyset position: rows strictly after (created_at, id), newest first. */
  after?: TimeCursor | undefined;
}

export async function listImages(db: DbOrTx, q: ListImagesQuery): Promise<ImageRow[]> {
  let query = db.selectFrom('images').select(IMAGE_COLUMNS).where('tenant_id', '=', q.tenantId);
  if (q.status) query = query.where('status', '=', q.status);
  if (q.jobId) query = query.where('job_id', '=', q.jobId);
  return newestFirstPage(query, q.after, q.limit).execute();
}

export async function insertGenerationJob(db: DbOrTx, row: NewGenerationJob): Promise<GenerationJobRow> {
  return db.insertInto('generation_jobs').values(row).returning(JOB_COLUMNS).executeTakeFirstOrThrow();
}

export async function findGenerationJob(db: DbOrTx, tenantId: string, id: string): Promise<GenerationJobRow | undefined> {
  return db.selectFrom('generation_jobs').select(JOB_COLUMNS).where('id', '=', id).where('tenant_id', '=', tenantId).executeTakeFirst();
}

/** The newest live job with the same request inside the window; failed ones never count. */
export async function findRecentDuplicateJob(
  db: DbOrTx,
  tenantId: string,
  dedupKey: string,
  since: Date,
): Promise<GenerationJobRow | undefined> {
  return db
    .selectFrom('generation_jobs')
    .select(JOB_COLUMNS)
    .where('tenant_id', '=', tenantId)
    .where('dedup_key', '=', dedupKey)
    .where('status', '=', 'active')
    .where('created_at', '>=', since)
    .orderBy('created_at', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export async function markGenerationJobFailed(db: DbOrTx, id: string): Promise<void> {
  await db.updateTable('generation_jobs').set({ status: 'failed' }).where('id', '=', id).execute();
}

export async function imagesOfJob(db: DbOrTx, jobId: string): Promise<ImageRow[]> {
  return db.selectFrom('images').select(IMAGE_COLUMNS).where('job_id', '=', jobId).orderBy('job_index').execute();
}
