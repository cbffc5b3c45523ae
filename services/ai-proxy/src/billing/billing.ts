import { AppError, type CreditHold, type CreditsClient, type KeyBudgetPolicy, type Logger } from '@tollgate/common';
import type { DeferredSettlements } from './deferred';

/**
 * Holds and settles the cost of one call through the credits service. The hold covers the worst
 * case before anything is sent upstream; settling captures the real cost (the rest of the hold
 * returns to the tenant). A real cost above the hold (an image that tokenised worse than its
 * allowance, an upstream past max_tokens) is captured in full and the difference charged as a
 * late charge that may leave the tenant owing (bounded by credits' MAX_DEBT): the call was
 * delivered, so it is not free; the tenant can hold nothing more until topped up.
 */
export interface Settlement {
  /** What the tenant paid for this call. */
  charged: number;
  /** Cost that could not be collected (the overage charge was refused or credits failed). */
  uncollected: number;
  /** Credits could not take it now; it is kept and billed when credits answers again. */
  deferred?: boolean;
  error?: unknown;
}

export interface HoldInput {
  tenantId: string;
  amount: number;
  idempotencyKey: string;
  ttlS: number;
  description: string;
  budget?: { keyId: string; amount: number; period: 'day' | 'week' | 'month' } | undefined;
}

/** The hold's budget field for a caller whose key has a budget (reserved by the same hold). */
export const budgetOf = (caller: { keyId: string; budget?: KeyBudgetPolicy | undefined }): HoldInput['budget'] =>
  caller.budget ? { keyId: caller.keyId, amount: caller.budget.amount, period: caller.budget.period } : undefined;

export interface Billing {
  /**
   * A hold for one call, once per key: a repeat with the same key (an idempotent retry, a queued
   * job's next attempt) gets the same hold back, so it is captured once. If that hold was
   * captured, the call is paid already (settle is a no-op); if it was released or expired (or
   * captured past the replay window), a new hold is taken under a key derived from this one, and
   * settling it uses that key.
   * `capturedMeansPaid: false` is for a call about to ask the upstream: a captured hold under its
   * key means that call finished and was billed, and nobody kept its answer for this caller (the
   * gateway replays kept answers before they reach here), so running it again unbilled would hand
   * out a free call on every retry: it is refused with 409 instead.
   */
  hold(input: HoldInput, options?: { capturedMeansPaid?: boolean }): Promise<CreditHold>;
  settle(hold: CreditHold, cost: number, idempotencyKey: string): Promise<Settlement>;
  release(hold: CreditHold): Promise<void>;
  /** A one-step charge (cache hits billed at a rate). */
  charge(input: { tenantId: string; amount: number; idempotencyKey: string; description: string }): Promise<Settlement>;
}

/**
 * How long a captured hold answers for its key: the gateway replays an idempotent answer for 24 h
 * (docs/architecture.md); a repeat after that is a new call and pays again, so an old key is no free pass.
 */
const PAID_REPLAY_WINDOW_MS = 24 * 3_600_000;
const finished = (hold: CreditHold) =>
  hold.status === 'released' ||
  hold.status === 'expired' ||
  (hold.status === 'captured' && Date.now() - Date.parse(hold.created_at) > PAID_REPLAY_WINDOW_MS);

/** A refusal that retrying cannot change (a malformed amount, a tenant without the credits). */
const isRefusal = (err: unknown) => err instanceof AppError && (err.code === 'VALIDATION_FAILED' || err.code === 'INSUFFICIENT_CREDITS');

export function createBilling(credits: CreditsClient, logger: Logger, deferred?: DeferredSettlements): Billing {
  /** Hands a settlement credits could not take now to the retrier; true if it is kept. */
  const defer = async (hold: CreditHold, captured: number, overage: number, idempotencyKey: string, err: unknown) =>
    deferred !== undefined &&
    !isRefusal(err) &&
    (await deferred.record({ holdId: hold.id, tenantId: hold.tenant_id, captureAmount: captured, overage, idempotencyKey }, err));
  const release = async (hold: CreditHold) => {
    if (hold.status !== 'held') return;
    try {
      await credits.release(hold.id);
    } catch (err) {
      // The hold expires on its own; the tenant's credits come back then.
      logger.error('releasing a hold failed; it will expire', { hold_id: hold.id, err });
    }
  };
  /** Holds taken under a derived key: their capture, overage and late charge use it too. */
  const chainedKeys = new WeakMap<CreditHold, string>();
  const holdOne = async (input: HoldInput): Promise<CreditHold> => {
    try {
      return await credits.hold(input);
    } catch (err) {
      if (err instanceof AppError && err.code === 'INSUFFICIENT_CREDITS') {
        throw new AppError('INSUFFICIENT_CREDITS', 'Insufficient credits for this request: top up the account or lower max_tokens', {
          details: { required: input.amount },
          cause: err,
        });
      }
      if (err instanceof AppError && err.status < 500) throw err;
      throw new AppError('SERVICE_UNAVAILABLE', 'Billing is unavailable right now; retry shortly', {
        cause: err,
        headers: { 'Retry-After': '1' },
      });
    }
  };
  return {
    async hold(input, options = {}) {
      let hold = await holdOne(input);
      if (options.capturedMeansPaid === false && hold.status === 'captured' && !finished(hold)) {
        throw new AppError(
          'CONFLICT',
          'The call under this Idempotency-Key completed and was billed, but its answer was not kept; use a new Idempotency-Key for another call',
          {
            details: { reason: 'completed_answer_not_kept' },
          },
        );
      }
      // Bounded: each finished hold in the chain was an earlier try of the same call.
      for (let retry = 1; retry <= 5 && finished(hold); retry++) {
        const key = `${input.idempotencyKey}:r${retry}`;
        hold = await holdOne({ ...input, idempotencyKey: key });
        chainedKeys.set(hold, key);
      }
      if (finished(hold)) throw new AppError('CONFLICT', 'This request was retried too often; use a new Idempotency-Key');
      return hold;
    },

    async settle(hold, cost, callKey) {
      const idempotencyKey = chainedKeys.get(hold) ?? callKey;
      // Captured by an earlier try of the same call (same key): it is paid, once.
      if (hold.status === 'captured') return { charged: 0, uncollected: 0 };
      if (cost <= 0) {
        await release(hold);
        return { charged: 0, uncollected: 0 };
      }
      const captured = Math.min(cost, hold.amount);
      try {
        await credits.capture(hold.id, captured);
      } catch (err) {
        // Another try of the same call (same key, shared hold) captured it first: paid once.
        if (err instanceof AppError && err.code === 'CONFLICT' && err.details?.['status'] === 'captured')
          return { charged: 0, uncollected: 0 };
        if (await defer(hold, captured, cost - captured, idempotencyKey, err)) return { charged: cost, uncollected: 0, deferred: true };
        logger.error('capturing a hold failed; the call is unbilled', { hold_id: hold.id, amount: captured, err });
        return { charged: 0, uncollected: cost, error: err };
      }
      if (cost === captured) return { charged: cost, uncollected: 0 };
      try {
        await credits.charge({
          tenantId: hold.tenant_id,
          amount: cost - captured,
          idempotencyKey: `${idempotencyKey}:overage`,
          description: 'usage above the hold',
          allowDebt: true,
        });
        return { charged: cost, uncollected: 0 };
      } catch (err) {
        // The capture is kept too: replaying it with the same amount is a no-op at credits.
        if (await defer(hold, captured, cost - captured, idempotencyKey, err)) return { charged: cost, uncollected: 0, deferred: true };
        logger.warn('charging the overage above a hold failed', { hold_id: hold.id, overage: cost - captured, err });
        return { charged: captured, uncollected: cost - captured, error: err };
      }
    },

    release,

    async charge(input) {
      if (input.amount <= 0) return { charged: 0, uncollected: 0 };
      await credits.charge(input);
      return { charged: input.amount, uncollected: 0 };
    },
  };
}
