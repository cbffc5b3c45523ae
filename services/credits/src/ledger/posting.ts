import { sql } from 'kysely';
import type { TenantBalance } from '../accounts/repository';
import type { Db, TransactionType } from '../db/schema';
import type { TransactionView } from '../transactions/repository';
import { shardOf } from './system-accounts';

export interface Transfer {
  id: string;
  type: TransactionType;
  /** The tenant account as left by the balance update that this transfer records. */
  account: TenantBalance;
  /** Signed change of the tenant's posted balance: negative for charges, positive for top-ups. */
  tenantDelta: number;
  /** The system account on the other side. */
  systemAccountId: string;
  description: string | null;
  holdId?: string | null;
  idempotencyKey?: string | null;
  requestHash?: string | null;
  now: Date;
}

/**
 * Writes one balanced transaction: the transaction row (whose unique idempotency index makes a
 * concurrent duplicate fail here), the tenant entry, the opposite system entry, and the system
 * shard's balance. The caller has already moved the tenant's stored balance (that update took
 * the tenant row lock); locks are always taken tenant row first, system shard second.
 */
export async function postTransfer(db: Db, transfer: Transfer): Promise<TransactionView> {
  const amount = Math.abs(transfer.tenantDelta);
  const shard = shardOf(transfer.account.tenant_id);
  // One statement (one round trip) for the three writes; the transaction around it makes them
  // atomic with the balance update, and the deferred trigger checks the entries at commit.
  await db
    .with('txn', (q) =>
      q.insertInto('transactions').values({
        id: transfer.id,
        tenant_id: transfer.account.tenant_id,
        type: transfer.type,
        amount,
        description: transfer.description,
        hold_id: transfer.holdId ?? null,
        idempotency_key: transfer.idempotencyKey ?? null,
        request_hash: transfer.requestHash ?? null,
        created_at: transfer.now,
      }),
    )
    .with('legs', (q) =>
      q.insertInto('entries').values([
        { transaction_id: transfer.id, account_id: transfer.account.id, amount: transfer.tenantDelta, balance_after: transfer.account.balance, created_at: transfer.now },
        { transaction_id: transfer.id, account_id: transfer.systemAccountId, amount: -transfer.tenantDelta, balance_after: null, created_at: transfer.now },
      ]),
    )
    .insertInto('system_balance_shards')
    .values({ account_id: transfer.systemAccountId, shard, balance: -transfer.tenantDelta })
    .onConflict((oc) => oc.columns(['account_id', 'shard']).doUpdateSet({ balance: sql`system_balance_shards.balance + excluded.balance` }))
    .execute();
  return {
    id: transfer.id,
    tenant_id: transfer.account.tenant_id,
    type: transfer.type,
    amount,
    balance_after: transfer.account.balance,
    description: transfer.description,
    hold_id: transfer.holdId ?? null,
    created_at: transfer.now.toISOString(),
  };
}
