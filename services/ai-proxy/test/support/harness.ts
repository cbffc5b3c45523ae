import {
  type CreditsClient,
  createEventPublisher,
  createMetrics,
  createQueue,
  createRedis,
  type EventPublisher,
  type Redis,
  type Service,
  WEBHOOK_EVENTS_QUEUE,
} from '@tollgate/common';
import {
  createFakeCredits,
  createTestEnv,
  type FakeCredits,
  listen,
  type Listening,
  silentLogger,
  TEST_INTERNAL_SECRET,
  type TestEnv,
} from '@tollgate/testkit';
import type { Queue, Worker } from 'bullmq';
import { createApp } from '../../src/app';
import { AI_COMPLETIONS_QUEUE } from '../../src/async/jobs';
import { type Config, configSchema } from '../../src/config';
import { type AiProxyDeps, buildAiProxyDeps } from '../../src/deps';
import { migrations } from '../../src/migrations';
import { resolveRouting } from '../../src/routing/schema';
import { createCompletionsWorker } from '../../src/workers';

export interface Harness {
  env: TestEnv;
  config: Config;
  /** The app and the use cases behind it (tests call them directly). */
  app: Service & AiProxyDeps;
  server: Listening;
  url: string;
  credits: CreditsClient;
  queue: Queue;
  queueRedis: Redis;
  events: EventPublisher;
  worker: Worker | undefined;
  close(): Promise<void>;
}

/** Fast retry/breaker timings so failure tests take milliseconds. */
export const FAST_DEFAULTS = {
  retry_base_delay_ms: 5,
  retry_max_delay_ms: 20,
  timeout_ms: 2_000,
  deadline_ms: 10_000,
  breaker_failures: 3,
  breaker_half_open_after_ms: 300,
};

/**
 * The real app over a real Postgres schema and Redis prefix of its own, listening on an
 * ephemeral port, with the given routing document and credits client (a fake by default).
 */
export async function startHarness(options: {
  label: string;
  routing: Record<string, unknown>;
  credits?: CreditsClient;
  env?: Record<string, string>;
  worker?: boolean;
  routingEnv?: Record<string, string>;
}): Promise<Harness & { fakeCredits: FakeCredits | undefined }> {
  const env = await createTestEnv(options.label);
  await env.migrate(migrations);
  const config = configSchema.parse({
    NODE_ENV: 'test',
    INTERNAL_JWT_SECRET: TEST_INTERNAL_SECRET,
    REDIS_PREFIX: env.prefix,
    ACCESS_LOG: 'false',
    ...options.env,
  });
  const routing = resolveRouting(options.routing, { ...process.env, ...options.routingEnv });
  const fakeCredits = options.credits ? undefined : createFakeCredits();
  const credits = options.credits ?? fakeCredits!;
  const queueRedis = createRedis(env.redisUrl, 'queue');
  const queue = createQueue(AI_COMPLETIONS_QUEUE, { connection: queueRedis, prefix: env.prefix });
  const eventsQueue = createQueue(WEBHOOK_EVENTS_QUEUE, { connection: queueRedis, prefix: env.prefix });
  const events = createEventPublisher({ connection: queueRedis, prefix: env.prefix, queue: eventsQueue });
  // BullMQ: a queue closed while its connection still initialises rejects later, on a connection
  // whose listeners close() already removed (an unhandled error that fails a short test).
  await Promise.all([queue.waitUntilReady(), eventsQueue.waitUntilReady()]);
  const logger = silentLogger('ai-proxy');
  const deps = buildAiProxyDeps({
    config,
    logger,
    metrics: createMetrics('ai-proxy', { collectDefault: false }),
    db: env.db,
    redis: env.redis,
    routing,
    credits,
    queue,
    events,
    usageFlushIntervalMs: 50,
  });
  const app = { ...deps, ...createApp(deps) };
  const worker = options.worker
    ? createCompletionsWorker({
        service: app.asyncService,
        connection: queueRedis,
        prefix: env.prefix,
        logger,
        concurrency: 4,
        recoveryAfterS: 1,
        retentionDays: 30,
      })
    : undefined;
  const server = await listen(app.app);
  return {
    env,
    config,
    app,
    server,
    url: server.url,
    credits,
    fakeCredits,
    queue,
    queueRedis,
    events,
    worker,
    async close() {
      await server.close();
      await worker?.close();
      for (const closer of deps.closers) await closer.close();
      await queue.close();
      await events.close();
      await eventsQueue.close();
      await queueRedis.quit();
      await env.cleanup();
    },
  };
}

/** Reads the Prometheus text for one series' value (labels matched as a substring). */
export function metricValue(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}
