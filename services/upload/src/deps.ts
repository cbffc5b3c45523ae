import {
  type Clock,
  type Closer,
  createEventPublisher,
  type EventPublisher,
  type IdGenerator,
  type Logger,
  type Metrics,
  OutboxRelay,
  randomIds,
  Readiness,
  type ServiceDeps,
  systemClock,
} from '@tollgate/common';
import type { Redis } from 'ioredis';
import type { Config } from './config';
import type { Db } from './db';
import { FileService } from './files/service';
import { Sweeper } from './maintenance/sweeper';
import { createStorage, type ObjectStorage } from './storage';
import { observedStorage } from './storage/observed';
import { UploadLocks } from './tus/lock';
import { TusService } from './tus/service';
import { TusStaging } from './tus/staging';

/** What the upload services are built from: runService's base plus storage, or a test's own. */
export interface UploadSources {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  db: Db;
  redis: Redis;
  /** Object storage (local disk or S3), ready to use. */
  storage: ObjectStorage;
  /** Local staging for unfinished tus uploads, ready to use. */
  staging: TusStaging;
  publisher: EventPublisher;
  readiness?: Readiness;
  clock?: Clock;
  ids?: IdGenerator;
}

/** Everything the routes and the sweeper share, built once from the sources. */
export interface UploadDeps extends UploadSources {
  readiness: Readiness;
  files: FileService;
  tus: TusService;
  outbox: OutboxRelay;
  sweeper: Sweeper;
}

/** A whole process' dependencies: what the workers' queue needs, and what to close. */
export interface UploadProcessDeps extends UploadDeps {
  queueRedis: Redis;
  closers: Closer[];
}

/** The domain services over the given storage; storage and staging are readiness checks. */
export function buildUploadDeps(sources: UploadSources): UploadDeps {
  const { config, db, storage, staging, logger } = sources;
  const clock = sources.clock ?? systemClock;
  const ids = sources.ids ?? randomIds;
  const readiness = sources.readiness ?? new Readiness();
  readiness.register('storage', () => storage.check()).register('tus-staging', () => staging.check());
  // A slow or absent queue holds up a response at most a second; the sweep relays the rest.
  const outbox = new OutboxRelay({ db, publisher: sources.publisher, logger, publishTimeoutMs: 1_000, now: () => clock.now() });
  const files = new FileService({ db, storage, outbox, config, clock, ids, logger });
  const locks = new UploadLocks(sources.redis, config.REDIS_PREFIX);
  const tus = new TusService({ db, storage, staging, locks, files, config, clock, ids, logger });
  const sweeper = new Sweeper({ db, storage, staging, files, tus, outbox, config, clock, logger });
  return { ...sources, readiness, files, tus, outbox, sweeper };
}

/** runService's wiring: storage from config (observed), tus staging under DATA_DIR, the event publisher. */
export async function buildDeps(base: ServiceDeps<Config>): Promise<UploadProcessDeps> {
  const { config } = base;
  const storage = observedStorage(await createStorage(config), base.metrics);
  const staging = await new TusStaging(config.DATA_DIR).init();
  const publisher = createEventPublisher({ connection: base.queueRedis, prefix: config.REDIS_PREFIX });
  return {
    ...buildUploadDeps({ ...base, db: base.db as Db, storage, staging, publisher }),
    queueRedis: base.queueRedis,
    closers: [{ name: 'event publisher', close: () => publisher.close() }],
  };
}
