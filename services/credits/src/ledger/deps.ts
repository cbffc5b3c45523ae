import {
  type Clock,
  type EventPublisher,
  type IdGenerator,
  type Logger,
  type Metrics,
  memoryEventPublisher,
  randomIds,
  systemClock,
} from '@tollgate/common';
import type { Kysely } from 'kysely';
import type { Config } from '../config';
import type { Database } from '../db/schema';
import { EventRelay } from '../events/outbox';
import { type CreditsMetrics, creditsMetrics } from '../metrics';
import { GroupCommit } from './group-commit';

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
  relay: EventRelay;
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
  return {
    db,
    clock: sources.clock ?? systemClock,
    ids: sources.ids ?? randomIds,
    relay: new EventRelay(db, sources.events ?? memoryEventPublisher(), sources.logger, config.EVENT_PUBLISH_TIMEOUT_MS),
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
