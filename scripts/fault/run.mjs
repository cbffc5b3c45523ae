#!/usr/bin/env node
// `npm run fault -- [--quick|--full] [--ready-bound-s=30] [--concurrency=3]`: builds the services,
// makes sure Postgres and Redis answer, then runs scripts/e2e/test/fault.test.ts (TypeScript
// through jest, opt-in there with TOLLGATE_FAULT=1): background load on a fresh mesh whose
// Postgres and Redis connections go through stoppable TCP proxies, while it SIGKILLs and restarts
// each service, cuts Redis, cuts Postgres, makes the AI provider fail and the webhook receiver
// answer 503, checking after each that the mesh recovers with no money, event or job lost.
// --quick (the default) uses 5 s / 8 s / 10 s outages; --full uses 30 s / 30 s / 60 s.
// The report is printed and written to .data/fault-report.md. Exit code 0 only if all pass.
import path from 'node:path';
import { DATA_DIR } from '../lib/infra.mjs';
import { parseArgs, runOptInSuite } from '../lib/opt-in.mjs';
import { ensureNode } from '../lib/node.mjs';

await ensureNode(); // Node 24 or later, else re-run under the pinned Node 24 (scripts/lib/node.mjs)

const args = parseArgs(process.argv.slice(2));
await runOptInSuite({
  name: 'fault',
  testFile: 'scripts/e2e/test/fault.test.ts',
  env: {
    TOLLGATE_FAULT: '1',
    FAULT_SCALE: args.full === 'true' ? 'full' : 'quick',
    READY_BOUND_S: String(args['ready-bound-s'] ?? process.env.READY_BOUND_S ?? 30),
    FAULT_CONCURRENCY: String(args.concurrency ?? process.env.FAULT_CONCURRENCY ?? 3),
    FAULT_REPORT: path.join(DATA_DIR, 'fault-report.md'),
  },
});
