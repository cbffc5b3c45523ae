import { type Clock, createQueue, type Logger, type Metrics, systemClock, WEBHOOK_EVENTS_QUEUE } from '@tollgate/common';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import { allowHttpTargets, type Config } from './config';
import type { Database } from './db/schema';
import { DELIVERIES_QUEUE } from './deliveries/jobs';
import type { RetryPolicy } from './deliveries/schedule';
import { createSecretBox, type SecretBox } from './endpoints/secrets';
import type { UrlPolicy } from './endpoints/url-policy';
import { createWebhookMetrics, type WebhookMetrics } from './metrics';

/**
 * Everything the webhook use cases share, built once per process from config: the API routes
 * and the workers take the same object, so tests can build one with a test config.
 */
export interface WebhookRuntime {
  config: Config;
  logger: Logger;
  db: Kysely<Database>;
  /** Fail-fast connection (endpoint slots). */
  redis: Redis;
  /** The BullMQ connection shared by this process' queues and workers. */
  queueRedis: Redis;
  deliveryQueue: Queue;
  eventQueue: Queue;
  metrics: WebhookMetrics;
  secretBox: SecretBox;
  retryPolicy: RetryPolicy;
  urlPolicy: UrlPolicy;
  clock: Clock;
  /** Closes the queues this runtime opened. */
  close(): Promise<void>;
}

export interface RuntimeDeps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  db: Kysely<any>;
  redis: Redis;
  /** The BullMQ connection (maxRetriesPerRequest: null). */
  queueRedis: Redis;
  clock?: Clock;
  random?: () => number;
}

export function createRuntime(deps: RuntimeDeps): WebhookRuntime {
  const { config } = deps;
  const queueOptions = { connection: deps.queueRedis, prefix: config.REDIS_PREFIX };
  const deliveryQueue = createQueue(DELIVERIES_QUEUE, queueOptions);
  const eventQueue = createQueue(WEBHOOK_EVENTS_QUEUE, queueOptions);
  return {
    config,
    logger: deps.logger,
    db: deps.db as Kysely<Database>,
    redis: deps.redis,
    queueRedis: deps.queueRedis,
    deliveryQueue,
    eventQueue,
    metrics: createWebhookMetrics(deps.metrics, [eventQueue, deliveryQueue], deps.db),
    secretBox: createSecretBox(config.WEBHOOK_SECRETS_KEY),
    retryPolicy: {
      schedule: config.WEBHOOK_RETRY_SCHEDULE,
      jitter: config.WEBHOOK_RETRY_JITTER,
      ...(deps.random ? { random: deps.random } : {}),
    },
    urlPolicy: { allowHttp: allowHttpTargets(config), allow: config.WEBHOOK_ALLOW_PRIVATE_TARGETS },
    clock: deps.clock ?? systemClock,
    async close() {
      await Promise.all([deliveryQueue.close(), eventQueue.close()]);
    },
  };
}

/** How long an attempt's lease (and its endpoint slot) lasts: the request deadline plus room to record it. */
export function attemptLeaseMs(config: Config): number {
  return config.WEBHOOK_REQUEST_TIMEOUT_MS + Math.max(1_000, Math.round(config.WEBHOOK_REQUEST_TIMEOUT_MS * 0.2));
}
