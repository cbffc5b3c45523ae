import { createService, identityMiddleware, type Metrics, Readiness, type Service } from '@tollgate/common';
import type { PipelineDeps } from './deps';
import { generationRouter } from './generation/routes';
import { imagesRouter } from './images/routes';
import { ingestRouter } from './ingest/routes';
import { openapiDocument } from './openapi';

export interface AppDeps extends PipelineDeps {
  metrics: Metrics;
  readiness?: Readiness;
}

/** The image-pipeline API: routes only; the `image-jobs` worker is in workers.ts. */
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
      app.use(generationRouter(deps));
      app.use(ingestRouter(deps));
      app.use(imagesRouter(deps));
    },
  });
}
