import type { Logger } from '@tollgate/common';
import { expireDueHolds } from './holds/service';
import { reconcile } from './reconcile/service';
import type { LedgerDeps } from './ledger/deps';

export interface MaintenanceOptions {
  ledger: LedgerDeps;
  logger: Logger;
  intervalMs: number;
  /** Holds expired per database transaction. */
  batch: number;
  /** Outbox events older than this are re-published. */
  outboxRelayAfterMs: number;
  /** How often the loop reconciles the ledger (credits_reconcile_ok / _last_run); 0: never. */
  reconcileEveryMs?: number;
}

export interface MaintenancePass {
  expired: number;
  published: number;
}

export interface Maintenance {
  /** One pass now (tests; also what every tick does). */
  runOnce(): Promise<MaintenancePass>;
  /** Stops the loop and waits for a pass in progress. */
  stop(): Promise<void>;
}

/**
 * The credits maintenance loop: expires holds past their TTL and re-publishes events whose
 * publish after commit failed. Its state is the database, so a restart loses nothing: a hold
 * that expired while no process ran is released on the first pass after start. Every replica
 * and worker may run it; FOR UPDATE SKIP LOCKED splits the holds between them.
 */
export function startMaintenance(options: MaintenanceOptions): Maintenance {
  const { ledger, logger } = options;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let running: Promise<MaintenancePass> | undefined;
  let lastReconcile = 0;

  // The reconciliation alert needs a recent result: first pass at start, then every interval.
  const reconcileIfDue = async (): Promise<void> => {
    const every = options.reconcileEveryMs ?? 0;
    if (every <= 0 || Date.now() - lastReconcile < every || stopped) return;
    lastReconcile = Date.now();
    const report = await reconcile(ledger.db, ledger.clock.now());
    ledger.metrics?.reconciled(report.ok);
    if (!report.ok) logger.error('ledger does not reconcile', { mismatch: report.mismatch, counts: report.counts });
  };

  const pass = async (): Promise<MaintenancePass> => {
    let expired = 0;
    // Drain a backlog in batches, but never hold one transaction for more than a batch.
    for (let round = 0; round < 50 && !stopped; round++) {
      const n = await expireDueHolds(ledger, options.batch);
      expired += n;
      if (n < options.batch) break;
    }
    const published = await ledger.relay.sweep({ minAgeMs: options.outboxRelayAfterMs });
    ledger.metrics?.holdsExpired.inc(expired);
    ledger.metrics?.eventsRepublished.inc(published);
    if (expired > 0 || published > 0) logger.info('credits maintenance pass', { holds_expired: expired, events_republished: published });
    await reconcileIfDue();
    return { expired, published };
  };

  const runOnce = (): Promise<MaintenancePass> => {
    const current = pass().finally(() => {
      if (running === current) running = undefined;
    });
    running = current;
    return current;
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      runOnce()
        .catch((err: unknown) => logger.error('credits maintenance pass failed', { err }))
        .finally(schedule);
    }, options.intervalMs);
    timer.unref();
  };
  // First pass at once: whatever expired while no process was running is released on start.
  runOnce()
    .catch((err: unknown) => logger.error('credits maintenance pass failed', { err }))
    .finally(schedule);

  return {
    runOnce,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}
