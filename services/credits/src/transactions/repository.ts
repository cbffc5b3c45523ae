import type { Db, TransactionType } from '../db/schema';

/** A transaction as the tenant sees it: with its account's posted balance right after it. */
export interface TransactionView {
  id: string;
  tenant_id: string;
  type: TransactionType;
  amount: number;
  balance_after: number;
  description: string | null;
  hold_id: string | null;
  created_at: string;
}

interface ViewRow {
  id: string;
  seq: number;
  tenant_id: string;
  type: TransactionType;
  amount: number;
  balance_after: number | null;
  description: string | null;
  hold_id: string | null;
  created_at: Date;
}

export function toTransactionView(row: ViewRow): TransactionView {
  return {
    id: row.id,
    tenant_id: row.tenant_id,
    type: row.type,
    amount: row.amount,
    balance_after: row.balance_after ?? 0,
    description: row.description,
    hold_id: row.hold_id,
    created_at: row.created_at.toISOString(),
  };
}

/** Transactions joined to their tenant-side entry (the only entry with a balance_after). */
function viewQuery(db: Db) {
  return db
    .selectFrom('transactions')
    .innerJoin('entries', (join) =>
      join.onRef('entries.transaction_id', '=', 'transactions.id').on('entries.balance_after', 'is not', null),
    )
    .select([
      'transactions.id',
      'transactions.seq',
      'transactions.tenant_id',
      'transactions.type',
      'transactions.amount',
      'entries.balance_after',
      'transactions.description',
      'transactions.hold_id',
      'transactions.created_at',
    ]);
}

/** The transaction an idempotency key already produced, with the fingerprint it was stored with. */
export async function findByIdempotencyKey(
  db: Db,
  tenantId: string,
  type: TransactionType,
  key: string,
): Promise<{ view: TransactionView; requestHash: string | null } | undefined> {
  const row = await viewQuery(db)
    .select('transactions.request_hash')
    .where('transactions.tenant_id', '=', tenantId)
    .where('transactions.type', '=', type)
    .where('transactions.idempotency_key', '=', key)
    .executeTakeFirst();
  return row && { view: toTransactionView(row), requestHash: row.request_hash };
}

/** Newest first; `beforeSeq` continues after the last row of the previous page. */
export async function listTenantTransactions(db: Db, tenantId: string, beforeSeq: number | undefined, limit: number): Promise<ViewRow[]> {
  let query = viewQuery(db).where('transactions.tenant_id', '=', tenantId);
  if (beforeSeq !== undefined) query = query.where('transactions.seq', '<', beforeSeq);
  return query.orderBy('transactions.seq', 'desc').limit(limit).execute();
}
