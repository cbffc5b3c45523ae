import { createInternalApi, type Service } from '@tollgate/common';
import type { UploadDeps } from './deps';
import { filesRouter } from './files/routes';
import { internalRouter } from './internal/routes';
import { openapiDocument } from './openapi';
import { tusRouter } from './tus/routes';

/** The upload API: routes only; the maintenance sweep is in workers.ts. */
export function createApp(deps: UploadDeps): Service {
  const { config, storage, files, tus } = deps;
  return createInternalApi({
    name: 'upload',
    config,
    logger: deps.logger,
    metrics: deps.metrics,
    readiness: deps.readiness,
    // Off here: a large upload legitimately outlasts it. JSON routes apply it themselves.
    requestTimeoutMs: 0,
    openapi: () => openapiDocument,
    routers: [
      filesRouter(files, storage, config.REQUEST_TIMEOUT_MS),
      tusRouter(tus, files, config.UPLOAD_MAX_BYTES),
      internalRouter(files, storage, config.REQUEST_TIMEOUT_MS),
    ],
  });
}
