import type { Logger } from '@tollgate/common';
import { expireDueHolds } from './holds/service';
import type { LedgerDeps } from './ledger/deps';

export interface MaintenanceOptions {
  ledger: LedgerDeps;
  logger: Logger;
  intervalMs: number;
  /** Holds expired per database transaction. */
  batch: number;
  /** Outbox events older than this are re-published. */
  outboxRelayAfterMs: number;
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
