import { tracing } from './tracing'; // must stay the first import
import { runService } from '@tollgate/common';
import { createApp } from './app';
import { loadConfig } from './config';
import type { Db } from './db';
import { migrations } from './migrations';
import { buildPipelineDeps } from './pipeline';
import { scheduleRecovery } from './jobs/recovery';
import { configureSharp, createImageWorker } from './worker';

void runService({
  name: 'image-pipeline',
  config: loadConfig(),
  migrations,
  tracing,
  build: async (deps) => {
    const pipeline = buildPipelineDeps({
      config: deps.config,
      logger: deps.logger,
      db: deps.db as Db,
      connection: deps.queueRedis,
      prefix: deps.config.REDIS_PREFIX,
    });
    configureSharp(deps.config);
    // The worker runs in the API process by default; `--role=worker` runs it alone, `--role=api` not at all.
    const worker =
      deps.role === 'api' ? undefined : createImageWorker(pipeline, { connection: deps.queueRedis, prefix: deps.config.REDIS_PREFIX });
    if (worker) {
      deps.readiness.register('image-worker', async () => {
        if (!worker.isRunning()) throw new Error('worker is not running');
      });
      await scheduleRecovery(pipeline.queue, deps.config, deps.logger);
    }
    const service = createApp({ ...pipeline, metrics: deps.metrics, readiness: deps.readiness }, { serveApi: deps.role !== 'worker' });
    return {
      service,
      closers: [
        ...(worker ? [{ name: 'image-worker', close: () => worker.close() }] : []),
        { name: 'image-queues', close: () => pipeline.close() },
      ],
    };
  },
});
