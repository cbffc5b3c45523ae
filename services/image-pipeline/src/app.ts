import { createInternalApi, type Metrics, type Readiness, type Service } from '@tollgate/common';
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
  return createInternalApi({
    name: 'image-pipeline',
    config: deps.config,
    logger: deps.logger,
    metrics: deps.metrics,
    ...(deps.readiness ? { readiness: deps.readiness } : {}),
    openapi: () => openapiDocument,
    routers: [generationRouter(deps), ingestRouter(deps), imagesRouter(deps)],
  });
}
