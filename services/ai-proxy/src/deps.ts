import {
  type Closer,
  createCreditsClient,
  createEventPublisher,
  createQueue,
  type CreditsClient,
  type DepsSources,
  type EventPublisher,
  type Redis,
  type ServiceDeps,
} from '@tollgate/common';
import type { Queue } from 'bullmq';
import type { Kysely } from 'kysely';
import type { Dispatcher } from 'undici';
import { AI_COMPLETIONS_QUEUE } from './async/jobs';
import { AsyncService } from './async/service';
import { createBilling } from './billing/billing';
import { createDeferredSettlements, type DeferredSettlements } from './billing/deferred';
import { createResponseCache } from './cache/response-cache';
import { ChatService } from './chat/service';
import type { Config } from './config';
import type { AiDatabase } from './db';
import { EmbeddingsService } from './embeddings/service';
import { createTokenLimiter } from './limits/tpm';
import { createAiMetrics } from './metrics';
import { createProviders } from './providers';
import { createUpstreamAgent } from './providers/http';
import { ModelRouter } from './routing/router';
import { loadRouting, type Routing } from './routing/schema';
import { createUsageWriter, type UsageWriter } from './usage/writer';

/** What the ai-proxy services are built from: runService's base plus routing and clients, or a test's own. */
export interface AiProxySources extends DepsSources<Config> {
  routing: Routing;
  credits: CreditsClient;
  /** The `ai-completions` queue. */
  queue: Queue;
  events: EventPublisher;
  /** Upstream HTTP (tests may inject one); by default a keep-alive undici Agent owned by these deps. */
  agent?: Dispatcher;
  usageFlushIntervalMs?: number;
  random?: () => number;
}

/** Everything the routes and the workers share, built once from the sources. */
export interface AiProxyDeps extends AiProxySources {
  db: Kysely<AiDatabase>;
  router: ModelRouter;
  chat: ChatService;
  embeddings: EmbeddingsService;
  asyncService: AsyncService;
  usage: UsageWriter;
  /** Settlements credits could not take when their call ended, retried by the workers until billed. */
  deferredSettlements: DeferredSettlements;
  /** Flush usage rows, close the upstream pool (after the server stopped). */
  closers: Closer[];
}

/** A whole process' dependencies: what the workers' queue needs too. */
export interface AiProxyProcessDeps extends AiProxyDeps {
  queueRedis: Redis;
}

/** The use cases over the given routing, clients and queue. */
export function buildAiProxyDeps(sources: AiProxySources): AiProxyDeps {
  const { config, logger } = sources;
  const db = sources.db as Kysely<AiDatabase>;
  const router = new ModelRouter(sources.routing, sources.random);
  const ownAgent = sources.agent ? undefined : createUpstreamAgent();
  const agent = sources.agent ?? ownAgent!;
  const metrics = createAiMetrics(sources.metrics, () => router.breakerStates());
  const usage = createUsageWriter({ db, logger, ...(sources.usageFlushIntervalMs ? { intervalMs: sources.usageFlushIntervalMs } : {}) });
  const deferredSettlements = createDeferredSettlements({ db, credits: sources.credits, logger });
  const chatDeps = {
    config,
    router,
    providers: createProviders(agent),
    billing: createBilling(sources.credits, logger, deferredSettlements),
    limiter: createTokenLimiter({ redis: sources.redis, prefix: config.REDIS_PREFIX, limits: sources.routing.limits, logger }),
    cache: createResponseCache({ redis: sources.redis, prefix: config.REDIS_PREFIX, logger }),
    usage,
    metrics,
    logger,
  };
  const chat = new ChatService(chatDeps);
  const embeddings = new EmbeddingsService(chatDeps);
  const asyncService = new AsyncService({
    db,
    queue: sources.queue,
    chat,
    events: sources.events,
    logger,
    publicBaseUrl: config.PUBLIC_BASE_URL,
    enqueueWaitMs: config.ENQUEUE_WAIT_MS,
  });
  return {
    ...sources,
    db,
    router,
    chat,
    embeddings,
    asyncService,
    usage,
    deferredSettlements,
    closers: [
      { name: 'usage writer', close: () => usage.close() },
      { name: 'upstream pool', close: async () => ownAgent?.close() },
    ],
  };
}

/**
 * runService's wiring: the routing document (a bad one stops the process with one line), the
 * credits client (a non-critical readiness check), the `ai-completions` queue and the event
 * publisher.
 */
export function buildDeps(base: ServiceDeps<Config>): AiProxyProcessDeps {
  const { config, logger } = base;
  const routing = loadRouting(config, process.env);
  logger.info('routing loaded', { models: [...routing.models.keys()], source: config.ROUTING_CONFIG_PATH ?? 'built-in' });
  const credits = createCreditsClient({
    baseUrl: config.CREDITS_URL,
    internalSecret: config.INTERNAL_JWT_SECRET,
    serviceName: 'ai-proxy',
    timeoutMs: config.CREDITS_TIMEOUT_MS,
  });
  base.readiness.register(
    'credits',
    () =>
      fetch(`${config.CREDITS_URL.replace(/\/$/, '')}/healthz`, { signal: AbortSignal.timeout(1_500) }).then((r) => {
        if (!r.ok) throw new Error(`credits answered ${r.status}`);
      }),
    { critical: false },
  );
  const queueOptions = { connection: base.queueRedis, prefix: config.REDIS_PREFIX };
  const queue = createQueue(AI_COMPLETIONS_QUEUE, queueOptions);
  const events = createEventPublisher(queueOptions);
  const deps = buildAiProxyDeps({ ...base, routing, credits, queue, events });
  return {
    ...deps,
    queueRedis: base.queueRedis,
    closers: [
      { name: 'ai-completions queue', close: () => queue.close() },
      { name: 'event publisher', close: () => events.close() },
      ...deps.closers,
    ],
  };
}
