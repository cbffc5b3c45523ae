import { AppError, type Metrics, promClient as client, seriesOn } from '@tollgate/common';
import { type Kysely, sql } from 'kysely';
import type { Database } from './db/schema';

export type LedgerOperation = 'hold' | 'capture' | 'release' | 'charge' | 'top_up';

/** The ledger's own series, on the service's registry. Labels are closed sets. */
export interface CreditsMetrics {
  operations: client.Counter<'operation' | 'outcome'>;
  moved: client.Counter<'operation'>;
  holdsExpired: client.Counter;
  eventsRepublished: client.Counter;
  /** Operations per group-commit batch (one transaction each). */
  batchSize: client.Histogram;
  /** Records a reconciliation's result (the gauges exist only once one ran in this process). */
  reconciled(ok: boolean): void;
}

/** One set per registry: the app and the maintenance loop of one process share it. */
const byRegistry = new WeakMap<client.Registry, CreditsMetrics>();

export function creditsMetrics(metrics: Metrics): CreditsMetrics {
  const existing = byRegistry.get(metrics.registry);
  if (existing) return existing;
  const series = seriesOn(metrics);
  let reconcileGauges: { ok: client.Gauge; lastRun: client.Gauge } | undefined;
  const created: CreditsMetrics = {
    operations: series.counter('credits_operations_total', 'Ledger operations by kind and outcome (applied, replayed, insufficient_credits, conflict, not_found, invalid, error)', ['operation', 'outcome']),
    moved: series.counter('credits_moved_micro_credits_total', 'Micro-credits reserved (hold), posted (capture, charge, top_up) or returned (release), by operation; replays not counted', ['operation']),
    holdsExpired: series.counter('credits_holds_expired_total', 'Holds released by the maintenance loop after their TTL'),
    eventsRepublished: series.counter('credits_events_republished_total', 'Outbox events re-published after their first publish failed'),
    batchSize: series.histogram('credits_ledger_batch_size', 'Holds, captures and releases applied per transaction (group commit); its sum over its count is the mean batch', [1, 2, 4, 8, 16, 32, 64, 128, 256]),
    reconciled(ok) {
      // Created on the first run, not at start: a gauge starts at 0, and a fresh process (or a
      // replica that never reconciled) must not read as "the ledger does not reconcile".
      reconcileGauges ??= {
        ok: series.gauge('credits_reconcile_ok', '1 if the last reconciliation in this process found the ledger consistent, 0 if not'),
        lastRun: series.gauge('credits_reconcile_last_run_timestamp_seconds', 'When this process last reconciled'),
      };
      reconcileGauges.ok.set(ok ? 1 : 0);
      reconcileGauges.lastRun.set(Date.now() / 1000);
    },
  };
  byRegistry.set(metrics.registry, created);
  return created;
}

const OUTCOME_BY_CODE: Record<string, string> = {
  INSUFFICIENT_CREDITS: 'insufficient_credits',
  CONFLICT: 'conflict',
  IDEMPOTENCY_KEY_REUSED: 'conflict',
  NOT_FOUND: 'not_found',
  VALIDATION_FAILED: 'invalid',
};

/**
 * Counts one operation by how it ended, and the amount it moved when it was applied (a replay
 * moved nothing). `amountOf` reads the amount from the result (a release returns the hold's).
 */
export async function tracked<T extends { replayed: boolean; result: unknown }>(
  metrics: CreditsMetrics | undefined,
  operation: LedgerOperation,
  amountOf: (outcome: T) => number,
  run: () => Promise<T>,
): Promise<T> {
  if (!metrics) return run();
  try {
    const outcome = await run();
    metrics.operations.inc({ operation, outcome: outcome.replayed ? 'replayed' : 'applied' });
    if (!outcome.replayed) metrics.moved.inc({ operation }, amountOf(outcome));
    return outcome;
  } catch (err) {
    metrics.operations.inc({ operation, outcome: (err instanceof AppError && OUTCOME_BY_CODE[err.code]) || 'error' });
    throw err;
  }
}

/**
 * Backlogs read from the ledger at scrape time (both queries use partial indexes): holds past
 * their TTL the maintenance loop has not released yet, and committed events not yet published.
 * Every replica reports the same numbers; alerts take the max.
 */
export function observeLedgerBacklogs(metrics: Metrics, db: Kysely<Database>): void {
  const series = seriesOn(metrics);
  const read = async <T>(query: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await query();
    } catch {
      return undefined; // database down: no sample (db_pool_* and readiness say why)
    }
  };
  series.gauge('credits_holds_overdue', 'Holds past expires_at still held (not yet released by the maintenance loop)', [], async function () {
    const row = await read(() =>
      sql<{ n: number }>`select count(*)::int as n from holds where status = 'held' and expires_at < now()`.execute(db).then((r) => r.rows[0]),
    );
    if (row) this.set(row.n);
  });
  series.gauge('credits_holds_overdue_oldest_seconds', 'How long past its expiry the oldest still-held hold is (0: none overdue)', [], async function () {
    const row = await read(() =>
      sql<{ s: number }>`select coalesce(extract(epoch from now() - min(expires_at)), 0)::float8 as s from holds where status = 'held' and expires_at < now()`
        .execute(db)
        .then((r) => r.rows[0]),
    );
    if (row) this.set(row.s);
  });
  series.gauge('credits_outbox_oldest_unpublished_seconds', 'Age of the oldest committed ledger event not yet published to the event queue (0: none)', [], async function () {
    const row = await read(() =>
      sql<{ s: number }>`select coalesce(extract(epoch from now() - min(created_at)), 0)::float8 as s from outbox_events where published_at is null`
        .execute(db)
        .then((r) => r.rows[0]),
    );
    if (row) this.set(row.s);
  });
}
