import { createService, identityMiddleware, type Metrics, type Readiness, type Service } from '@tollgate/common';
import { deliveryRoutes } from './deliveries/routes';
import { endpointRoutes } from './endpoints/routes';
import { internalEventRoutes } from './events/routes';
import { openapiDocument } from './openapi';
import type { WebhookRuntime } from './runtime';

export interface AppDeps {
  runtime: WebhookRuntime;
  metrics: Metrics;
  readiness?: Readiness;
}

export function createApp(deps: AppDeps): Service {
  const { runtime } = deps;
  const { config } = runtime;
  return createService({
    name: 'webhook',
    logger: runtime.logger,
    metrics: deps.metrics,
    ...(deps.readiness ? { readiness: deps.readiness } : {}),
    corsOrigins: config.CORS_ORIGINS,
    jsonBodyLimit: config.BODY_LIMIT,
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    openapi: () => openapiDocument,
    routes: (app) => {
      app.use(identityMiddleware(config.INTERNAL_JWT_SECRET));
      app.use(endpointRoutes(runtime));
      app.use(deliveryRoutes(runtime));
      app.use(internalEventRoutes(runtime));
    },
  });
}

/** `--role=worker`: health, readiness and metrics only; the work happens in the workers. */
export function createWorkerService(deps: AppDeps): Service {
  return createService({
    name: 'webhook-worker',
    logger: deps.runtime.logger,
    metrics: deps.metrics,
    ...(deps.readiness ? { readiness: deps.readiness } : {}),
    routes: () => undefined,
  });
}
