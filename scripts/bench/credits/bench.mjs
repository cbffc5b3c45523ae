#!/usr/bin/env node
// Credits benchmark: charges per second and hold+capture latency (p50, p99) at concurrency 1 and
// 32, through the real HTTP API, next to pgbench's built-in simple-update on the same Postgres
// in the same run, reported as ratios. Also the same charges called in-process (no HTTP) to show
// what the HTTP layer costs.
//
//   pnpm --filter @tollgate/credits build && node scripts/bench/credits/bench.mjs [--duration=8]
//
// Uses database `tollgate_bench_credits` (BENCH_DATABASE_URL), schema `credits_bench` (recreated) and
// pgbench's tables in that database's public schema (re-initialised, scale 10).
import { fork, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { ensureNode } from '../../lib/node.mjs';

await ensureNode(); // Node 24 or later, else re-run under the pinned Node 24 (scripts/lib/node.mjs)

const ROOT = path.resolve(import.meta.dirname, '../../..');
const require = createRequire(path.join(ROOT, 'services/credits/package.json'));
const common = require('@tollgate/common');
const { configSchema } = require('./dist/config.js');
const { migrations } = require('./dist/migrations/index.js');
const { buildLedger } = require('./dist/deps.js');
const { charge } = require('./dist/transactions/service.js');
const { reconcile } = require('./dist/reconcile/service.js');

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const DURATION_S = Number(args.duration ?? 8);
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://localhost:5432/tollgate_bench_credits';
const SCHEMA = 'credits_bench';
const SECRET = 'bench-internal-secret-0123456789abcdef';
const POOL = 32;
const PGBENCH = ['pgbench', '/usr/lib/postgresql/15/bin/pgbench'].find((bin) => spawnSync(bin, ['--version']).status === 0);

const serviceToken = common.signServiceIdentity('bench', SECRET, 'system', 3600);
const adminToken = common.signIdentity({ tenantId: 'admin', keyId: 'admin', scopes: ['admin'] }, SECRET, 3600);

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
const round = (n, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

// ---- HTTP client: keep-alive sockets, one per concurrent worker ----
function makeClient(port, concurrency) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  return (method, p, headers, body) =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = http.request(
        { host: '127.0.0.1', port, method, path: p, agent, headers: { ...headers, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) } },
        (res) => {
          let data = '';
          res.setEncoding('utf8');
          res.on('data', (c) => (data += c));
          res.on('end', () => resolve({ status: res.statusCode, body: data ? JSON.parse(data) : undefined }));
        },
      );
      req.on('error', reject);
      if (payload) req.write(payload);
      req.end();
    });
}

/** Runs `op(worker, i)` in `concurrency` loops for DURATION_S; returns count, rate and latencies. */
async function closedLoop(concurrency, op) {
  const latencies = [];
  let failures = 0;
  const until = performance.now() + DURATION_S * 1000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let i = 0; performance.now() < until; i++) {
        const t0 = performance.now();
        const ok = await op(worker, i);
        latencies.push(performance.now() - t0);
        if (!ok) failures++;
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return { ops: latencies.length, failures, per_s: round(latencies.length / elapsed, 1), p50_ms: round(percentile(latencies, 50)), p99_ms: round(percentile(latencies, 99)) };
}

// ---- pgbench simple-update ----
function pgbenchInit() {
  const r = spawnSync(PGBENCH, ['-i', '-s', '10', '-q', DATABASE_URL], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`pgbench -i failed: ${r.stderr}`);
}

function pgbenchRun(clients) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pgbench-'));
  try {
    const r = spawnSync(PGBENCH, ['-b', 'simple-update', '-M', 'prepared', '-c', String(clients), '-j', String(Math.min(clients, 2)), '-T', String(DURATION_S), '-l', '--log-prefix', path.join(dir, 'log'), DATABASE_URL], { encoding: 'utf8', cwd: dir });
    if (r.status !== 0) throw new Error(`pgbench failed: ${r.stderr}`);
    const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(r.stdout)?.[1]);
    // Per-transaction log lines: client_id transaction_no latency_us script_no epoch epoch_us
    const latencies = [];
    for (const file of readdirSync(dir).filter((f) => f.startsWith('log'))) {
      for (const line of readFileSync(path.join(dir, file), 'utf8').split('\n')) {
        const us = Number(line.split(' ')[2]);
        if (Number.isFinite(us)) latencies.push(us / 1000);
      }
    }
    latencies.sort((a, b) => a - b);
    return { per_s: round(tps, 1), ops: latencies.length, p50_ms: round(percentile(latencies, 50)), p99_ms: round(percentile(latencies, 99)) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  if (!PGBENCH) throw new Error('pgbench not found (on PATH or /usr/lib/postgresql/15/bin)');
  await common.ensureDatabase(DATABASE_URL);
  const env = { ...process.env, NODE_ENV: 'production', DATABASE_URL, DB_SCHEMA: SCHEMA, DATABASE_POOL_MAX: String(POOL), INTERNAL_JWT_SECRET: SECRET, LOW_BALANCE_THRESHOLD: '0', LOG_LEVEL: 'warn', HOLD_DEFAULT_TTL_S: '600' };
  const db = common.createDb({ connectionString: DATABASE_URL, schema: SCHEMA, poolMax: POOL, applicationName: 'credits-bench-driver' });
  await db.connection().execute(async (conn) => {
    const { sql } = require('kysely');
    await sql`drop schema if exists ${sql.id(SCHEMA)} cascade`.execute(conn);
  });
  await common.migrateToLatest(db, SCHEMA, migrations);

  pgbenchInit();
  const server = fork(path.join(import.meta.dirname, 'server.mjs'), { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { port } = await new Promise((resolve, reject) => {
    server.once('message', resolve);
    server.once('exit', (code) => reject(new Error(`bench server exited ${code}`)));
  });
  const send = makeClient(port, 64);
  const svc = { 'x-tollgate-identity': serviceToken };
  const tenants = Array.from({ length: 33 }, (_, i) => `bench_${Date.now().toString(36)}_${i}`);
  for (const t of tenants) {
    const r = await send('POST', `/v1/admin/tenants/${t}/credits`, { 'x-tollgate-identity': adminToken }, { amount: 1_000_000_000_000 });
    if (r.status !== 201) throw new Error(`top-up failed: ${r.status} ${JSON.stringify(r.body)}`);
  }
  let seq = 0;
  const chargeOp = (tenantOf) => async (worker) => (await send('POST', '/internal/v1/charges', svc, { tenant_id: tenantOf(worker), amount: 1_000, idempotency_key: `c-${seq++}` })).status === 201;
  // Records each hold's and each capture's own latency when `split` is given (the issue's
  // targets are per operation), and counts ledger operations (a pair is two).
  const holdCaptureOp = (tenantOf, split) => async (worker) => {
    let t0 = performance.now();
    const h = await send('POST', '/internal/v1/holds', svc, { tenant_id: tenantOf(worker), amount: 5_000, idempotency_key: `h-${seq++}`, ttl_s: 600 });
    split?.holds.push(performance.now() - t0);
    if (h.status !== 201) return false;
    t0 = performance.now();
    const ok = (await send('POST', `/internal/v1/holds/${h.body.id}/capture`, svc, { amount: 3_000 })).status === 200;
    split?.captures.push(performance.now() - t0);
    return ok;
  };
  /** The server's CPU time so far and its group-commit counters (batches, operations) if it batches. */
  const serverStats = () =>
    new Promise((resolve) => {
      const timer = setTimeout(() => resolve({}), 2_000);
      server.once('message', (m) => {
        clearTimeout(timer);
        resolve(m ?? {});
      });
      server.send('stats');
    });
  const meanBatch = (before, after) =>
    after.batches !== undefined && after.batches > (before.batches ?? 0) ? round((after.operations - (before.operations ?? 0)) / (after.batches - (before.batches ?? 0)), 1) : null;
  // The server's CPU (user + system) per ledger operation: steadier than latency on a busy machine.
  const cpuPerOp = (before, after, pairs) => (after.cpu_us !== undefined && pairs > 0 ? Math.round((after.cpu_us - before.cpu_us) / (pairs * 2)) : null);
  await closedLoop(4, chargeOp((w) => tenants[w])); // warm-up (JIT, pool)

  // pgbench and the credits runs alternate, so both see the same conditions on a shared machine.
  const load = [os.loadavg()[0]];
  console.log(`concurrency 1: pgbench simple-update, charges, hold+capture (${DURATION_S}s each)…`);
  const pg1 = pgbenchRun(1);
  const http1 = await closedLoop(1, chargeOp(() => tenants[0]));
  const split1 = { holds: [], captures: [] };
  const statsC1 = await serverStats();
  const hc1 = await closedLoop(1, holdCaptureOp(() => tenants[0], split1));
  const statsC1End = await serverStats();
  const perOp = (list) => {
    list.sort((a, b) => a - b);
    return { p50_ms: round(percentile(list, 50)), p99_ms: round(percentile(list, 99)) };
  };
  const hold1 = perOp(split1.holds);
  const capture1 = perOp(split1.captures);
  console.log(`concurrency 32: pgbench simple-update, charges (32 tenants, then one), hold+capture…`);
  const pg32 = pgbenchRun(32);
  const http32 = await closedLoop(32, chargeOp((w) => tenants[w]));
  const http32hot = await closedLoop(32, chargeOp(() => tenants[32]));
  const stats0 = await serverStats();
  const hc32 = await closedLoop(32, holdCaptureOp((w) => tenants[w]));
  const stats1 = await serverStats();
  const hc32hot = await closedLoop(32, holdCaptureOp(() => tenants[32]));
  const stats2 = await serverStats();
  const batching = { mean_batch_c32_32_tenants: meanBatch(stats0, stats1), mean_batch_c32_one_tenant: meanBatch(stats1, stats2) };
  const serverCpuUsPerOp = {
    c1: cpuPerOp(statsC1, statsC1End, hc1.ops),
    c32_32_tenants: cpuPerOp(stats0, stats1, hc32.ops),
    c32_one_tenant: cpuPerOp(stats1, stats2, hc32hot.ops),
  };
  server.send('stop');
  await new Promise((resolve) => server.once('exit', resolve));
  load.push(os.loadavg()[0]);

  console.log('credits in-process (no HTTP)…');
  const ledger = buildLedger({ config: common.parseConfig(configSchema, env), db, logger: common.createLogger({ service: 'bench', silent: true }), events: common.memoryEventPublisher() });
  const direct = (tenantOf) => async (worker) => {
    await charge(ledger, { tenantId: tenantOf(worker), amount: 1_000, idempotencyKey: `d-${seq++}` });
    return true;
  };
  const dir1 = await closedLoop(1, direct(() => tenants[0]));
  const dir32 = await closedLoop(32, direct((w) => tenants[w]));

  const t0 = performance.now();
  const report = await reconcile(db);
  const reconcileMs = round(performance.now() - t0, 0);
  await db.destroy();

  const results = {
    at: new Date().toISOString(),
    machine: { cpus: os.cpus().length, node: process.version, load_avg_1m_start_end: load.map((l) => round(l, 1)) },
    duration_s: DURATION_S,
    pgbench_simple_update: { c1: pg1, c32: pg32 },
    charges_http: { c1: http1, c32_32_tenants: http32, c32_one_tenant: http32hot },
    charges_in_process: { c1: dir1, c32_32_tenants: dir32 },
    hold_capture_http: { c1: hc1, c32_32_tenants: hc32, c32_one_tenant: hc32hot },
    // The issue's credits targets: per-operation p50 at c=1, ledger operations (hold and capture
    // each count one) per second against pgbench's TPS, c=32 on one tenant as the chat bench does.
    per_operation_c1: { hold: hold1, capture: capture1 },
    ledger_ops_per_s: { c1: round(hc1.per_s * 2, 1), c32_one_tenant: round(hc32hot.per_s * 2, 1), c32_32_tenants: round(hc32.per_s * 2, 1) },
    batching,
    server_cpu_us_per_ledger_op: serverCpuUsPerOp,
    ratios: {
      ledger_ops_vs_pgbench_c1: round((hc1.per_s * 2) / pg1.per_s, 3),
      ledger_ops_vs_pgbench_c32_one_tenant: round((hc32hot.per_s * 2) / pg32.per_s, 3),
      ledger_ops_vs_pgbench_c32_32_tenants: round((hc32.per_s * 2) / pg32.per_s, 3),
      charges_http_vs_pgbench_c1: round(http1.per_s / pg1.per_s, 3),
      charges_http_vs_pgbench_c32: round(http32.per_s / pg32.per_s, 3),
      charges_in_process_vs_pgbench_c1: round(dir1.per_s / pg1.per_s, 3),
      charges_in_process_vs_pgbench_c32: round(dir32.per_s / pg32.per_s, 3),
      hold_capture_p50_vs_pgbench_p50_c1: round(hc1.p50_ms / pg1.p50_ms, 2),
      hold_capture_p99_vs_pgbench_p99_c1: round(hc1.p99_ms / pg1.p99_ms, 2),
      hold_capture_p50_vs_pgbench_p50_c32: round(hc32.p50_ms / pg32.p50_ms, 2),
      hold_capture_p99_vs_pgbench_p99_c32: round(hc32.p99_ms / pg32.p99_ms, 2),
    },
    reconcile: { ok: report.ok, ms: reconcileMs, counts: report.counts },
  };
  const outDir = path.join(ROOT, '.data', 'bench');
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `credits-${results.at.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);

  const row = (name, r) => console.log(`${name.padEnd(36)} ${String(r.per_s).padStart(9)}/s  p50 ${String(r.p50_ms).padStart(7)} ms  p99 ${String(r.p99_ms).padStart(7)} ms  (${r.ops} ops${r.failures ? `, ${r.failures} failed` : ''})`);
  console.log('');
  row('pgbench simple-update c=1', pg1);
  row('pgbench simple-update c=32', pg32);
  row('charge HTTP c=1', http1);
  row('charge HTTP c=32 (32 tenants)', http32);
  row('charge HTTP c=32 (one tenant)', http32hot);
  row('charge in-process c=1', dir1);
  row('charge in-process c=32 (32 tenants)', dir32);
  row('hold+capture HTTP c=1', hc1);
  row('hold+capture HTTP c=32 (32 tenants)', hc32);
  row('hold+capture HTTP c=32 (one tenant)', hc32hot);
  console.log('');
  console.log(`hold    HTTP c=1: p50 ${hold1.p50_ms} ms, p99 ${hold1.p99_ms} ms (target p50 <= 1 ms)`);
  console.log(`capture HTTP c=1: p50 ${capture1.p50_ms} ms, p99 ${capture1.p99_ms} ms (target p50 <= 1 ms)`);
  console.log(`ledger ops/s (hold and capture each one): ${results.ledger_ops_per_s.c1} at c=1, ${results.ledger_ops_per_s.c32_one_tenant} at c=32 on one tenant, ${results.ledger_ops_per_s.c32_32_tenants} at c=32 over 32 tenants (target >= 0.5 x pgbench TPS)`);
  console.log(`credits server CPU per ledger operation (hold or capture, HTTP included): ${serverCpuUsPerOp.c1 ?? 'n/a'} µs at c=1, ${serverCpuUsPerOp.c32_32_tenants ?? 'n/a'} µs at c=32 over 32 tenants, ${serverCpuUsPerOp.c32_one_tenant ?? 'n/a'} µs at c=32 on one tenant`);
  console.log(`group commit, mean batch size: ${batching.mean_batch_c32_32_tenants ?? 'n/a'} (c=32, 32 tenants), ${batching.mean_batch_c32_one_tenant ?? 'n/a'} (c=32, one tenant)`);
  console.log('');
  for (const [k, v] of Object.entries(results.ratios)) console.log(`${k.padEnd(40)} ${v}`);
  console.log(`\nmachine: ${os.cpus().length} cpus, 1-min load average ${load.map((l) => round(l, 1)).join(' → ')} (other work on the machine skews both sides)`);
  console.log(`reconcile after the run: ${report.ok ? 'ok' : 'MISMATCH'} in ${reconcileMs} ms (${report.counts.transactions} transactions)`);
  console.log(`results: ${path.relative(ROOT, file)}`);
  if (!report.ok) process.exitCode = 1;
}

main().catch((err) => {
  console.error(`credits bench failed: ${err.stack ?? err}`);
  process.exit(1);
});
