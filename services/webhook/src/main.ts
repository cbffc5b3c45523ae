import { tracing } from './tracing'; // must stay the first import
import { runService } from '@tollgate/common';
import { createApp } from './app';
import { loadConfig } from './config';
import { migrations } from './migrations';

void runService({
  name: 'webhook',
  config: loadConfig(),
  migrations,
  tracing,
  build: (deps) => ({ service: createApp(deps) }),
});
