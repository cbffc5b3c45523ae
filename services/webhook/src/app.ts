import { createService, identityMiddleware, type Service } from '@tollgate/common';
import { deliveryRoutes } from './deliveries/routes';
import type { WebhookDeps } from './deps';
import { endpointRoutes } from './endpoints/routes';
import { internalEventRoutes } from './events/routes';
import { openapiDocument } from './openapi';

/** The webhook API: routes only; the delivery workers and sweeps are in workers.ts. */
export function createApp(deps: WebhookDeps): Service {
  const { config } = deps;
  return createService({
    name: 'webhook',
    logger: deps.logger,
    metrics: deps.metrics,
    ...(deps.readiness ? { readiness: deps.readiness } : {}),
    corsOrigins: config.CORS_ORIGINS,
    jsonBodyLimit: config.BODY_LIMIT,
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    openapi: () => openapiDocument,
    routes: (app) => {
      app.use(identityMiddleware(config.INTERNAL_JWT_SECRET));
      app.use(endpointRoutes(deps));
      app.use(deliveryRoutes(deps));
      app.use(internalEventRoutes(deps));
    },
  });
}
