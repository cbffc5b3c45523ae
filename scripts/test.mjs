#!/usr/bin/env node
// `npm test`: install what is missing, make sure Postgres and Redis answer, type-check every
// package, then run every package's jest tests in one run against the real servers.
// Extra arguments go to jest (e.g. `npm test -- services/credits`).
import { mkdirSync, readFileSync, existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { DATA_DIR, ensureInfra, stopPrivateInstances } from './lib/infra.mjs';
import { ensureInstalled, jest as runJest, pnpm } from './lib/pnpm.mjs';
import { ensureNode } from './lib/node.mjs';

await ensureNode(); // Node 24 or later, else re-run under the pinned Node 24 (scripts/lib/node.mjs)

const RESULTS = path.join(DATA_DIR, 'jest-results.json');

async function main() {
  ensureInstalled();
  const infra = await ensureInfra({
    databaseUrl: process.env.TEST_DATABASE_URL ?? 'postgres://localhost:5432/tollgate_test',
    redisUrl: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
  });
  const env = { ...process.env, TEST_DATABASE_URL: infra.databaseUrl.replace(/\/tollgate$/, '/tollgate_test'), TEST_REDIS_URL: infra.redisUrl, NODE_ENV: 'test' };

  // Build (the e2e journeys run the compiled services) and type-check every package; turbo
  // caches both, so an unchanged package costs nothing on the next run.
  const tasks = process.env.SKIP_TYPECHECK === '1' ? ['build'] : ['build', 'typecheck'];
  const typecheck = pnpm(['exec', 'turbo', 'run', ...tasks, '--output-logs=errors-only'], { exitOnFailure: false, env });
  mkdirSync(DATA_DIR, { recursive: true });
  rmSync(RESULTS, { force: true }); // a run that writes none (no test matched, jest crashed) must not report the last run's counts
  const jest = runJest(['--json', `--outputFile=${RESULTS}`, '--maxWorkers=3', ...process.argv.slice(2)], { env });

  let passed = 0;
  let failed = 0;
  if (existsSync(RESULTS)) {
    const results = JSON.parse(readFileSync(RESULTS, 'utf8'));
    passed = results.numPassedTests;
    failed = results.numFailedTests + (results.numRuntimeErrorTestSuites ?? 0);
  } else if (jest !== 0) {
    console.error('jest ended without results (no test matched, or it crashed): see above.');
    failed += 1;
  }
  if (typecheck !== 0) {
    console.error('Build or type-check failed (see above).');
    failed += 1;
  }
  console.log(`tests: ${passed} passed, ${failed} failed`);
  stopPrivateInstances();
  process.exit(jest !== 0 || typecheck !== 0 ? 1 : 0);
}

main().catch((err) => {
  console.error(`npm test failed: ${err.message}`);
  process.exit(1);
});
