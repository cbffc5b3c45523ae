import { AppError, conflict, notFound } from '@tollgate/common';
import { isNewlyLow, notifyIfLow, rearmIfRecovered } from '../accounts/low-balance';
import { findTenantAccount, settleHeld } from '../accounts/repository';
import type { Db, Hold } from '../db/schema';
import { inTransaction, isUniqueViolation } from '../db/transaction';
import type { LedgerDeps } from '../ledger/deps';
import { idempotencyKeyReused, insufficientCredits } from '../ledger/errors';
import { shardOf } from '../ledger/system-accounts';
import { requestHash } from '../ledger/validation';
import type { Outcome } from '../transactions/service';
import {
  captureHeldHold,
  findHold,
  findHoldByKey,
  finishHold,
  type HoldView,
  lockExpiredHolds,
  lockHold,
  releaseHeldHold,
  reserveHold,
  toHoldView,
} from './repository';

export interface HoldInput {
  tenantId: string;
  amount: number;
  idempotencyKey: string;
  ttlS?: number | undefined;
  description?: string | undefined;
}

async function replayOf(db: Db, tenantId: string, key: string, hash: string): Promise<HoldView | undefined> {
  const existing = await findHoldByKey(db, tenantId, key);
  if (!existing) return undefined;
  if (existing.request_hash !== hash) throw idempotencyKeyReused('hold');
  return toHoldView(existing);
}

/**
 * Reserves `amount` (a pending transfer): nothing is posted, but the available balance drops at
 * once, under the same conditional update as a charge. A replay returns the hold as it is now.
 */
export async function createHold(deps: LedgerDeps, input: HoldInput): Promise<Outcome<HoldView>> {
  const { db, clock, ids, settings } = deps;
  const ttlS = input.ttlS ?? settings.holdDefaultTtlS;
  const hash = requestHash('hold', { amount: input.amount, ttl_s: ttlS, description: input.description ?? null });
  const now = clock.now();
  // As for charges, a repeated key is caught by the unique index, not looked up first.
  let reserved;
  try {
    reserved = await reserveHold(db, {
      id: ids.next('hold'),
      tenantId: input.tenantId,
      amount: input.amount,
      description: input.description ?? null,
      idempotencyKey: input.idempotencyKey,
      requestHash: hash,
      expiresAt: new Date(now.getTime() + ttlS * 1000),
      now,
    });
  } catch (err) {
    if (isUniqueViolation(err, 'holds_idempotency')) {
      const concurrent = await replayOf(db, input.tenantId, input.idempotencyKey, hash);
      if (concurrent) return { result: concurrent, replayed: true };
    }
    throw err;
  }
  if (!reserved) {
    const earlier = await replayOf(db, input.tenantId, input.idempotencyKey, hash);
    if (earlier) return { result: earlier, replayed: true };
    const current = await findTenantAccount(db, input.tenantId);
    throw insufficientCredits(current ? current.balance - current.held : 0, input.amount);
  }
  if (isNewlyLow(reserved.account, settings.defaultLowBalanceThreshold)) {
    const notice = await notifyIfLow(db, reserved.account.id, settings.defaultLowBalanceThreshold, reserved.hold.id, now);
    if (notice) await deps.relay.publishNow([notice]);
  }
  return { result: toHoldView(reserved.hold), replayed: false };
}

function notHeld(hold: Hold, action: string): AppError {
  return conflict(`The hold is ${hold.status}; it cannot be ${action}`, {
    status: hold.status,
    hold_id: hold.id,
    captured_amount: hold.captured_amount,
  });
}

/** Returns the hold's amount to the available balance and marks it released or expired. */
async function returnHold(trx: Db, deps: LedgerDeps, hold: Hold, status: 'released' | 'expired', now: Date): Promise<Hold> {
  const account = await settleHeld(trx, hold.account_id, hold.amount, 0, now);
  const finished = await finishHold(trx, hold.id, status, 0, null, now);
  await rearmIfRecovered(trx, account, deps.settings.defaultLowBalanceThreshold);
  return finished;
}

/**
 * Posts `amount` (≤ the hold) as a charge and returns the rest, in one statement. Capturing again
 * with the same amount replays; any other second capture, or a capture of a released or expired
 * hold, is 409; more than the hold is 400.
 */
export async function captureHold(deps: LedgerDeps, holdId: string, amount: number): Promise<Outcome<HoldView>> {
  const { db, clock, ids, settings } = deps;
  const now = clock.now();
  const captured = await captureHeldHold(db, {
    holdId,
    amount,
    transactionId: amount > 0 ? ids.next('txn') : null,
    shard: shardOf(holdId),
    now,
    defaultLowBalanceThreshold: settings.defaultLowBalanceThreshold,
  });
  if (captured) return { result: toHoldView(captured), replayed: false };

  // Nothing was written: say why, from the hold as it is now.
  const hold = await findHold(db, holdId);
  if (!hold) throw notFound('Hold');
  if (hold.status === 'captured') {
    if (hold.captured_amount === amount) return { result: toHoldView(hold), replayed: true };
    throw notHeld(hold, 'captured again with a different amount');
  }
  if (hold.status !== 'held') throw notHeld(hold, 'captured');
  if (hold.expires_at.getTime() <= now.getTime()) {
    // Past its TTL but not swept yet: expire it now, then refuse the capture.
    throw notHeld(await expireHold(deps, holdId), 'captured');
  }
  if (amount > hold.amount) {
    throw new AppError('VALIDATION_FAILED', `Cannot capture ${amount}: the hold is for ${hold.amount}`, {
      details: { param: 'amount', held: hold.amount, requested: amount },
    });
  }
  throw conflict('The hold changed while it was being captured; retry', { status: hold.status, hold_id: hold.id });
}

/**
 * Returns the whole hold to the available balance, in one statement. Releasing again replays;
 * releasing a hold that already expired answers with it as it is (its funds are back either
 * way); releasing a captured hold is 409.
 */
export async function releaseHold(deps: LedgerDeps, holdId: string): Promise<Outcome<HoldView>> {
  const { db, clock, settings } = deps;
  const released = await releaseHeldHold(db, holdId, clock.now(), settings.defaultLowBalanceThreshold);
  if (released) return { result: toHoldView(released), replayed: false };
  const hold = await findHold(db, holdId);
  if (!hold) throw notFound('Hold');
  if (hold.status === 'released' || hold.status === 'expired') return { result: toHoldView(hold), replayed: true };
  throw notHeld(hold, 'released');
}

/** Expires one hold now if it is still held (a capture arrived after its TTL); returns it as it ends up. */
async function expireHold(deps: LedgerDeps, holdId: string): Promise<Hold> {
  return inTransaction(deps.db, async (trx) => {
    const hold = await lockHold(trx, holdId);
    if (!hold) throw notFound('Hold');
    return hold.status === 'held' ? returnHold(trx, deps, hold, 'expired', deps.clock.now()) : hold;
  });
}

/**
 * Expires up to `limit` holds past their TTL, in one transaction. Holds are processed in account
 * order, so two sweepers (or a sweeper and a capture) always lock account rows in the same
 * order. Returns how many holds expired.
 */
export async function expireDueHolds(deps: LedgerDeps, limit: number): Promise<number> {
  return inTransaction(deps.db, async (trx) => {
    const now = deps.clock.now();
    const due = await lockExpiredHolds(trx, now, limit);
    due.sort((a, b) => (a.account_id < b.account_id ? -1 : a.account_id > b.account_id ? 1 : 0));
    for (const hold of due) await returnHold(trx, deps, hold, 'expired', now);
    return due.length;
  });
}
