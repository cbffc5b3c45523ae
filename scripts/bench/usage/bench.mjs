#!/usr/bin/env node
// Usage reports benchmark (issue 17): with N usage rows spread over 90 days (one big tenant holds
// a third of them), how fast the rollup rolls them (rows/s, next to the 2,000 calls/s the
// platform must keep up with), GET /v1/usage?group_by=day for one month (p50/p99, over HTTP, after
// the rollup), the same report with no rollup (raw rows only, for comparison), and the CSV export
// of the big tenant: rows/s and the process RSS while it streams (flat = no buffering).
//
//   node scripts/pnpm.mjs --filter @tollgate/ai-proxy build && node scripts/bench/usage/bench.mjs [--rows=5000000] [--requests=200]
//
// Uses database `tollgate_bench_usage` (BENCH_DATABASE_URL), schema `ai_usage_bench` (recreated).
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ensureNode } from '../../lib/node.mjs';

await ensureNode();

const ROOT = path.resolve(import.meta.dirname, '../../..');
const require = createRequire(path.join(ROOT, 'services/ai-proxy/package.json'));
const common = require('@tollgate/common');
const express = require('express');
const { sql } = require('kysely');
const { migrations } = require('./dist/migrations/index.js');
const { rollUpUsage } = require('./dist/usage/rollup.js');
const { usageRoutes } = require('./dist/usage/routes.js');

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const ROWS = Number(args.rows ?? 5_000_000);
const REQUESTS = Number(args.requests ?? 200);
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://localhost:5432/tollgate_bench_usage';
const SCHEMA = 'ai_usage_bench';
const SECRET = 'bench-internal-secret-0123456789abcdef';
const DAY = 86_400_000;

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const round = (n, d = 1) => Math.round(n * 10 ** d) / 10 ** d;
const mib = (b) => round(b / 1024 / 1024);

async function ensureDatabase() {
  const url = new URL(common.withDefaultUser(DATABASE_URL));
  const name = url.pathname.slice(1);
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
  url.pathname = '/postgres';
  const server = common.createDb({ connectionString: url.toString(), schema: 'public' });
  const exists = await sql`select 1 from pg_database where datname = ${name}`.execute(server);
  if (exists.rows.length === 0) await sql`create database ${sql.raw(name)}`.execute(server);
  await server.destroy();
}

await ensureDatabase();
// --reuse keeps the rows of the last run (same --rows) and measures again.
const REUSE = 'reuse' in args && args.reuse !== 'false';
if (!REUSE) {
  const admin = common.createDb({ connectionString: DATABASE_URL, schema: 'public' });
  await sql`drop schema if exists ${sql.raw(SCHEMA)} cascade`.execute(admin);
  await admin.destroy();
}
const db = common.createDb({ connectionString: DATABASE_URL, schema: SCHEMA, statementTimeoutMs: 3_600_000, poolMax: 8 });
await common.migrateToLatest(db, SCHEMA, migrations);
// Reused rows start unrolled again, so every figure below means what its label says.
if (REUSE) {
  await sql`truncate usage_daily, usage_daily_tags`.execute(db);
  await sql`update usage_rollup_state set rolled_through = null`.execute(db);
}

const now = new Date(Math.floor(Date.now() / DAY) * DAY + DAY / 2); // midday today, UTC
const start = new Date(now.getTime() - 90 * DAY);
let t = performance.now();
// Rows spread evenly over 90 days; a third belong to tenant `big`, the rest to 49 others.
const BATCH = 250_000;
for (let from = 0; from < (REUSE ? 0 : ROWS); from += BATCH) {
  const n = Math.min(BATCH, ROWS - from);
  await sql`
    insert into usage (id, tenant_id, key_id, request_id, kind, model, stream, cached, prompt_tokens, completion_tokens, cost, outcome, attempts, latency_ms, created_at, tags)
    select 'u' || g, case when g % 3 = 0 then 'big' else 't' || (g % 49) end, 'key_' || (g % 20), 'req' || g, 'chat',
           'model-' || (g % 5), false, false, 10 + g % 500, 20 + g % 900, 1 + g % 10000, 'success', 1, 5 + g % 300,
           ${start}::timestamptz + ((g::float8 / ${ROWS}) * interval '90 days'),
           jsonb_build_object('team', 'team-' || (g % 7))
    from generate_series(${from}::bigint, ${from + n - 1}::bigint) g`.execute(db);
}
await sql`analyze usage`.execute(db);
const insertS = (performance.now() - t) / 1000;
console.log(`inserted ${ROWS} rows in ${round(insertS)} s`);

// The report over HTTP, the way it is served (identity check, query validation, JSON).
const app = express();
app.use(common.identityMiddleware(SECRET));
app.use(usageRoutes({ db, logger: common.createLogger({ service: 'bench', level: 'error' }), now: () => now }));
app.use((err, _req, res, _next) => res.status(err.status ?? 500).json({ error: String(err.message) }));
const server = await new Promise((resolve) => {
  const s = http.createServer(app).listen(0, '127.0.0.1', () => resolve(s));
});
const port = server.address().port;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const token = (tenantId) => common.signIdentity({ tenantId, keyId: 'key_1', scopes: ['read'] }, SECRET, 3600);
const get = (p, tenantId) =>
  new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, agent, headers: { 'x-tollgate-identity': token(tenantId) } }, (res) => {
        let bytes = 0;
        res.on('data', (c) => (bytes += c.length));
        res.on('end', () => resolve({ status: res.statusCode, bytes }));
      })
      .on('error', reject);
  });

const monthFrom = new Date(now.getTime() - 30 * DAY).toISOString();
const monthPath = `/v1/usage?group_by=day&from=${monthFrom}&to=${now.toISOString()}`;
async function latency(label) {
  for (let i = 0; i < 5; i++) await get(monthPath, 'big');
  const times = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t0 = performance.now();
    const res = await get(monthPath, 'big');
    if (res.status !== 200) throw new Error(`report answered ${res.status}`);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  console.log(`| ${label} | ${round(pct(times, 50), 2)} | ${round(pct(times, 99), 2)} |`);
}

console.log('| GET /v1/usage?group_by=day, one month, tenant `big` | p50 ms | p99 ms |');
console.log('|---|---|---|');
await latency('raw rows only (before any rollup)');
t = performance.now();
const rolled = await rollUpUsage(db, { now, retentionDays: 90 });
const rollS = (performance.now() - t) / 1000;
await sql`analyze usage_daily`.execute(db);
await latency('rollup + raw tail of today');
console.log('');
console.log(
  `rollup: ${rolled.days.length} days, ${ROWS} rows in ${round(rollS)} s = ${Math.round(ROWS / rollS)} rows/s (the platform's target load: 2,000 calls/s = 172.8 M rows/day)`,
);
t = performance.now();
const again = await rollUpUsage(db, { now, retentionDays: 90 });
console.log(`steady-state run (yesterday recomputed, ${again.days.length} day): ${round((performance.now() - t) / 1000, 2)} s`);

// CSV export of the big tenant (a third of the rows) over 90 days: RSS sampled while it streams.
const rss = [];
const heap = [];
const sampler = setInterval(() => {
  const m = process.memoryUsage();
  rss.push(m.rss);
  heap.push(m.heapUsed + m.external + m.arrayBuffers);
}, 50);
const before = process.memoryUsage().rss;
t = performance.now();
const exported = await get(`/v1/usage/export?format=csv&from=${start.toISOString()}&to=${now.toISOString()}`, 'big');
const exportS = (performance.now() - t) / 1000;
clearInterval(sampler);
const bigRows = Math.floor((ROWS - 1) / 3) + 1;
// Memory in each quarter of the stream: flat from the first quarter to the last means nothing accumulates.
const quarters = (xs) =>
  [0, 1, 2, 3].map((q) => mib(Math.max(...xs.slice(Math.floor((q * xs.length) / 4), Math.floor(((q + 1) * xs.length) / 4)))));
console.log(
  `CSV export memory by quarter of the stream (max MiB): RSS ${quarters(rss).join(' / ')}; JS heap+external ${quarters(heap).join(' / ')}`,
);
rss.sort((a, b) => a - b);
console.log(
  `CSV export: ${bigRows} rows, ${mib(exported.bytes)} MiB in ${round(exportS)} s (${Math.round(bigRows / exportS)} rows/s); RSS before ${mib(before)} MiB, during p50 ${mib(pct(rss, 50))} / max ${mib(rss.at(-1) ?? before)} MiB`,
);

server.close();
agent.destroy();
await db.destroy();
