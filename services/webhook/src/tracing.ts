import { startTracing } from '@tollgate/common/tracing';

// Imported first by main.ts, so http, express, pg and ioredis are instrumented when they load.
export const tracing = startTracing('webhook');
