import { tracing } from './tracing'; // must stay the first import
import { runService } from '@tollgate/common';
import { createApp } from './app';
import { loadConfig, serverTimeouts } from './config';
import { migrations } from './migrations';

const config = loadConfig();

void runService({
  name: 'edge-gateway',
  config,
  migrations,
  tracing,
  build: (deps) => {
    const gateway = createApp(deps);
    return {
      service: gateway,
      closers: [{ name: 'gateway', close: gateway.close }],
      // Slow clients: headers must arrive quickly; whole requests, and uploads, have their deadlines.
      server: serverTimeouts(config),
    };
  },
});
