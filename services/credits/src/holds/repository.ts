import type { Db, Hold, HoldStatus } from '../db/schema';

const HOLD_COLUMNS = [
  'id',
  'tenant_id',
  'account_id',
  'amount',
  'status',
  'captured_amount',
  'capture_transaction_id',
  'description',
  'idempotency_key',
  'request_hash',
  'expires_at',
  'created_at',
  'finalized_at',
] as const;

/** A hold as callers see it. */
export interface HoldView {
  id: string;
  tenant_id: string;
  amount: number;
  status: HoldStatus;
  captured_amount: number;
  /** What went (or will go, once finished) back to the available balance. */
  released_amount: number;
  /** The capture's transaction; null unless captured with a non-zero amount. */
  transaction_id: string | null;
  description: string | null;
  expires_at: string;
  created_at: string;
  finalized_at: string | null;
}

export function toHoldView(hold: Hold): HoldView {
  return {
    id: hold.id,
    tenant_id: hold.tenant_id,
    amount: hold.amount,
    status: hold.status,
    captured_amount: hold.captured_amount,
    released_amount: hold.status === 'held' ? 0 : hold.amount - hold.captured_amount,
    transaction_id: hold.capture_transaction_id,
    description: hold.description,
    expires_at: hold.expires_at.toISOString(),
    created_at: hold.created_at.toISOString(),
    finalized_at: hold.finalized_at ? hold.finalized_at.toISOString() : null,
  };
}

export async function finishHold(
  db: Db,
  id: string,
  status: Exclude<HoldStatus, 'held'>,
  capturedAmount: number,
  captureTransactionId: string | null,
  now: Date,
): Promise<Hold> {
  return db
    .updateTable('holds')
    .set({ status, captured_amount: capturedAmount, capture_transaction_id: captureTransactionId, finalized_at: now })
    .where('id', '=', id)
    .where('status', '=', 'held')
    .returning(HOLD_COLUMNS)
    .executeTakeFirstOrThrow();
}

/**
 * Locks up to `limit` holds past their expiry. SKIP LOCKED lets several sweepers (API replicas
 * and workers) share the work, and passes over a hold a capture is busy with.
 */
export async function lockExpiredHolds(db: Db, now: Date, limit: number): Promise<Hold[]> {
  return db
    .selectFrom('holds')
    .select(HOLD_COLUMNS)
    .where('status', '=', 'held')
    .where('expires_at', '<=', now)
    .orderBy('expires_at')
    .limit(limit)
    .forUpdate()
    .skipLocked()
    .execute();
}
