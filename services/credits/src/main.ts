import { tracing } from './tracing'; // must stay the first import
import { type Closer, createEventPublisher, createService, runService } from '@tollgate/common';
import { createApp } from './app';
import { loadConfig } from './config';
import { buildLedger } from './ledger/deps';
import { migrations } from './migrations';
import { observeLedgerBacklogs } from './metrics';
import { startMaintenance } from './worker';

void runService({
  name: 'credits',
  config: loadConfig(),
  migrations,
  tracing,
  build: (deps) => {
    const { config, logger } = deps;
    const events = createEventPublisher({ connection: deps.queueRedis, prefix: config.REDIS_PREFIX });
    const ledger = buildLedger({ config, db: deps.db, logger, events, metrics: deps.metrics });
    observeLedgerBacklogs(deps.metrics, ledger.db);
    // `--role=worker` serves only health, readiness and metrics; `all` and `api` serve the API.
    const service =
      deps.role === 'worker'
        ? createService({ name: 'credits-worker', logger, metrics: deps.metrics, readiness: deps.readiness, routes: () => undefined })
        : createApp({ ...deps, events, ledger });
    const closers: Closer[] = [];
    if (deps.role === 'worker' || (deps.role === 'all' && config.MAINTENANCE_IN_API)) {
      const maintenance = startMaintenance({
        ledger,
        logger,
        intervalMs: config.MAINTENANCE_INTERVAL_MS,
        batch: config.HOLD_SWEEP_BATCH,
        outboxRelayAfterMs: config.OUTBOX_RELAY_AFTER_MS,
        reconcileEveryMs: config.RECONCILE_INTERVAL_MS,
      });
      closers.push({ name: 'credits-maintenance', close: () => maintenance.stop() });
    }
    closers.push({ name: 'event-publisher', close: () => events.close() });
    return { service, closers };
  },
});
