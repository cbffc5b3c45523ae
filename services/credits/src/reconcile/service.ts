import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/schema';

/** The first thing found wrong, with enough numbers to find and fix it. */
export type Mismatch =
  | {
      check: 'transaction_balanced';
      transaction_id: string;
      type: string;
      amount: number;
      entry_count: number;
      entries_sum: string;
      debited: string;
    }
  | {
      check: 'entry_balance_after';
      entry_id: number;
      transaction_id: string;
      account_id: string;
      balance_after: number;
      running_balance: string;
    }
  | {
      check: 'account_balance';
      account_id: string;
      tenant_id: string | null;
      code: string | null;
      stored: string;
      entries_sum: string;
      difference: string;
    }
  | { check: 'account_held'; account_id: string; tenant_id: string; stored: number; active_holds_sum: string; difference: string }
  | { check: 'conservation'; entries_sum: string };

export interface ReconcileReport {
  ok: boolean;
  checked_at: string;
  counts: { accounts: number; transactions: number; entries: number; active_holds: number };
  /** Null when every check passed. */
  mismatch: Mismatch | null;
}

/**
 * Proves the ledger is whole, in one consistent snapshot (REPEATABLE READ, read-only), while
 * writes go on. Checks, stopping at the first failure:
 * 1. every transaction has ≥ 2 entries that sum to zero and move exactly its amount;
 * 2. every tenant entry's balance_after equals the running sum of that account's entries;
 * 3. every account's stored balance (system accounts: the sum of their shards) equals the sum
 *    of its entries;
 * 4. every tenant account's held equals the sum of its active holds;
 * 5. all entries together sum to zero (nothing created or destroyed).
 * Sums are compared as numerics in SQL and reported as strings, so no overflow hides a gap.
 */
export async function reconcile(db: Kysely<Database>, now: Date = new Date()): Promise<ReconcileReport> {
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => {
      const counts = (
        await sql<{ accounts: number; transactions: number; entries: number; active_holds: number }>`
          select (select count(*) from accounts) as accounts,
                 (select count(*) from transactions) as transactions,
                 (select count(*) from entries) as entries,
                 (select count(*) from holds where status = 'held') as active_holds`.execute(trx)
      ).rows[0]!;
      const report = (mismatch: Mismatch | null): ReconcileReport => ({
        ok: mismatch === null,
        checked_at: now.toISOString(),
        counts,
        mismatch,
      });

      const unbalanced = (
        await sql<{ id: string; type: string; amount: number; entry_count: number; entries_sum: string; debited: string }>`
          select t.id, t.type, t.amount, count(e.id) as entry_count,
                 coalesce(sum(e.amount), 0)::text as entries_sum,
                 coalesce(sum(e.amount) filter (where e.amount > 0), 0)::text as debited
            from transactions t left join entries e on e.transaction_id = t.id
           group by t.id, t.seq, t.type, t.amount
          having count(e.id) < 2 or coalesce(sum(e.amount), 0) <> 0 or coalesce(sum(e.amount) filter (where e.amount > 0), 0) <> t.amount
           order by t.seq
           limit 1`.execute(trx)
      ).rows[0];
      if (unbalanced) {
        const { id, ...rest } = unbalanced;
        return report({ check: 'transaction_balanced', transaction_id: id, ...rest });
      }

      // Entries of one tenant account are written under its row lock, so id order is posting order.
      const badRunning = (
        await sql<{ id: number; transaction_id: string; account_id: string; balance_after: number; running_balance: string }>`
          select id, transaction_id, account_id, balance_after, running_balance::text as running_balance
            from (select e.id, e.transaction_id, e.account_id, e.balance_after,
                         sum(e.amount) over (partition by e.account_id order by e.id) as running_balance
                    from entries e join accounts a on a.id = e.account_id
                   where a.kind = 'tenant') r
           where balance_after is distinct from running_balance
           order by id
           limit 1`.execute(trx)
      ).rows[0];
      if (badRunning) {
        const { id, ...rest } = badRunning;
        return report({ check: 'entry_balance_after', entry_id: id, ...rest });
      }

      const badBalance = (
        await sql<{ id: string; tenant_id: string | null; code: string | null; stored: string; entries_sum: string; difference: string }>`
          with sums as (select account_id, sum(amount) as total from entries group by account_id),
               shards as (select account_id, sum(balance) as total from system_balance_shards group by account_id),
               stored as (
                 select a.id, a.tenant_id, a.code,
                        case when a.kind = 'tenant' then a.balance::numeric else coalesce(sh.total, 0) end as stored
                   from accounts a left join shards sh on sh.account_id = a.id)
          select s.id, s.tenant_id, s.code, s.stored::text as stored,
                 coalesce(sums.total, 0)::text as entries_sum,
                 (s.stored - coalesce(sums.total, 0))::text as difference
            from stored s left join sums on sums.account_id = s.id
           where s.stored <> coalesce(sums.total, 0)
           order by s.id
           limit 1`.execute(trx)
      ).rows[0];
      if (badBalance) {
        const { id, ...rest } = badBalance;
        return report({ check: 'account_balance', account_id: id, ...rest });
      }

      const badHeld = (
        await sql<{ id: string; tenant_id: string; stored: number; active_holds_sum: string; difference: string }>`
          with active as (select account_id, sum(amount) as total from holds where status = 'held' group by account_id)
          select a.id, a.tenant_id, a.held as stored, coalesce(h.total, 0)::text as active_holds_sum,
                 (a.held - coalesce(h.total, 0))::text as difference
            from accounts a left join active h on h.account_id = a.id
           where a.kind = 'tenant' and a.held <> coalesce(h.total, 0)
           order by a.id
           limit 1`.execute(trx)
      ).rows[0];
      if (badHeld) {
        const { id, ...rest } = badHeld;
        return report({ check: 'account_held', account_id: id, ...rest });
      }

      const total = (await sql<{ total: string }>`select coalesce(sum(amount), 0)::text as total from entries`.execute(trx)).rows[0]!.total;
      if (total !== '0') return report({ check: 'conservation', entries_sum: total });

      return report(null);
    });
}
