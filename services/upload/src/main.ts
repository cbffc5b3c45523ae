import { tracing } from './tracing'; // must stay the first import
import { runService } from '@tollgate/common';
import { createApp } from './app';
import { loadConfig, serverTimeouts } from './config';
import { buildDeps } from './deps';
import { migrations } from './migrations';
import { startWorkers } from './workers';

void runService({ name: 'upload', config: loadConfig(), migrations, tracing, buildDeps, api: createApp, workers: startWorkers, server: serverTimeouts });
