import { tracing } from './tracing'; // must stay the first import
import { runService } from '@tollgate/common';
import { createApp } from './app';
import { loadConfig, serverTimeouts } from './config';
import { buildDeps } from './deps';
import { migrations } from './migrations';

// Slow clients: headers must arrive quickly; whole requests, and uploads, have their deadlines.
void runService({ name: 'edge-gateway', config: loadConfig(), migrations, tracing, buildDeps, api: createApp, server: serverTimeouts });
