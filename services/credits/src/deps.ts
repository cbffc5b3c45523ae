import {
  type Closer,
  type Clock,
  createEventPublisher,
  type EventPublisher,
  type IdGenerator,
  type Logger,
  type Metrics,
  memoryEventPublisher,
  OutboxRelay,
  randomIds,
  type ServiceDeps,
  systemClock,
} from '@tollgate/common';
import type { Kysely } from 'kysely';
import type { Config } from './config';
import type { Database } from './db/schema';
import { type CreditsMetrics, creditsMetrics, observeLedgerBacklogs } from './metrics';
import { GroupCommit } from './ledger/group-commit';

export interface LedgerSettings {
  /** Low-balance threshold for tenants that did not set their own (micro-credits; 0 = off). */
  defaultLowBalanceThreshold: number;
  holdDefaultTtlS: number;
  holdMaxTtlS: number;
  /** How far below zero a late charge may take the available balance (micro-credits). */
  maxDebt: number;
}

/** What the ledger's use cases need: built once per process and passed down. */
export interface LedgerDeps {
  db: Kysely<Database>;
  clock: Clock;
  ids: IdGenerator;
  relay: OutboxRelay;
  settings: LedgerSettings;
  /** Absent in tests that build a ledger without a registry. */
  metrics?: CreditsMetrics;
  /** Applies holds, captures and releases, batching concurrent ones into one transaction. */
  batcher: GroupCommit;
}

export interface LedgerSources {
  config: Config;
  db: Kysely<any>;
  logger: Logger;
  /** The `webhook-events` publisher; tests that only emit may leave it out (events kept in memory). */
  events?: EventPublisher | undefined;
  clock?: Clock | undefined;
  ids?: IdGenerator | undefined;
  metrics?: Metrics | undefined;
}

export function buildLedger(sources: LedgerSources): LedgerDeps {
  const { config } = sources;
  const db = sources.db as Kysely<Database>;
  const metrics = sources.metrics ? creditsMetrics(sources.metrics) : undefined;
  const clock = sources.clock ?? systemClock;
  return {
    db,
    clock,
    ids: sources.ids ?? randomIds,
    relay: new OutboxRelay({
      db,
      publisher: sources.events ?? memoryEventPublisher(),
      logger: sources.logger,
      publishTimeoutMs: config.EVENT_PUBLISH_TIMEOUT_MS,
      now: () => clock.now(),
    }),
    ...(metrics ? { metrics } : {}),
    batcher: new GroupCommit(db, {
      maxBatch: config.LEDGER_BATCH_MAX,
      defaultLowBalanceThreshold: config.LOW_BALANCE_THRESHOLD,
      ...(metrics ? { onBatch: (size: number) => metrics.batchSize.observe(size) } : {}),
    }),
    settings: {
      defaultLowBalanceThreshold: config.LOW_BALANCE_THRESHOLD,
      holdDefaultTtlS: config.HOLD_DEFAULT_TTL_S,
      holdMaxTtlS: config.HOLD_MAX_TTL_S,
      maxDebt: config.MAX_DEBT,
    },
  };
}

/** Everything the credits routes and the maintenance loop share, built once per process. */
export interface CreditsDeps extends ServiceDeps<Config> {
  ledger: LedgerDeps;
  closers: Closer[];
}

/** main.ts's wiring: the ledger over the `webhook-events` publisher, and its backlog gauges. */
export function buildDeps(base: ServiceDeps<Config>): CreditsDeps {
  const events = createEventPublisher({ connection: base.queueRedis, prefix: base.config.REDIS_PREFIX });
  const ledger = buildLedger({ config: base.config, db: base.db, logger: base.logger, events, metrics: base.metrics });
  observeLedgerBacklogs(base.metrics, ledger.db);
  return { ...base, ledger, closers: [{ name: 'event publisher', close: () => events.close() }] };
}
