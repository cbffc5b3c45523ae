import { createService, identityMiddleware, type Logger, type Metrics, Readiness, type Service } from '@tollgate/common';
import type { Kysely } from 'kysely';
import type { Redis } from 'ioredis';
import type { Config } from './config';
import { openapiDocument } from './openapi';

export interface AppDeps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  db: Kysely<any>;
  redis: Redis;
  readiness?: Readiness;
}

export function createApp(deps: AppDeps): Service {
  const { config } = deps;
  return createService({
    name: 'image-pipeline',
    logger: deps.logger,
    metrics: deps.metrics,
    ...(deps.readiness ? { readiness: deps.readiness } : {}),
    corsOrigins: config.CORS_ORIGINS,
    jsonBodyLimit: config.BODY_LIMIT,
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    openapi: () => openapiDocument,
    routes: (app) => {
      app.use(identityMiddleware(config.INTERNAL_JWT_SECRET));
    },
  });
}
