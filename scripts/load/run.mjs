#!/usr/bin/env node
// `npm run load -- [--duration=5m|300|30s] [--concurrency=6] [--rss-bound-mib=64]`: builds the
// services, makes sure Postgres and Redis answer, then runs the soak in
// scripts/e2e/test/load.test.ts (TypeScript through jest, opt-in there with TOLLGATE_LOAD=1) on a
// fresh mesh on free ports. Env equivalents: LOAD_DURATION_S, LOAD_CONCURRENCY, LOAD_RSS_BOUND_MIB.
// The report (per-route throughput and p50/p99, 5xx, RSS per service, pass/fail per check) is
// printed and written to .data/load-report.md. Exit code 0 only when every check passes.
import path from 'node:path';
import { DATA_DIR } from '../lib/infra.mjs';
import { parseArgs, runOptInSuite } from '../lib/opt-in.mjs';
import { ensureNode } from '../lib/node.mjs';

await ensureNode(); // Node 24 or later, else re-run under the pinned Node 24 (scripts/lib/node.mjs)

export function parseSeconds(value) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(String(value).trim());
  if (!m) throw new Error(`not a duration: ${value} (e.g. 300, 30s, 5m)`);
  const n = Number(m[1]);
  return { ms: n / 1000, s: n, m: n * 60, h: n * 3600 }[m[2] ?? 's'];
}

const args = parseArgs(process.argv.slice(2));
let duration;
try {
  duration = parseSeconds(args.duration ?? process.env.LOAD_DURATION_S ?? '5m');
} catch (err) {
  console.error(`load failed: ${err.message}`);
  process.exit(1);
}
await runOptInSuite({
  name: 'load',
  testFile: 'scripts/e2e/test/load.test.ts',
  env: {
    TOLLGATE_LOAD: '1',
    LOAD_DURATION_S: String(Math.round(duration)),
    LOAD_CONCURRENCY: String(args.concurrency ?? process.env.LOAD_CONCURRENCY ?? 6),
    LOAD_RSS_BOUND_MIB: String(args['rss-bound-mib'] ?? process.env.LOAD_RSS_BOUND_MIB ?? 64),
    LOAD_REPORT: path.join(DATA_DIR, 'load-report.md'),
  },
});
