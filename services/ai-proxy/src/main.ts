import { tracing } from './tracing'; // must stay the first import
import { ConfigError, createCreditsClient, createEventPublisher, createQueue, runService } from '@tollgate/common';
import { createApp } from './app';
import { AI_COMPLETIONS_QUEUE } from './async/jobs';
import { loadConfig } from './config';
import { migrations } from './migrations';
import { loadRouting, type Routing } from './routing/schema';
import { createCompletionsWorker, scheduleAsyncRecovery } from './worker';

const config = loadConfig();
let routing: Routing;
try {
  routing = loadRouting(config, process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
}

void runService({
  name: 'ai-proxy',
  config,
  migrations,
  tracing,
  build: (deps) => {
    const credits = createCreditsClient({
      baseUrl: config.CREDITS_URL,
      internalSecret: config.INTERNAL_JWT_SECRET,
      serviceName: 'ai-proxy',
      timeoutMs: config.CREDITS_TIMEOUT_MS,
    });
    const queue = createQueue(AI_COMPLETIONS_QUEUE, { connection: deps.queueRedis, prefix: config.REDIS_PREFIX });
    const events = createEventPublisher({ connection: deps.queueRedis, prefix: config.REDIS_PREFIX });
    deps.readiness.register(
      'credits',
      () =>
        fetch(`${config.CREDITS_URL.replace(/\/$/, '')}/healthz`, { signal: AbortSignal.timeout(1_500) }).then((r) => {
          if (!r.ok) throw new Error(`credits answered ${r.status}`);
        }),
      { critical: false },
    );
    const app = createApp({ ...deps, routing, credits, queue, events, serveApi: deps.role !== 'worker' });
    const worker =
      deps.role === 'api'
        ? undefined
        : createCompletionsWorker({
            service: app.asyncService,
            connection: deps.queueRedis,
            prefix: config.REDIS_PREFIX,
            logger: deps.logger,
            concurrency: config.ASYNC_WORKER_CONCURRENCY,
            recoveryAfterS: config.ASYNC_RECOVERY_AFTER_S,
            retentionDays: config.ASYNC_JOB_RETENTION_DAYS,
          });
    // Not awaited: with Redis down at start the queue connection waits for it; the scheduler lands then.
    void scheduleAsyncRecovery(queue, config.ASYNC_RECOVERY_INTERVAL_MS, deps.logger).catch((err: unknown) =>
      deps.logger.error('could not schedule the queued-completion recovery sweep', { err }),
    );
    deps.logger.info('routing loaded', { models: [...routing.models.keys()], source: config.ROUTING_CONFIG_PATH ?? 'built-in' });
    return {
      service: app,
      closers: [
        ...(worker ? [{ name: 'ai-completions worker', close: () => worker.close() }] : []),
        { name: 'ai-completions queue', close: () => queue.close() },
        { name: 'event publisher', close: () => events.close() },
        { name: 'usage writer and upstream pool', close: () => app.close() },
      ],
    };
  },
});
