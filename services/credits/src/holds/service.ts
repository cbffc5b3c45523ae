import { AppError, conflict, notFound, type OutboxEvent } from '@tollgate/common';
import { sql } from 'kysely';
import { rearmIfRecovered } from '../accounts/low-balance';
import { settleHeld } from '../accounts/repository';
import type { Db, Hold } from '../db/schema';
import { inTransaction } from '../db/transaction';
import type { LedgerDeps } from '../deps';
import { idempotencyKeyReused, insufficientCredits } from '../ledger/errors';
import type { HoldJson, OpOutcome } from '../ledger/group-commit';
import { shardOf } from '../ledger/system-accounts';
import { requestHash } from '../ledger/validation';
import type { Outcome } from '../transactions/service';
import { finishHold, type HoldView, lockExpiredHolds, toHoldView } from './repository';

export interface HoldInput {
  tenantId: string;
  amount: number;
  idempotencyKey: string;
  ttlS?: number | undefined;
  description?: string | undefined;
  /** The calling key's budget, reserved by the same hold (issue 17). */
  budget?: KeyBudget | undefined;
}

export interface KeyBudget {
  keyId: string;
  /** Micro-credits per period. */
  amount: number;
  period: 'day' | 'week' | 'month';
}

/** The budget period `now` falls in (UTC): its start, and when the next one begins. Weeks start on Monday. */
export function budgetPeriod(period: KeyBudget['period'], now: Date): { start: Date; resetsAt: Date } {
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  const d = now.getUTCDate();
  if (period === 'month') return { start: new Date(Date.UTC(y, m, 1)), resetsAt: new Date(Date.UTC(y, m + 1, 1)) };
  if (period === 'week') {
    const sinceMonday = (now.getUTCDay() + 6) % 7;
    return { start: new Date(Date.UTC(y, m, d - sinceMonday)), resetsAt: new Date(Date.UTC(y, m, d - sinceMonday + 7)) };
  }
  return { start: new Date(Date.UTC(y, m, d)), resetsAt: new Date(Date.UTC(y, m, d + 1)) };
}

/** A hold row from credits_apply_batch (JSON) as the repository reads it. */
function holdOf(json: HoldJson): Hold {
  return {
    ...json,
    expires_at: new Date(json.expires_at),
    created_at: new Date(json.created_at),
    finalized_at: json.finalized_at === null ? null : new Date(json.finalized_at),
  };
}

function notHeld(hold: Hold, action: string): AppError {
  return conflict(`The hold is ${hold.status}; it cannot be ${action}`, {
    status: hold.status,
    hold_id: hold.id,
    captured_amount: hold.captured_amount,
  });
}

/**
 * The answer to one operation of a batch: its hold (and whether it replayed), or the error the
 * API has always given for that refusal. A low-balance event recorded with it is published now
 * (it is in the outbox already, committed with the hold; the relay retries a failed publish).
 */
async function answer(deps: LedgerDeps, outcome: OpOutcome): Promise<Outcome<HoldView>> {
  if (outcome.ok) {
    if (outcome.event) {
      const event: OutboxEvent = { ...outcome.event, created_at: new Date(outcome.event.created_at) };
      await deps.relay.publishNow([event]);
    }
    return { result: toHoldView(holdOf(outcome.hold)), replayed: outcome.replayed };
  }
  switch (outcome.error) {
    case 'insufficient_credits':
      throw insufficientCredits(outcome.available, outcome.requested);
    case 'budget_exceeded':
      // The numbers are in the message too: OpenAI-shaped answers (chat, embeddings) carry no details.
      throw new AppError(
        'BUDGET_EXCEEDED',
        `The key's budget for this period does not cover this call: it reserves up to ${outcome.requested}, and ${outcome.used} of ${outcome.limit} are used or reserved; the budget resets at ${outcome.resets_at}`,
        {
          details: { limit: outcome.limit, used: outcome.used, requested: outcome.requested, resets_at: outcome.resets_at },
        },
      );
    case 'idempotency_key_reused':
      throw idempotencyKeyReused('hold');
    case 'not_found':
      throw notFound('Hold');
    case 'not_held':
      throw notHeld(holdOf(outcome.hold), outcome.action);
    case 'capture_exceeds_hold':
      throw new AppError('VALIDATION_FAILED', `Cannot capture ${outcome.requested}: the hold is for ${outcome.held}`, {
        details: { param: 'amount', held: outcome.held, requested: outcome.requested },
      });
  }
}

/**
 * Reserves `amount` (a pending transfer): nothing is posted, but the available balance drops at
 * once. One server-side call (credits_hold, through the group commit): the tenant's row is locked,
 * the key looked up (a repeat replays the hold as it is now; other parameters are 422), the
 * available balance checked (402, nothing written) and the hold written, with its low-balance
 * event if it crossed the threshold, in one transaction.
 */
export async function createHold(deps: LedgerDeps, input: HoldInput): Promise<Outcome<HoldView>> {
  const { clock, ids, settings } = deps;
  const ttlS = input.ttlS ?? settings.holdDefaultTtlS;
  const hash = requestHash('hold', { amount: input.amount, ttl_s: ttlS, description: input.description ?? null });
  const now = clock.now();
  const outcome = await deps.batcher.apply({
    op: 'hold',
    id: ids.next('hold'),
    tenant_id: input.tenantId,
    amount: input.amount,
    key: input.idempotencyKey,
    hash,
    description: input.description ?? null,
    expires_at: new Date(now.getTime() + ttlS * 1000).toISOString(),
    now: now.toISOString(),
    budget: input.budget ? budgetOp(input.budget, now) : null,
  });
  return answer(deps, outcome);
}

function budgetOp(budget: KeyBudget, now: Date) {
  const { start, resetsAt } = budgetPeriod(budget.period, now);
  return { key_id: budget.keyId, limit: budget.amount, period_start: start.toISOString(), resets_at: resetsAt.toISOString() };
}

/** Returns the hold's amount to the available balance and marks it released or expired. */
async function returnHold(trx: Db, deps: LedgerDeps, hold: Hold, status: 'released' | 'expired', now: Date): Promise<Hold> {
  const account = await settleHeld(trx, hold.account_id, hold.amount, 0, now);
  // A hold that counted against its key's budget gives it back (migration 0005).
  await sql`select credits_budget_settle(h, 0) from holds h where h.id = ${hold.id}`.execute(trx);
  const finished = await finishHold(trx, hold.id, status, 0, null, now);
  await rearmIfRecovered(trx, account, deps.settings.defaultLowBalanceThreshold);
  return finished;
}

/**
 * Posts `amount` (≤ the hold) as a charge and returns the rest, in one server-side call
 * (credits_capture). Capturing again with the same amount replays; any other second capture, or
 * a capture of a released or expired hold, is 409; a capture after the TTL that no sweep has seen
 * yet expires the hold and is 409; more than the hold is 400.
 */
export async function captureHold(deps: LedgerDeps, holdId: string, amount: number): Promise<Outcome<HoldView>> {
  const { clock, ids } = deps;
  const outcome = await deps.batcher.apply({
    op: 'capture',
    hold_id: holdId,
    amount,
    txn_id: amount > 0 ? ids.next('txn') : null,
    shard: shardOf(holdId),
    now: clock.now().toISOString(),
  });
  return answer(deps, outcome);
}

/**
 * Returns the whole hold to the available balance (credits_release). Releasing again replays;
 * releasing a hold that already expired answers with it as it is (its funds are back either
 * way); releasing a captured hold is 409.
 */
export async function releaseHold(deps: LedgerDeps, holdId: string): Promise<Outcome<HoldView>> {
  const outcome = await deps.batcher.apply({ op: 'release', hold_id: holdId, now: deps.clock.now().toISOString() });
  return answer(deps, outcome);
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
