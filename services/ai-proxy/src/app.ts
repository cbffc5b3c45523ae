import {
  type CreditsClient,
  createService,
  errorFormatForPath,
  type EventPublisher,
  identityMiddleware,
  type Logger,
  type Metrics,
  Readiness,
  type Redis,
  type Service,
} from '@tollgate/common';
import type { Queue } from 'bullmq';
import type { Kysely } from 'kysely';
import type { Dispatcher } from 'undici';
import { asyncRoutes } from './async/routes';
import { AsyncService } from './async/service';
import { createBilling } from './billing/billing';
import { createDeferredSettlements, type DeferredSettlements } from './billing/deferred';
import { createResponseCache } from './cache/response-cache';
import { completionRoutes } from './chat/routes';
import { ChatService } from './chat/service';
import type { Config } from './config';
import type { AiDatabase } from './db';
import { embeddingsRoutes } from './embeddings/routes';
import { EmbeddingsService } from './embeddings/service';
import { createTokenLimiter } from './limits/tpm';
import { createAiMetrics } from './metrics';
import { modelRoutes } from './models/routes';
import { openapiDocument } from './openapi';
import { createProviders } from './providers';
import { createUpstreamAgent } from './providers/http';
import { ModelRouter } from './routing/router';
import type { Routing } from './routing/schema';
import { startUsageRollup } from './usage/rollup';
import { usageRoutes } from './usage/routes';
import { createUsageWriter, type UsageWriter } from './usage/writer';

export interface AppDeps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  db: Kysely<any>;
  /** The request-path connection (token limits, cache). */
  redis: Redis;
  readiness?: Readiness;
  routing: Routing;
  credits: CreditsClient;
  /** The `ai-completions` queue. */
  queue: Queue;
  events: EventPublisher;
  /** Upstream HTTP (tests may inject one); by default a keep-alive undici Agent owned by the app. */
  agent?: Dispatcher;
  /** False in a `--role=worker` process: only health, metrics and the worker. */
  serveApi?: boolean;
  usageFlushIntervalMs?: number;
  random?: () => number;
}

export interface AiProxy extends Service {
  chat: ChatService;
  asyncService: AsyncService;
  router: ModelRouter;
  usage: UsageWriter;
  /** Settlements credits could not take when their call ended, retried until billed. */
  deferredSettlements: DeferredSettlements;
  /** Flushes usage rows and closes the upstream pool (after the server stopped). */
  close(): Promise<void>;
}

export function createApp(deps: AppDeps): AiProxy {
  const { config, logger } = deps;
  const db = deps.db as Kysely<AiDatabase>;
  const router = new ModelRouter(deps.routing, deps.random);
  const ownAgent = deps.agent ? undefined : createUpstreamAgent();
  const agent = deps.agent ?? ownAgent!;
  const metrics = createAiMetrics(deps.metrics, () => router.breakerStates());
  const usage = createUsageWriter({ db, logger, ...(deps.usageFlushIntervalMs ? { intervalMs: deps.usageFlushIntervalMs } : {}) });
  const deferredSettlements = createDeferredSettlements({ db, credits: deps.credits, logger });
  deferredSettlements.start(config.SETTLEMENT_RETRY_INTERVAL_MS);
  const rollup = startUsageRollup({
    db,
    logger,
    intervalMs: config.USAGE_ROLLUP_INTERVAL_MS,
    retentionDays: config.USAGE_RETENTION_DAYS,
  });
  const chatDeps = {
    config,
    router,
    providers: createProviders(agent),
    billing: createBilling(deps.credits, logger, deferredSettlements),
    limiter: createTokenLimiter({ redis: deps.redis, prefix: config.REDIS_PREFIX, limits: deps.routing.limits, logger }),
    cache: createResponseCache({ redis: deps.redis, prefix: config.REDIS_PREFIX, logger }),
    usage,
    metrics,
    logger,
  };
  const chat = new ChatService(chatDeps);
  const embeddings = new EmbeddingsService(chatDeps);
  const asyncService = new AsyncService({
    db,
    queue: deps.queue,
    chat,
    events: deps.events,
    logger,
    publicBaseUrl: config.PUBLIC_BASE_URL,
    enqueueWaitMs: config.ENQUEUE_WAIT_MS,
  });
  const longestDeadline = Math.max(...[...deps.routing.models.values()].map((m) => m.deadlineMs), 0);

  const service = createService({
    name: 'ai-proxy',
    logger,
    metrics: deps.metrics,
    ...(deps.readiness ? { readiness: deps.readiness } : {}),
    corsOrigins: config.CORS_ORIGINS,
    jsonBodyLimit: config.BODY_LIMIT,
    // Never cut a request the routing deadline still allows (streams are left alone anyway).
    requestTimeoutMs: Math.max(config.REQUEST_TIMEOUT_MS, longestDeadline + 5_000),
    accessLog: config.ACCESS_LOG,
    openapi: () => openapiDocument,
    // OpenAI-compatible routes answer every error (even body-parser ones) in OpenAI's shape.
    errorFormatFor: (req) => errorFormatForPath(req.path),
    routes: (app) => {
      app.use(identityMiddleware(config.INTERNAL_JWT_SECRET));
      if (deps.serveApi === false) return;
      app.use(completionRoutes(chat), embeddingsRoutes(embeddings));
      app.use(modelRoutes(router));
      app.use(asyncRoutes(asyncService));
      app.use(usageRoutes({ db, logger }));
    },
  });

  return {
    ...service,
    chat,
    asyncService,
    router,
    usage,
    deferredSettlements,
    async close() {
      await deferredSettlements.stop();
      await rollup.stop();
      await usage.close();
      await ownAgent?.close();
    },
  };
}
