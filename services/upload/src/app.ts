import { createService, identityMiddleware, type Service } from '@tollgate/common';
import type { UploadDeps } from './deps';
import { filesRouter } from './files/routes';
import { internalRouter } from './internal/routes';
import { openapiDocument } from './openapi';
import { tusRouter } from './tus/routes';

/** The upload API: routes only; the maintenance sweep is in workers.ts. */
export function createApp(deps: UploadDeps): Service {
  const { config, storage, files, tus } = deps;
  return createService({
    name: 'upload',
    logger: deps.logger,
    metrics: deps.metrics,
    readiness: deps.readiness,
    corsOrigins: config.CORS_ORIGINS,
    jsonBodyLimit: config.BODY_LIMIT,
    // Off here: a large upload legitimately outlasts it. JSON routes apply it themselves.
    requestTimeoutMs: 0,
    openapi: () => openapiDocument,
    routes: (app) => {
      app.use(identityMiddleware(config.INTERNAL_JWT_SECRET));
      app.use(filesRouter(files, storage, config.REQUEST_TIMEOUT_MS));
      app.use(tusRouter(tus, files, config.UPLOAD_MAX_BYTES));
      app.use(internalRouter(files, storage, config.REQUEST_TIMEOUT_MS));
    },
  });
}
