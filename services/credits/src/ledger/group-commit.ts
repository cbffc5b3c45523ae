import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/schema';
import { PG, pgErrorCode } from '../db/transaction';

/** One hold, capture or release as `credits_apply_batch` takes it (migration 0003). */
export type LedgerOp =
  | {
      op: 'hold';
      id: string;
      tenant_id: string;
      amount: number;
      key: string;
      hash: string;
      description: string | null;
      expires_at: string;
      now: string;
      /** The calling key's budget for the period `now` is in; null when the key has none. */
      budget?: { key_id: string; limit: number; period_start: string; resets_at: string } | null;
    }
  | { op: 'capture'; hold_id: string; amount: number; txn_id: string | null; shard: number; now: string }
  | { op: 'release'; hold_id: string; now: string };

/** A hold row as the function returns it (timestamps as ISO strings). */
export interface HoldJson {
  id: string;
  tenant_id: string;
  account_id: string;
  amount: number;
  status: 'held' | 'captured' | 'released' | 'expired';
  captured_amount: number;
  capture_transaction_id: string | null;
  description: string | null;
  idempotency_key: string;
  request_hash: string;
  expires_at: string;
  created_at: string;
  finalized_at: string | null;
}

export interface EventJson {
  id: string;
  type: 'credits.low_balance';
  tenant_id: string;
  created_at: string;
  data: Record<string, unknown>;
}

/** Each operation's own outcome: a business refusal of one never fails the others. */
export type OpOutcome =
  | { ok: true; replayed: boolean; hold: HoldJson; event?: EventJson | null }
  | { ok: false; error: 'insufficient_credits'; available: number; requested: number }
  | { ok: false; error: 'budget_exceeded'; limit: number; used: number; requested: number; resets_at: string }
  | { ok: false; error: 'idempotency_key_reused' }
  | { ok: false; error: 'not_found' }
  | { ok: false; error: 'not_held'; action: string; hold: HoldJson }
  | { ok: false; error: 'capture_exceeds_hold'; held: number; requested: number };

interface Pending {
  op: LedgerOp;
  resolve: (outcome: OpOutcome) => void;
  reject: (err: unknown) => void;
}

export interface GroupCommitStats {
  /** Function calls made (each one transaction, one commit). */
  batches: number;
  /** Operations applied through them. */
  operations: number;
}

export interface GroupCommitOptions {
  /** Most operations per batch (per transaction). */
  maxBatch: number;
  /** The low-balance threshold for tenants without their own (micro-credits; 0 = off). */
  defaultLowBalanceThreshold: number;
  /** Called with each batch's size (a metric). */
  onBatch?: (size: number) => void;
}

const RETRYABLE = new Set<string>([PG.SERIALIZATION_FAILURE, PG.DEADLOCK_DETECTED]);

/**
 * An error PostgreSQL raised while running the batch (a SQLSTATE outside the connection (08),
 * resources (53) and operator-intervention (57) classes), as opposed to a lost connection or a
 * server going away.
 */
function raisedByStatement(err: unknown): boolean {
  const code = pgErrorCode(err);
  return code !== undefined && !/^(08|53|57)/.test(code);
}

/**
 * Group commit for holds, captures and releases, with natural batching: an operation that
 * arrives while no batch is in flight goes at once, alone (c=1 pays nothing: no timer); those
 * that arrive while one is in flight queue, and go together as the next batch when it returns.
 * A batch is one call of `credits_apply_batch` — one round trip, one transaction, one commit —
 * so N concurrent operations share one WAL flush and a hot tenant's row is locked once per batch
 * instead of once per operation.
 *
 * Failure: the batch is one transaction, so it commits whole or not at all. A deadlock or
 * serialization failure retries the batch; any other error the statement raised (an unexpected
 * constraint, a bad operation) re-runs each operation alone, so one bad operation fails only
 * itself; a lost connection or an unreachable database fails the whole batch at once. A
 * caller's retry is safe even when a lost batch did commit: holds replay by idempotency key, and
 * a capture or release of a hold already finished the same way is a replay.
 */
export class GroupCommit {
  private queue: Pending[] = [];
  private inFlight = false;
  private counters: GroupCommitStats = { batches: 0, operations: 0 };

  constructor(
    private readonly db: Kysely<Database>,
    private readonly options: GroupCommitOptions,
  ) {}

  apply(op: LedgerOp): Promise<OpOutcome> {
    return new Promise<OpOutcome>((resolve, reject) => {
      this.queue.push({ op, resolve, reject });
      if (!this.inFlight) void this.drain();
    });
  }

  stats(): GroupCommitStats {
    return { ...this.counters };
  }

  private async drain(): Promise<void> {
    this.inFlight = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.options.maxBatch);
        await this.settle(batch);
      }
    } finally {
      this.inFlight = false;
    }
  }

  /** Applies one batch and answers every operation in it; never throws. */
  private async settle(batch: Pending[]): Promise<void> {
    try {
      const outcomes = await this.run(batch.map((p) => p.op));
      batch.forEach((p, i) => p.resolve(outcomes[i]!));
    } catch (err) {
      // Re-running op by op only helps when the statement itself failed; when the database is
      // unreachable every op would wait for its own connection timeout, one after the other.
      if (batch.length === 1 || !raisedByStatement(err)) {
        for (const pending of batch) pending.reject(err);
        return;
      }
      for (const pending of batch) {
        try {
          pending.resolve((await this.run([pending.op]))[0]!);
        } catch (alone) {
          pending.reject(alone);
        }
      }
    }
  }

  private async run(ops: LedgerOp[], attempts = 3): Promise<OpOutcome[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        const { rows } = await sql<{ outcomes: OpOutcome[] }>`
          select credits_apply_batch(${JSON.stringify(ops)}::jsonb, ${this.options.defaultLowBalanceThreshold}::bigint) as outcomes`.execute(
          this.db,
        );
        const outcomes = rows[0]?.outcomes;
        if (!Array.isArray(outcomes) || outcomes.length !== ops.length)
          throw new Error(
            `credits_apply_batch answered ${Array.isArray(outcomes) ? outcomes.length : 'no'} outcomes for ${ops.length} operations`,
          );
        this.counters.batches++;
        this.counters.operations += ops.length;
        this.options.onBatch?.(ops.length);
        return outcomes;
      } catch (err) {
        if (!RETRYABLE.has(pgErrorCode(err) ?? '') || attempt >= attempts) throw err;
      }
    }
  }
}
