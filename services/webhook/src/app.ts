import { createInternalApi, type Service } from '@tollgate/common';
import { deliveryRoutes } from './deliveries/routes';
import type { WebhookDeps } from './deps';
import { endpointRoutes } from './endpoints/routes';
import { internalEventRoutes } from './events/routes';
import { openapiDocument } from './openapi';

/** The webhook API: routes only; the delivery workers and sweeps are in workers.ts. */
export function createApp(deps: WebhookDeps): Service {
  return createInternalApi({
    name: 'webhook',
    config: deps.config,
    logger: deps.logger,
    metrics: deps.metrics,
    ...(deps.readiness ? { readiness: deps.readiness } : {}),
    openapi: () => openapiDocument,
    routers: [endpointRoutes(deps), deliveryRoutes(deps), internalEventRoutes(deps)],
  });
}
