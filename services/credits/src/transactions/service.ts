import { conflict, decodeSeqCursor, type Page, recordEvent, toPage } from '@tollgate/common';
import { isNewlyLow, notifyIfLow, rearmIfRecovered } from '../accounts/low-balance';
import { creditBalance, ensureTenantAccount, findTenantAccount } from '../accounts/repository';
import type { Db, TransactionType } from '../db/schema';
import { inTransaction, isUniqueViolation } from '../db/transaction';
import type { LedgerDeps } from '../deps';
import { idempotencyKeyReused, insufficientCredits } from '../ledger/errors';
import { postCharge, postTransfer } from '../ledger/posting';
import { SYSTEM_ACCOUNTS } from '../ledger/system-accounts';
import { MAX_BALANCE, requestHash } from '../ledger/validation';
import { findByIdempotencyKey, listTenantTransactions, toTransactionView, type TransactionView } from './repository';

export interface Outcome<T> {
  result: T;
  /** True when an idempotency key matched an earlier request and nothing was written. */
  replayed: boolean;
}

export interface ChargeInput {
  tenantId: string;
  amount: number;
  idempotencyKey: string;
  description?: string | undefined;
  /** Late charge: may take the available balance down to -settings.maxDebt. */
  allowDebt?: boolean | undefined;
}

export interface TopUpInput {
  tenantId: string;
  amount: number;
  reason?: string | undefined;
  idempotencyKey?: string | undefined;
}

const IDEMPOTENCY_INDEX = 'transactions_idempotency';

/** The original result of a key, or 422 when the key came with different parameters. */
async function replayOf(db: Db, tenantId: string, type: TransactionType, key: string, hash: string): Promise<TransactionView | undefined> {
  const existing = await findByIdempotencyKey(db, tenantId, type, key);
  if (!existing) return undefined;
  if (existing.requestHash !== hash) throw idempotencyKeyReused(type === 'top_up' ? 'top-up' : type);
  return existing.view;
}

/**
 * One-step charge: one statement (see postCharge for the locking) that writes the balance,
 * transaction, entries and idempotency key together, or nothing. The key is not looked up first:
 * a repeat fails on the unique index and is answered from the original, and a repeat that finds
 * the balance short looks the key up before answering 402.
 */
export async function charge(deps: LedgerDeps, input: ChargeInput): Promise<Outcome<TransactionView>> {
  const { db, clock, ids, settings } = deps;
  // allow_debt joins the hash only when set, so earlier charges' keys still replay.
  const hash = requestHash('charge', {
    amount: input.amount,
    description: input.description ?? null,
    ...(input.allowDebt ? { allow_debt: 1 } : {}),
  });
  const id = ids.next('txn');
  const now = clock.now();
  let account;
  try {
    account = await postCharge(db, {
      id,
      tenantId: input.tenantId,
      amount: input.amount,
      description: input.description ?? null,
      idempotencyKey: input.idempotencyKey,
      requestHash: hash,
      debtAllowed: input.allowDebt ? settings.maxDebt : 0,
      now,
    });
  } catch (err) {
    if (isUniqueViolation(err, IDEMPOTENCY_INDEX)) {
      const concurrent = await replayOf(db, input.tenantId, 'charge', input.idempotencyKey, hash);
      if (concurrent) return { result: concurrent, replayed: true };
    }
    throw err;
  }
  if (!account) {
    const earlier = await replayOf(db, input.tenantId, 'charge', input.idempotencyKey, hash);
    if (earlier) return { result: earlier, replayed: true };
    const current = await findTenantAccount(db, input.tenantId);
    throw insufficientCredits(current ? current.balance - current.held : 0, input.amount);
  }
  if (isNewlyLow(account, settings.defaultLowBalanceThreshold)) {
    const notice = await notifyIfLow(db, account.id, settings.defaultLowBalanceThreshold, id, now);
    if (notice) await deps.relay.publishNow([notice]);
  }
  return {
    result: {
      id,
      tenant_id: input.tenantId,
      type: 'charge',
      amount: input.amount,
      balance_after: account.balance,
      description: input.description ?? null,
      hold_id: null,
      created_at: now.toISOString(),
    },
    replayed: false,
  };
}

/** Admin top-up; emits `credits.topped_up` (event id derived from the transaction id). */
export async function topUp(deps: LedgerDeps, input: TopUpInput): Promise<Outcome<TransactionView>> {
  const { db, clock, ids, settings } = deps;
  const key = input.idempotencyKey;
  const hash = key === undefined ? null : requestHash('top_up', { amount: input.amount, reason: input.reason ?? null });
  if (key !== undefined) {
    const earlier = await replayOf(db, input.tenantId, 'top_up', key, hash!);
    if (earlier) return { result: earlier, replayed: true };
  }
  try {
    const { view, events } = await inTransaction(db, async (trx) => {
      const now = clock.now();
      await ensureTenantAccount(trx, input.tenantId, ids.next('acct'), now);
      const account = await creditBalance(trx, input.tenantId, input.amount, MAX_BALANCE, now);
      if (!account)
        throw conflict('This top-up would take the balance past the largest amount the ledger holds', { max_balance: MAX_BALANCE });
      const id = ids.next('txn');
      const posted = await postTransfer(trx, {
        id,
        type: 'top_up',
        account,
        tenantDelta: input.amount,
        systemAccountId: SYSTEM_ACCOUNTS.topUpSource,
        description: input.reason ?? null,
        idempotencyKey: key ?? null,
        requestHash: hash,
        now,
      });
      const toppedUp = await recordEvent(trx, {
        id: `evt_${id}`,
        type: 'credits.topped_up',
        tenant_id: input.tenantId,
        created_at: now,
        data: {
          transaction_id: id,
          amount: input.amount,
          balance: account.balance,
          available: account.balance - account.held,
          reason: input.reason ?? null,
        },
      });
      await rearmIfRecovered(trx, account, settings.defaultLowBalanceThreshold);
      return { view: posted, events: [toppedUp] };
    });
    await deps.relay.publishNow(events);
    return { result: view, replayed: false };
  } catch (err) {
    if (key !== undefined && isUniqueViolation(err, IDEMPOTENCY_INDEX)) {
      const concurrent = await replayOf(db, input.tenantId, 'top_up', key, hash!);
      if (concurrent) return { result: concurrent, replayed: true };
    }
    throw err;
  }
}

export async function listTransactions(
  deps: LedgerDeps,
  tenantId: string,
  cursor: string | undefined,
  limit: number,
): Promise<Page<TransactionView>> {
  const beforeSeq = cursor !== undefined ? decodeSeqCursor(cursor) : undefined;
  const rows = await listTenantTransactions(deps.db, tenantId, beforeSeq, limit + 1);
  return toPage(rows, limit, toTransactionView, (row) => [row.seq]);
}
