import { tracing } from './tracing'; // must stay the first import
import { createEventPublisher, createService, runService } from '@tollgate/common';
import { createApp, createComponents } from './app';
import { loadConfig, serverTimeouts } from './config';
import { migrations } from './migrations';
import { openapiDocument } from './openapi';
import { createStorage } from './storage';
import { observedStorage } from './storage/observed';
import { TusStaging } from './tus/staging';
import { startMaintenance } from './worker';

void runService({
  name: 'upload',
  config: loadConfig(),
  migrations,
  tracing,
  build: async (deps) => {
    const { config, role, logger } = deps;
    const storage = observedStorage(await createStorage(config), deps.metrics);
    const staging = await new TusStaging(config.DATA_DIR).init();
    const publisher = createEventPublisher({ connection: deps.queueRedis, prefix: config.REDIS_PREFIX });
    const appDeps = { ...deps, storage, staging, publisher };
    const components = createComponents(appDeps);
    const maintenance =
      role === 'api'
        ? undefined
        : await startMaintenance({
            sweeper: components.sweeper,
            connection: deps.queueRedis,
            prefix: config.REDIS_PREFIX,
            logger,
            intervalMs: config.MAINTENANCE_INTERVAL_MS,
          });
    // A worker-only process still answers /healthz, /readyz and /metrics, but serves no API.
    const service =
      role === 'worker'
        ? createService({
            name: 'upload-worker',
            logger,
            metrics: deps.metrics,
            readiness: deps.readiness,
            openapi: () => openapiDocument,
            routes: () => undefined,
          })
        : createApp(appDeps, components);
    return {
      service,
      closers: [...(maintenance?.closers ?? []), { name: 'event publisher', close: () => publisher.close() }],
      server: serverTimeouts(config),
    };
  },
});
