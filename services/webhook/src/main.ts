import { tracing } from './tracing'; // must stay the first import
import { runService } from '@tollgate/common';
import { createApp, createWorkerService } from './app';
import { loadConfig } from './config';
import { migrations } from './migrations';
import { createRuntime } from './runtime';
import { startWorkers } from './worker';

void runService({
  name: 'webhook',
  config: loadConfig(),
  migrations,
  tracing,
  build: (deps) => {
    const runtime = createRuntime(deps);
    // Workers run in the API process by default, alone with --role=worker, never with --role=api.
    const runWorkers = deps.role === 'worker' || (deps.role === 'all' && deps.config.WEBHOOK_RUN_WORKERS);
    const workers = runWorkers ? startWorkers(runtime) : undefined;
    const appDeps = { runtime, metrics: deps.metrics, readiness: deps.readiness };
    return {
      service: deps.role === 'worker' ? createWorkerService(appDeps) : createApp(appDeps),
      closers: [...(workers?.closers ?? []), { name: 'webhook queues', close: () => runtime.close() }],
    };
  },
});
