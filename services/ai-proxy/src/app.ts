import { createInternalApi, errorFormatForPath, type Service } from '@tollgate/common';
import { asyncRoutes } from './async/routes';
import { completionRoutes } from './chat/routes';
import type { AiProxyDeps } from './deps';
import { embeddingsRoutes } from './embeddings/routes';
import { modelRoutes } from './models/routes';
import { openapiDocument } from './openapi';
import { usageRoutes } from './usage/routes';

/** The ai-proxy API: routes only; the completions worker, settlement retries and rollups are in workers.ts. */
export function createApp(deps: AiProxyDeps): Service {
  const { config, logger, db } = deps;
  const longestDeadline = Math.max(...[...deps.routing.models.values()].map((m) => m.deadlineMs), 0);
  return createInternalApi({
    name: 'ai-proxy',
    config,
    logger,
    metrics: deps.metrics,
    ...(deps.readiness ? { readiness: deps.readiness } : {}),
    // Never cut a request the routing deadline still allows (streams are left alone anyway).
    requestTimeoutMs: Math.max(config.REQUEST_TIMEOUT_MS, longestDeadline + 5_000),
    openapi: () => openapiDocument,
    // OpenAI-compatible routes answer every error (even body-parser ones) in OpenAI's shape.
    errorFormatFor: (req) => errorFormatForPath(req.path),
    routers: [completionRoutes(deps.chat), embeddingsRoutes(deps.embeddings), modelRoutes(deps.router), asyncRoutes(deps.asyncService), usageRoutes({ db, logger })],
  });
}
