#!/usr/bin/env node
// Profiles the credits API on the hold+capture path: runs server.mjs under `node --cpu-prof`,
// drives hold+capture pairs at the given concurrency for --duration seconds, and prints the
// functions with the most self time (and the server's CPU per operation).
//
//   pnpm --filter @tollgate/credits build && node scripts/bench/credits/profile.mjs [--duration=5] [--concurrency=1] [--dir=.data/prof]
import { fork } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ensureNode } from '../../lib/node.mjs';

await ensureNode();

const ROOT = path.resolve(import.meta.dirname, '../../..');
const require = createRequire(path.join(ROOT, 'services/credits/package.json'));
const common = require('@tollgate/common');
const { migrations } = require('./dist/migrations/index.js');
const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const DURATION_S = Number(args.duration ?? 5);
const C = Number(args.concurrency ?? 1);
const DIR = path.resolve(ROOT, args.dir ?? '.data/prof');
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://localhost:5432/tollgate_bench_credits';
const SCHEMA = 'credits_profile';
const SECRET = 'bench-internal-secret-0123456789abcdef';

mkdirSync(DIR, { recursive: true });
await common.ensureDatabase(DATABASE_URL);
const db = common.createDb({ connectionString: DATABASE_URL, schema: SCHEMA, poolMax: 2 });
const { sql } = require('kysely');
await sql`drop schema if exists ${sql.id(SCHEMA)} cascade`.execute(db);
await common.migrateToLatest(db, SCHEMA, migrations);
await db.destroy();

const env = {
  ...process.env,
  NODE_ENV: 'production',
  DATABASE_URL,
  DB_SCHEMA: SCHEMA,
  DATABASE_POOL_MAX: '32',
  INTERNAL_JWT_SECRET: SECRET,
  LOW_BALANCE_THRESHOLD: '0',
  LOG_LEVEL: 'warn',
};
const server = fork(path.join(import.meta.dirname, 'server.mjs'), {
  env,
  execArgv: ['--cpu-prof', `--cpu-prof-dir=${DIR}`],
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const { port } = await new Promise((resolve) => server.once('message', resolve));
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const send = (method, p, headers, body) =>
  new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: p,
        agent,
        headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        let data = '';
        res.on('data', (c) => (data += c));
        res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(data) }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
const svc = { 'x-tollgate-identity': common.signServiceIdentity('bench', SECRET, 'system', 3600) };
const admin = { 'x-tollgate-identity': common.signIdentity({ tenantId: 'admin', keyId: 'admin', scopes: ['admin'] }, SECRET, 3600) };
const tenant = `prof_${Date.now().toString(36)}`;
await send('POST', `/v1/admin/tenants/${tenant}/credits`, admin, { amount: 1_000_000_000_000 });
let seq = 0;
const stats = () =>
  new Promise((resolve) => {
    server.once('message', resolve);
    server.send('stats');
  });
const s0 = await stats();
const until = performance.now() + DURATION_S * 1000;
let ops = 0;
await Promise.all(
  Array.from({ length: C }, async () => {
    while (performance.now() < until) {
      const h = await send('POST', '/internal/v1/holds', svc, {
        tenant_id: tenant,
        amount: 5_000,
        idempotency_key: `p-${seq++}`,
        ttl_s: 600,
      });
      const c = await send('POST', `/internal/v1/holds/${h.body.id}/capture`, svc, { amount: 3_000 });
      if (h.status === 201 && c.status === 200) ops += 2;
    }
  }),
);
const s1 = await stats();
server.send('stop');
await new Promise((resolve) => server.once('exit', resolve));
agent.destroy();
if (s1.cpu_us !== undefined)
  console.log(`server CPU per ledger operation: ${Math.round((s1.cpu_us - s0.cpu_us) / ops)} µs (${ops} operations at c=${C})`);

const file = readdirSync(DIR)
  .filter((f) => f.endsWith('.cpuprofile'))
  .map((f) => path.join(DIR, f))
  .sort()
  .pop();
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
const dt = profile.timeDeltas;
let total = 0;
// Only the samples taken while the load ran (start-up and shutdown left out).
let at = profile.startTime;
const parentOf = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
const byPackage = new Map();
profile.samples.forEach((id, i) => {
  at += dt[i] ?? 0;
  if (at < s0.hrtime_us || at > s1.hrtime_us) return;
  const n = byNode.get(id);
  // Inclusive attribution by package: the first frame (from the leaf up) in node_modules or our code.
  let pkg = '(node / native)';
  for (let cur = id; cur !== undefined; cur = parentOf.get(cur)) {
    const url = byNode.get(cur).callFrame.url;
    const m = /.*node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url) ?? /(services\/[^/]+|packages\/[^/]+)\//.exec(url) ?? /^node:(.*)/.exec(url);
    if (m) {
      pkg = m[1];
      break;
    }
  }
  if (n.callFrame.functionName === '(idle)') pkg = '(idle)';
  byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + (dt[i] ?? 0));
  const f = n.callFrame;
  const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*node_modules\//, '').replace(ROOT, '')}:${f.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + (dt[i] ?? 0));
  total += dt[i] ?? 0;
});
console.log(`profile: ${path.relative(ROOT, file)}; self time by package (nearest package frame above the leaf), during the load:`);
for (const [k, v] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 20))
  console.log(`${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
console.log('top functions by self time, during the load:');
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(args.top ?? 40)))
  console.log(`${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
