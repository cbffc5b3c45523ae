import { AppError, type CreditsClient, type Logger, type Periodic, startPeriodic } from '@tollgate/common';
import { type Kysely, sql } from 'kysely';
import type { AiDatabase } from '../db';

export interface DeferredSettlement {
  holdId: string;
  tenantId: string;
  /** What to capture from the hold (≤ the hold). */
  captureAmount: number;
  /** Cost above the hold, charged separately once the capture went through. */
  overage: number;
  idempotencyKey: string;
}

export interface RetryResult {
  settled: number;
  /** Captured as a late charge because the hold had expired or been released meanwhile. */
  chargedLate: number;
  retryLater: number;
  /** Refused for good (e.g. the tenant no longer has the credits for a late charge). */
  uncollectable: number;
}

export interface DeferredSettlements {
  /** Keeps a settlement credits could not take now; false if even that failed. */
  record(settlement: DeferredSettlement, cause: unknown): Promise<boolean>;
  /** One pass over the settlements that are due (any replica; rows are leased, not locked). */
  retryDue(limit?: number): Promise<RetryResult>;
  /** Retries every `intervalMs` until stopped. */
  start(intervalMs: number): void;
  stop(): Promise<void>;
}

/** A leased row comes back to the pool if its process dies before finishing it. */
const LEASE_S = 60;
const MAX_BACKOFF_S = 300;

const reason = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 500);
/**
 * Refusals retrying cannot change: the tenant lacks the credits for a late charge, the key was
 * used for another request, the request itself is invalid. Anything else (credits unreachable,
 * a 401/403 during a secret rotation, a conflict) is retried with backoff until billed.
 */
const isPermanent = (err: unknown) =>
  err instanceof AppError &&
  (err.code === 'INSUFFICIENT_CREDITS' || err.code === 'IDEMPOTENCY_KEY_REUSED' || err.code === 'VALIDATION_FAILED');
/** Credits itself is away: the rest of the batch would only wait for the same timeouts. */
const isUnreachable = (err: unknown) => err instanceof AppError && (err.code === 'UPSTREAM_FAILED' || err.code === 'UPSTREAM_TIMEOUT');

/**
 * Settlements the credits service could not take when a call ended. Holds are captured later
 * (a replayed capture with the same amount is a no-op at credits, so a capture that went through
 * unseen is not charged twice); a hold that expired or was released meanwhile becomes a charge
 * with its own idempotency key. So every call is billed exactly once, whenever credits returns.
 */
export function createDeferredSettlements(deps: { db: Kysely<AiDatabase>; credits: CreditsClient; logger: Logger }): DeferredSettlements {
  const { db, credits, logger } = deps;
  let periodic: Periodic | undefined;

  async function settleOne(row: {
    hold_id: string;
    tenant_id: string;
    capture_amount: number;
    overage: number;
    idempotency_key: string;
  }): Promise<'settled' | 'charged_late'> {
    let outcome: 'settled' | 'charged_late' = 'settled';
    try {
      await credits.capture(row.hold_id, row.capture_amount);
    } catch (err) {
      const status = err instanceof AppError ? (err.details?.['status'] as string | undefined) : undefined;
      const gone =
        err instanceof AppError &&
        (err.code === 'NOT_FOUND' || (err.code === 'CONFLICT' && (status === 'expired' || status === 'released')));
      if (err instanceof AppError && err.code === 'CONFLICT' && status === 'captured') {
        // Captured already with another amount: the hold part was billed; the overage still is due.
        logger.warn('deferred capture found the hold captured with another amount', { hold_id: row.hold_id, details: err.details });
      } else {
        if (!gone) throw err;
        // The hold ran out (expired or released) before we could capture it: charge instead.
        await credits.charge({
          tenantId: row.tenant_id,
          amount: row.capture_amount,
          idempotencyKey: `${row.idempotency_key}:late`,
          description: 'usage settled after a billing outage',
          allowDebt: true,
        });
        outcome = 'charged_late';
      }
    }
    if (row.overage > 0) {
      await credits.charge({
        tenantId: row.tenant_id,
        amount: row.overage,
        idempotencyKey: `${row.idempotency_key}:overage`,
        description: 'usage above the hold',
        allowDebt: true,
      });
    }
    return outcome;
  }

  async function retryDue(limit = 50): Promise<RetryResult> {
    const result: RetryResult = { settled: 0, chargedLate: 0, retryLater: 0, uncollectable: 0 };
    const rows = await db
      .updateTable('pending_settlements')
      .set({ next_attempt_at: sql<Date>`now() + make_interval(secs => ${LEASE_S})`, attempts: sql<number>`attempts + 1` })
      .where('hold_id', 'in', (eb) =>
        eb
          .selectFrom('pending_settlements')
          .select('hold_id')
          .where('next_attempt_at', '<=', sql<Date>`now()`)
          .orderBy('next_attempt_at')
          .limit(limit)
          .forUpdate()
          .skipLocked(),
      )
      .returning(['hold_id', 'tenant_id', 'capture_amount', 'overage', 'idempotency_key', 'attempts'])
      .execute();
    for (const [index, row] of rows.entries()) {
      try {
        const outcome = await settleOne(row);
        await db.deleteFrom('pending_settlements').where('hold_id', '=', row.hold_id).execute();
        if (outcome === 'charged_late') result.chargedLate++;
        else result.settled++;
        logger.info('deferred settlement billed', {
          hold_id: row.hold_id,
          tenant_id: row.tenant_id,
          amount: row.capture_amount + row.overage,
          attempts: row.attempts,
          outcome,
        });
      } catch (err) {
        if (isPermanent(err)) {
          await db.deleteFrom('pending_settlements').where('hold_id', '=', row.hold_id).execute();
          result.uncollectable++;
          logger.error('deferred settlement refused for good; the call stays unbilled', {
            hold_id: row.hold_id,
            tenant_id: row.tenant_id,
            amount: row.capture_amount + row.overage,
            err,
          });
          continue;
        }
        const backoffS = Math.min(MAX_BACKOFF_S, 2 ** Math.min(row.attempts, 9));
        // Credits unreachable: the rest of the batch waits with this row instead of each timing out.
        const later = isUnreachable(err) ? rows.slice(index).map((r) => r.hold_id) : [row.hold_id];
        await db
          .updateTable('pending_settlements')
          .set({ next_attempt_at: sql<Date>`now() + make_interval(secs => ${backoffS})`, last_error: reason(err) })
          .where('hold_id', 'in', later)
          .execute();
        result.retryLater += later.length;
        if (later.length > 1) break;
      }
    }
    return result;
  }

  return {
    async record(settlement, cause) {
      try {
        await db
          .insertInto('pending_settlements')
          .values({
            hold_id: settlement.holdId,
            tenant_id: settlement.tenantId,
            capture_amount: settlement.captureAmount,
            overage: settlement.overage,
            idempotency_key: settlement.idempotencyKey,
            next_attempt_at: new Date(Date.now() + 1_000),
            last_error: reason(cause),
          })
          .onConflict((oc) => oc.column('hold_id').doNothing())
          .execute();
        logger.warn('credits could not settle a call now; it is kept and retried', {
          hold_id: settlement.holdId,
          tenant_id: settlement.tenantId,
          amount: settlement.captureAmount + settlement.overage,
          err: cause,
        });
        return true;
      } catch (err) {
        logger.error('a settlement could neither be billed nor kept; the call is unbilled', {
          hold_id: settlement.holdId,
          amount: settlement.captureAmount + settlement.overage,
          err,
          cause,
        });
        return false;
      }
    },
    retryDue,
    start(intervalMs) {
      periodic ??= startPeriodic({ name: 'deferred settlement retry', intervalMs, logger, run: () => retryDue() });
    },
    async stop() {
      await periodic?.stop();
      periodic = undefined;
    },
  };
}
