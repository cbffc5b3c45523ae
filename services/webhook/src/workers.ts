import { type Closer, createWorker, handler, WEBHOOK_EVENTS_QUEUE, webhookEventJob } from '@tollgate/common';
import type { Worker } from 'bullmq';
import { createDeliveryEngine } from './deliveries/engine';
import { EndpointSlots } from './deliveries/endpoint-slots';
import { DELIVERIES_QUEUE, deliveryAttemptJob } from './deliveries/jobs';
import { startRetention } from './deliveries/retention';
import { startSweeper } from './deliveries/sweeper';
import { ingestEvent } from './deliveries/fan-out';
import { attemptLeaseMs, type WebhookDeps } from './deps';
import { createSafeHttpClient, type Resolver, type WebhookHttpClient } from './ssrf/safe-http-client';

export interface WebhookWorkers {
  eventWorker: Worker;
  deliveryWorker: Worker;
  http: WebhookHttpClient;
  /** Workers first (each waits for its running jobs), then the sweeper and the HTTP agent. */
  closers: Closer[];
  close(): Promise<void>;
}

export interface WorkerOptions {
  /** The DNS resolver used at connect time (tests serve names from a table). */
  resolver?: Resolver;
  /** Run the overdue-delivery sweeper and the retention sweep (default true). */
  sweeper?: boolean;
}

/**
 * The webhook workers: `webhook-events` (store and fan out) and `webhook-deliveries` (one
 * attempt per job). Run by runService in the API process (RUN_WORKERS_IN_API) or alone with `--role=worker`.
 */
export function startWorkers(rt: WebhookDeps, options: WorkerOptions = {}): WebhookWorkers {
  const { config, logger } = rt;
  const connection = rt.queueRedis;
  const prefix = config.REDIS_PREFIX;
  const http = createSafeHttpClient({
    allow: config.WEBHOOK_ALLOW_PRIVATE_TARGETS,
    timeoutMs: config.WEBHOOK_REQUEST_TIMEOUT_MS,
    responseBodyLimit: config.WEBHOOK_RESPONSE_BODY_LIMIT,
    ...(options.resolver ? { resolver: options.resolver } : {}),
  });
  const slots = new EndpointSlots(rt.redis, prefix, config.WEBHOOK_ENDPOINT_MAX_IN_FLIGHT, attemptLeaseMs(config));
  const engine = createDeliveryEngine({ rt, http, slots });

  const eventWorker = createWorker(WEBHOOK_EVENTS_QUEUE, [handler(webhookEventJob, async (event) => ingestEvent(rt, event))], {
    connection,
    prefix,
    logger,
    concurrency: config.WEBHOOK_EVENT_CONCURRENCY,
  });
  const deliveryWorker = createWorker(DELIVERIES_QUEUE, [handler(deliveryAttemptJob, (data, job) => engine.runAttempt(data, job))], {
    connection,
    prefix,
    logger,
    concurrency: config.WEBHOOK_DELIVERY_CONCURRENCY,
    workerOptions: {
      // The lock outlives the request deadline, so a live attempt is never seen as stalled.
      lockDuration: config.WEBHOOK_LOCK_DURATION_MS,
      stalledInterval: config.WEBHOOK_STALLED_INTERVAL_MS,
      maxStalledCount: 5,
    },
  });
  const sweeper = options.sweeper === false ? undefined : startSweeper(rt);
  const retention = options.sweeper === false ? undefined : startRetention(rt);

  const closers: Closer[] = [
    { name: 'webhook workers', close: () => Promise.all([eventWorker.close(), deliveryWorker.close()]) },
    { name: 'webhook sweeper', close: () => sweeper?.stop() ?? Promise.resolve() },
    { name: 'webhook retention', close: () => retention?.stop() ?? Promise.resolve() },
    { name: 'webhook http agent', close: () => http.close() },
  ];
  return {
    eventWorker,
    deliveryWorker,
    http,
    closers,
    async close() {
      for (const closer of closers) await closer.close();
    },
  };
}

export { DELIVERIES_QUEUE };
