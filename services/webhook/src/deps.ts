import {
  type Clock,
  type Closer,
  type DepsSources,
  createQueue,
  type Logger,
  type Metrics,
  type Readiness,
  type ServiceDeps,
  systemClock,
  WEBHOOK_EVENTS_QUEUE,
} from '@tollgate/common';
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
 * Everything the webhook routes and workers share, built once per process from config (main.ts
 * through runService; tests with a test config).
 */
export interface WebhookDeps {
  config: Config;
  logger: Logger;
  /** The service's registry (HTTP metrics); the webhook's own series are webhookMetrics. */
  metrics: Metrics;
  readiness?: Readiness;
  db: Kysely<Database>;
  /** Fail-fast connection (endpoint slots). */
  redis: Redis;
  /** The BullMQ connection shared by this process' queues and workers. */
  queueRedis: Redis;
  deliveryQueue: Queue;
  eventQueue: Queue;
  webhookMetrics: WebhookMetrics;
  secretBox: SecretBox;
  retryPolicy: RetryPolicy;
  urlPolicy: UrlPolicy;
  clock: Clock;
  /** The queues this process opened. */
  closers: Closer[];
}

/** What buildDeps needs: runService's base, or a test's own connections (and clock, random). */
export type WebhookBase = DepsSources<Config> &
  Pick<ServiceDeps<Config>, 'queueRedis'> & {
    clock?: Clock;
    random?: () => number;
  };

export function buildDeps(base: WebhookBase): WebhookDeps {
  const { config } = base;
  const queueOptions = { connection: base.queueRedis, prefix: config.REDIS_PREFIX };
  const deliveryQueue = createQueue(DELIVERIES_QUEUE, queueOptions);
  const eventQueue = createQueue(WEBHOOK_EVENTS_QUEUE, queueOptions);
  return {
    config,
    logger: base.logger,
    metrics: base.metrics,
    ...(base.readiness ? { readiness: base.readiness } : {}),
    db: base.db as Kysely<Database>,
    redis: base.redis,
    queueRedis: base.queueRedis,
    deliveryQueue,
    eventQueue,
    webhookMetrics: createWebhookMetrics(base.metrics, [eventQueue, deliveryQueue], base.db),
    secretBox: createSecretBox(config.WEBHOOK_SECRETS_KEY),
    retryPolicy: {
      schedule: config.WEBHOOK_RETRY_SCHEDULE,
      jitter: config.WEBHOOK_RETRY_JITTER,
      ...(base.random ? { random: base.random } : {}),
    },
    urlPolicy: { allowHttp: allowHttpTargets(config), allow: config.WEBHOOK_ALLOW_PRIVATE_TARGETS },
    clock: base.clock ?? systemClock,
    closers: [{ name: 'webhook queues', close: () => Promise.all([deliveryQueue.close(), eventQueue.close()]) }],
  };
}

/** How long an attempt's lease (and its endpoint slot) lasts: the request deadline plus room to record it. */
export function attemptLeaseMs(config: Config): number {
  return config.WEBHOOK_REQUEST_TIMEOUT_MS + Math.max(1_000, Math.round(config.WEBHOOK_REQUEST_TIMEOUT_MS * 0.2));
}
