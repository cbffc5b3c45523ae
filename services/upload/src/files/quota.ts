import { AppError } from '@tollgate/common';
import { sql } from 'kysely';
import type { DbOrTx, ReservationKind } from '../db';

export interface QuotaLimits {
  maxBytes: number;
  maxFiles: number;
}

export interface ReservationRequest {
  id: string;
  tenantId: string;
  kind: ReservationKind;
  /** Bytes wanted now. */
  wantBytes: number;
  /** Fewer than this is a refusal; between min and want, whatever is left is granted. */
  minBytes: number;
  files: number;
}

function quotaExceeded(kind: 'bytes' | 'files', limits: QuotaLimits, usage: { bytes: number; files: number }, requested: number): AppError {
  return new AppError(
    'FORBIDDEN',
    kind === 'bytes'
      ? 'The storage quota for stored bytes would be exceeded'
      : 'The storage quota for the number of files would be exceeded',
    {
      details: {
        reason: 'quota_exceeded',
        quota: kind,
        limit: kind === 'bytes' ? limits.maxBytes : limits.maxFiles,
        used: kind === 'bytes' ? usage.bytes : usage.files,
        requested,
      },
    },
  );
}

/** Lock the tenant's usage row (creating it at zero), so reservations of one tenant serialise. */
async function lockUsage(trx: DbOrTx, tenantId: string): Promise<{ bytes: number; files: number }> {
  await trx
    .insertInto('tenant_usage')
    .values({ tenant_id: tenantId, bytes: 0, files: 0 })
    .onConflict((oc) => oc.column('tenant_id').doNothing())
    .execute();
  return trx.selectFrom('tenant_usage').select(['bytes', 'files']).where('tenant_id', '=', tenantId).forUpdate().executeTakeFirstOrThrow();
}

async function addUsage(trx: DbOrTx, tenantId: string, bytes: number, files: number): Promise<void> {
  if (bytes === 0 && files === 0) return;
  await trx
    .updateTable('tenant_usage')
    .set({ bytes: sql`bytes + ${bytes}`, files: sql`files + ${files}`, updated_at: sql`now()` })
    .where('tenant_id', '=', tenantId)
    .execute();
}

/**
 * Reserve quota for an upload in flight (call inside a transaction). The usage row is locked,
 * so concurrent uploads of a tenant can never together pass the limits. Returns bytes granted.
 */
export async function reserve(trx: DbOrTx, req: ReservationRequest, limits: QuotaLimits): Promise<number> {
  const usage = await lockUsage(trx, req.tenantId);
  if (usage.files + req.files > limits.maxFiles) throw quotaExceeded('files', limits, usage, req.files);
  const granted = Math.min(req.wantBytes, limits.maxBytes - usage.bytes);
  if (granted < req.minBytes) throw quotaExceeded('bytes', limits, usage, req.minBytes);
  await addUsage(trx, req.tenantId, granted, req.files);
  await trx
    .insertInto('upload_reservations')
    .values({ id: req.id, tenant_id: req.tenantId, kind: req.kind, bytes: granted, files: req.files, heartbeat_at: new Date() })
    .execute();
  return granted;
}

/** Grow an existing reservation (a stream longer than first declared). Returns bytes added. */
export async function growReservation(
  trx: DbOrTx,
  id: string,
  tenantId: string,
  wantBytes: number,
  minBytes: number,
  limits: QuotaLimits,
): Promise<number> {
  const usage = await lockUsage(trx, tenantId);
  const granted = Math.min(wantBytes, limits.maxBytes - usage.bytes);
  if (granted < minBytes) throw quotaExceeded('bytes', limits, usage, minBytes);
  const updated = await trx
    .updateTable('upload_reservations')
    .set({ bytes: sql`bytes + ${granted}`, heartbeat_at: sql`now()` })
    .where('id', '=', id)
    .executeTakeFirst();
  if (Number(updated.numUpdatedRows) !== 1) throw new Error(`reservation ${id} vanished`);
  await addUsage(trx, tenantId, granted, 0);
  return granted;
}

export async function touchReservation(db: DbOrTx, id: string): Promise<void> {
  await db
    .updateTable('upload_reservations')
    .set({ heartbeat_at: sql`now()` })
    .where('id', '=', id)
    .execute();
}

/**
 * Turn a reservation into stored usage of `bytes` and `files` (inside the transaction that
 * inserts the file row). The difference to what was reserved is given back.
 */
export async function settleReservation(trx: DbOrTx, id: string, tenantId: string, bytes: number, files: number): Promise<void> {
  await lockUsage(trx, tenantId);
  const reservation = await trx.deleteFrom('upload_reservations').where('id', '=', id).returning(['bytes', 'files']).executeTakeFirst();
  if (!reservation) throw new Error(`reservation ${id} is gone (released by the sweeper?)`);
  await addUsage(trx, tenantId, bytes - reservation.bytes, files - reservation.files);
}

/** Give a reservation back. Idempotent: a reservation already settled or released is ignored. */
export async function releaseReservation(trx: DbOrTx, id: string): Promise<boolean> {
  const reservation = await trx
    .deleteFrom('upload_reservations')
    .where('id', '=', id)
    .returning(['tenant_id', 'bytes', 'files'])
    .executeTakeFirst();
  if (!reservation) return false;
  await lockUsage(trx, reservation.tenant_id);
  await addUsage(trx, reservation.tenant_id, -reservation.bytes, -reservation.files);
  return true;
}

/** A stored file left (deleted or expired): its bytes and count no longer use quota. */
export async function releaseStored(trx: DbOrTx, tenantId: string, bytes: number): Promise<void> {
  await lockUsage(trx, tenantId);
  await addUsage(trx, tenantId, -bytes, -1);
}

export async function findStaleReservations(db: DbOrTx, olderThan: Date, limit: number): Promise<{ id: string }[]> {
  return db
    .selectFrom('upload_reservations')
    .select('id')
    .where('kind', '=', 'multipart')
    .where('heartbeat_at', '<', olderThan)
    .limit(limit)
    .execute();
}

export async function hasOtherReservations(db: DbOrTx, tenantId: string, exceptId: string): Promise<boolean> {
  const row = await db
    .selectFrom('upload_reservations')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('id', '<>', exceptId)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

export async function usageOf(db: DbOrTx, tenantId: string): Promise<{ bytes: number; files: number }> {
  const row = await db.selectFrom('tenant_usage').select(['bytes', 'files']).where('tenant_id', '=', tenantId).executeTakeFirst();
  return row ?? { bytes: 0, files: 0 };
}
