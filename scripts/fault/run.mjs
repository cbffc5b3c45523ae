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
import { DATA_DIR, ensureInfra, stopPrivateInstances } from '../lib/infra.mjs';
import { ensureInstalled, pnpm } from '../lib/pnpm.mjs';

async function main() {
  const args = Object.fromEntries(
    process.argv.slice(2).map((a) => {
      const [k, v] = a.replace(/^--/, '').split('=');
      return [k, v ?? 'true'];
    }),
  );
  ensureInstalled();
  const infra = await ensureInfra({
    databaseUrl: process.env.TEST_DATABASE_URL ?? 'postgres://localhost:5432/tollgate_test',
    redisUrl: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
  });
  const env = {
    ...process.env,
    TEST_DATABASE_URL: infra.databaseUrl.replace(/\/tollgate$/, '/tollgate_test'),
    TEST_REDIS_URL: infra.redisUrl,
    NODE_ENV: 'test',
    TOLLGATE_FAULT: '1',
    FAULT_SCALE: args.full === 'true' ? 'full' : 'quick',
    READY_BOUND_S: String(args['ready-bound-s'] ?? process.env.READY_BOUND_S ?? 30),
    FAULT_CONCURRENCY: String(args.concurrency ?? process.env.FAULT_CONCURRENCY ?? 3),
    FAULT_REPORT: path.join(DATA_DIR, 'fault-report.md'),
  };
  pnpm(['exec', 'turbo', 'run', 'build', '--output-logs=errors-only'], { env });
  const code = pnpm(['exec', 'jest', 'scripts/e2e/test/fault.test.ts', '--runInBand'], { exitOnFailure: false, env });
  stopPrivateInstances();
  process.exit(code === 0 ? 0 : 1);
}

main().catch((err) => {
  console.error(`fault failed: ${err.message}`);
  process.exit(1);
});
