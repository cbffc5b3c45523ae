import { type Closer, type Logger, type Periodic, type ServiceWorkers, startPeriodic, stopAll } from '@tollgate/common';
import type { CreditsDeps, LedgerDeps } from './deps';
import { expireDueHolds } from './holds/service';
import { reconcile } from './reconcile/service';

export interface MaintenancePass {
  expired: number;
  published: number;
}

/**
 * One maintenance pass: expires holds past their TTL (a backlog in batches, never more than a
 * batch per transaction) and re-publishes events whose publish after commit failed.
 */
export async function maintenancePass(ledger: LedgerDeps, logger: Logger, options: { batch: number; outboxRelayAfterMs: number }): Promise<MaintenancePass> {
  let expired = 0;
  for (let round = 0; round < 50; round++) {
    const n = await expireDueHolds(ledger, options.batch);
    expired += n;
    if (n < options.batch) break;
  }
  const published = await ledger.relay.sweep({ minAgeMs: options.outboxRelayAfterMs });
  ledger.metrics?.holdsExpired.inc(expired);
  ledger.metrics?.eventsRepublished.inc(published);
  if (expired > 0 || published > 0) logger.info('credits maintenance pass', { holds_expired: expired, events_republished: published });
  return { expired, published };
}

/** Reconciles the whole ledger; the result is what credits_reconcile_ok and its alert read. */
export async function reconciliationPass(ledger: LedgerDeps, logger: Logger): Promise<void> {
  const report = await reconcile(ledger.db, ledger.clock.now());
  ledger.metrics?.reconciled(report.ok);
  if (!report.ok) logger.error('ledger does not reconcile', { mismatch: report.mismatch, counts: report.counts });
}

export interface CreditsWorkers extends ServiceWorkers {
  maintenance: Periodic;
  reconciliation: Periodic;
}

/**
 * The credits workers: the maintenance loop (MAINTENANCE_INTERVAL_MS) and the reconciliation
 * (RECONCILE_INTERVAL_MS; 0: never). Both run at start too: whatever expired while no process
 * ran is released on the first pass, and the reconciliation alert needs a recent result. Their
 * state is the database, so every replica and worker may run them; FOR UPDATE SKIP LOCKED splits
 * the holds between them.
 */
export function startWorkers(deps: Pick<CreditsDeps, 'config' | 'ledger' | 'logger'>): CreditsWorkers {
  const { config, ledger, logger } = deps;
  const maintenance = startPeriodic({
    name: 'credits maintenance pass',
    intervalMs: config.MAINTENANCE_INTERVAL_MS,
    logger,
    runAtStart: true,
    run: () => maintenancePass(ledger, logger, { batch: config.HOLD_SWEEP_BATCH, outboxRelayAfterMs: config.OUTBOX_RELAY_AFTER_MS }),
  });
  const reconciliation = startPeriodic({
    name: 'credits reconciliation',
    intervalMs: config.RECONCILE_INTERVAL_MS,
    logger,
    runAtStart: true,
    run: () => reconciliationPass(ledger, logger),
  });
  const closers: Closer[] = [{ name: 'credits maintenance', close: () => stopAll([maintenance, reconciliation]) }];
  return { maintenance, reconciliation, closers };
}
