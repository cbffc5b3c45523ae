import {
  type Clock,
  createService,
  type EventPublisher,
  type IdGenerator,
  identityMiddleware,
  type Logger,
  type Metrics,
  OutboxRelay,
  randomIds,
  Readiness,
  type Service,
  systemClock,
} from '@tollgate/common';
import type { Redis } from 'ioredis';
import type { Config } from './config';
import type { Db } from './db';
import { filesRouter } from './files/routes';
import { FileService } from './files/service';
import { internalRouter } from './internal/routes';
import { Sweeper } from './maintenance/sweeper';
import { openapiDocument } from './openapi';
import type { ObjectStorage } from './storage';
import { UploadLocks } from './tus/lock';
import { tusRouter } from './tus/routes';
import { TusService } from './tus/service';
import type { TusStaging } from './tus/staging';

export interface AppDeps {
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

/** The domain services, built once from the dependencies; the worker reuses them. */
export interface UploadComponents {
  files: FileService;
  tus: TusService;
  outbox: OutboxRelay;
  sweeper: Sweeper;
}

export function createComponents(deps: AppDeps): UploadComponents {
  const { config, db, storage, staging, logger } = deps;
  const clock = deps.clock ?? systemClock;
  const ids = deps.ids ?? randomIds;
  // A slow or absent queue holds up a response at most a second; the sweep relays the rest.
  const outbox = new OutboxRelay({ db, publisher: deps.publisher, logger, publishTimeoutMs: 1_000, now: () => clock.now() });
  const files = new FileService({ db, storage, outbox, config, clock, ids, logger });
  const locks = new UploadLocks(deps.redis, config.REDIS_PREFIX);
  const tus = new TusService({ db, storage, staging, locks, files, config, clock, ids, logger });
  const sweeper = new Sweeper({ db, storage, staging, files, tus, outbox, config, clock, logger });
  return { files, tus, outbox, sweeper };
}

export function createApp(deps: AppDeps, components: UploadComponents = createComponents(deps)): Service & UploadComponents {
  const { config, storage, staging } = deps;
  const readiness = deps.readiness ?? new Readiness();
  readiness.register('storage', () => storage.check()).register('tus-staging', () => staging.check());
  const service = createService({
    name: 'upload',
    logger: deps.logger,
    metrics: deps.metrics,
    readiness,
    corsOrigins: config.CORS_ORIGINS,
    jsonBodyLimit: config.BODY_LIMIT,
    // Off here: a large upload legitimately outlasts it. JSON routes apply it themselves.
    requestTimeoutMs: 0,
    openapi: () => openapiDocument,
    routes: (app) => {
      app.use(identityMiddleware(config.INTERNAL_JWT_SECRET));
      app.use(filesRouter(components.files, storage, config.REQUEST_TIMEOUT_MS));
      app.use(tusRouter(components.tus, components.files, config.UPLOAD_MAX_BYTES));
      app.use(internalRouter(components.files, storage, config.REQUEST_TIMEOUT_MS));
    },
  });
  return { ...service, ...components };
}
