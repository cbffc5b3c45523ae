import {
  type Clock,
  createService,
  type EventPublisher,
  type IdGenerator,
  identityMiddleware,
  type Logger,
  type Metrics,
  Readiness,
  type Service,
} from '@tollgate/common';
import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import { accountRoutes } from './accounts/routes';
import type { Config } from './config';
import { holdRoutes } from './holds/routes';
import { buildLedger, type LedgerDeps } from './ledger/deps';
import { openapiDocument } from './openapi';
import { reconcileRoutes } from './reconcile/routes';
import { transactionRoutes } from './transactions/routes';

export interface AppDeps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  db: Kysely<any>;
  /** Not used on the request path (the ledger lives in Postgres); accepted for uniformity. */
  redis?: Redis;
  readiness?: Readiness;
  /** Publisher for `webhook-events`; defaults to an in-memory one (tests that only emit). */
  events?: EventPublisher;
  clock?: Clock;
  ids?: IdGenerator;
  /** A ledger already built by main.ts (shared with the maintenance loop). */
  ledger?: LedgerDeps;
}

export function createApp(deps: AppDeps): Service {
  const { config } = deps;
  const ledger = deps.ledger ?? buildLedger(deps);
  return createService({
    name: 'credits',
    logger: deps.logger,
    metrics: deps.metrics,
    ...(deps.readiness ? { readiness: deps.readiness } : {}),
    corsOrigins: config.CORS_ORIGINS,
    jsonBodyLimit: config.BODY_LIMIT,
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    openapi: () => openapiDocument,
    routes: (app) => {
      app.use(identityMiddleware(config.INTERNAL_JWT_SECRET));
      // Holds first: every billed call makes two of them, so they should not be matched against
      // the other routers' paths on the way (no path is shared, so the order changes nothing else).
      app.use(holdRoutes(ledger));
      app.use(accountRoutes(ledger));
      app.use(transactionRoutes(ledger));
      app.use(reconcileRoutes(ledger));
    },
  });
}
