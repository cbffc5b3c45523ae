import { sql } from 'kysely';
import { asTenantBalance, type ReturnedRow, type TenantBalance } from '../accounts/repository';
import type { Db, TransactionType } from '../db/schema';
import type { TransactionView } from '../transactions/repository';
import { SYSTEM_ACCOUNTS, shardOf } from './system-accounts';

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
        {
          transaction_id: transfer.id,
          account_id: transfer.account.id,
          amount: transfer.tenantDelta,
          balance_after: transfer.account.balance,
          created_at: transfer.now,
        },
        {
          transaction_id: transfer.id,
          account_id: transfer.systemAccountId,
          amount: -transfer.tenantDelta,
          balance_after: null,
          created_at: transfer.now,
        },
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

export interface ChargePosting {
  id: string;
  tenantId: string;
  amount: number;
  description: string | null;
  idempotencyKey: string;
  requestHash: string;
  /** How far below zero this charge may take the available balance (0 for an ordinary charge). */
  debtAllowed?: number;
  now: Date;
}

/**
 * A whole charge in ONE statement, committed on its own: take `amount` from the tenant if its
 * available balance (balance - held) covers it, and write the transaction, both entries and the
 * revenue shard. Returns the account as left, or undefined when short (or no account): then
 * nothing at all was written.
 *
 * Concurrency: the conditional UPDATE is the guard. Its row lock serialises every debit of this
 * tenant, and under READ COMMITTED Postgres re-checks `balance - held >= amount` against the
 * newest committed row before updating, so no interleaving can overdraw or lose an update — no
 * read-then-write, no retry loop. Locks are always taken tenant row first, system shard second
 * (the shard insert reads from `acct`, so it runs after it). Doing it all in one statement keeps
 * the tenant row locked for one round trip instead of several, which is what bounds a busy
 * tenant's throughput. A repeated idempotency key fails the statement on the unique index, so
 * the debit is undone with it.
 */
export async function postCharge(db: Db, charge: ChargePosting): Promise<TenantBalance | undefined> {
  const revenue = SYSTEM_ACCOUNTS.revenue;
  const shard = shardOf(charge.tenantId);
  const { rows } = await sql<ReturnedRow>`
    with acct as (
      update accounts set balance = balance - ${charge.amount}::bigint, updated_at = ${charge.now}::timestamptz
       where tenant_id = ${charge.tenantId} and kind = 'tenant' and balance - held + ${charge.debtAllowed ?? 0}::bigint >= ${charge.amount}::bigint
      returning id, tenant_id, balance, held, low_balance_threshold, low_balance_notified
    ), txn as (
      insert into transactions (id, tenant_id, type, amount, description, idempotency_key, request_hash, created_at)
      select ${charge.id}::text, tenant_id, 'charge', ${charge.amount}::bigint, ${charge.description}::text, ${charge.idempotencyKey}::text, ${charge.requestHash}::text, ${charge.now}::timestamptz
        from acct
    ), legs as (
      insert into entries (transaction_id, account_id, amount, balance_after, created_at)
      select ${charge.id}::text, id, -${charge.amount}::bigint, balance, ${charge.now}::timestamptz from acct
      union all
      select ${charge.id}::text, ${revenue}::text, ${charge.amount}::bigint, null, ${charge.now}::timestamptz from acct
    ), revenue_shard as (
      insert into system_balance_shards (account_id, shard, balance)
      select ${revenue}::text, ${shard}::smallint, ${charge.amount}::bigint from acct
      on conflict (account_id, shard) do update set balance = system_balance_shards.balance + excluded.balance
    )
    select * from acct`.execute(db);
  return asTenantBalance(rows[0]);
}
