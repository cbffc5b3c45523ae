#!/usr/bin/env node
// The billed chat path beside its peers (issue 15). In ONE run, against the SAME local
// OpenAI-compatible mock upstream (scripts/bench/ai/mock-upstream.mjs):
//   1. the upstream called directly;
//   2. nginx (Debian's) as a reverse proxy with a keepalive upstream;
//   3. Portkey's gateway (@portkey-ai/gateway, pinned in the root package.json), no auth, no billing;
//   4. Tollgate, billed: all six services started the way `npm start` starts them (same env
//      defaults: access logs and tracing as they default), a tenant with credits and an API key,
//      the model routed with `provider: openai, base_url: http://127.0.0.1:<mock>/v1`, every call
//      through the gateway with the tenant's key, held and captured by credits.
// For each: req/s at c=32 (non-streaming), p50/p99 at c=1, and the first streamed content chunk
// (p50, c=1). Then the ledger is checked against the answers (one capture per 200, balance =
// top-up − Σ costs, nothing left held), and credits alone is measured (hold and capture at c=1
// over its internal HTTP API, hold+capture at c=32 on one tenant) beside pgbench simple-update.
//
//   node scripts/bench/chat/run.mjs [--duration=6] [--latency-duration=4] [--warmup=1] [--credits-duration=4]
//     [--cpu-prof=<dir>] [--services-env=K=V,K2=V2] [--tool=wrk|node] [--no-build] [--keep-logs]
//
// --cpu-prof=<dir>     run the Tollgate services with `node --cpu-prof` (one .cpuprofile per service
//                      in <dir>, written when they exit); profiling slows them, compare ratios only.
// --services-env=...   env overrides for every Tollgate service (A/B runs), e.g.
//                      --services-env=OTEL_SDK_DISABLED=true,ACCESS_LOG=false (values without commas).
// --tool               wrk (default when installed; apt-get installs it when we are root) drives the
//                      c=32 and c=1 rows; the first-content-chunk column and the ledger check always
//                      use client.mjs (wrk cannot see SSE events or wait for in-flight answers).
//                      `--tool=node` uses client.mjs for every column.
//
// Everything listens on and calls 127.0.0.1 only. Needs Postgres and Redis (started privately if
// none answers, like `npm test`); nginx, wrk and pgbench are optional: a row or line that cannot
// run says so.
import { fork, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DATA_DIR, ensureInfra, freePort, stopPrivateInstances } from '../../lib/infra.mjs';
import { pnpm, ROOT } from '../../lib/pnpm.mjs';
import { ensureNode } from '../../lib/node.mjs';

await ensureNode(); // Node 24 or later, else re-run under the pinned Node 24 (scripts/lib/node.mjs)

const HERE = path.dirname(fileURLToPath(import.meta.url));
const args = {};
for (const a of process.argv.slice(2)) {
  const m = /^--([^=]+)(?:=(.*))?$/s.exec(a);
  if (!m) throw new Error(`unknown argument ${a}`);
  args[m[1]] = m[2] ?? 'true';
}
const DURATION_S = Math.max(1, Math.round(Number(args.duration ?? 6)));
const LATENCY_S = Math.max(1, Math.round(Number(args['latency-duration'] ?? 4)));
const WARMUP_S = Math.max(0, Math.round(Number(args.warmup ?? 1)));
const CREDITS_S = Math.max(1, Number(args['credits-duration'] ?? 4));
const CPU_PROF_DIR = args['cpu-prof'] && args['cpu-prof'] !== 'true' ? path.resolve(args['cpu-prof']) : undefined;
if (args['cpu-prof'] === 'true') throw new Error('--cpu-prof needs a directory: --cpu-prof=<dir>');
const SERVICES_ENV = Object.fromEntries(
  (args['services-env'] ?? '')
    .split(',')
    .filter(Boolean)
    .map((kv) => {
      const i = kv.indexOf('=');
      if (i < 1) throw new Error(`--services-env: "${kv}" is not K=V`);
      return [kv.slice(0, i), kv.slice(i + 1)];
    }),
);
const C = 32;
const BILLING_BURST = 300;
const PREWARM = Number(args.prewarm ?? 400);
const PREWARM_MAX_S = 8;
const PROF_STAMP = new Date().toISOString().replace(/[:.]/g, '-');

const children = [];
const cleanups = [];
const notes = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const common = createRequire(path.join(ROOT, 'packages/common/package.json'));
const note = (line) => {
  notes.push(line);
  console.log(line);
};

const fmt = (n, digits = 0) =>
  n === undefined || Number.isNaN(n) ? '–' : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const loadavg = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ');
const uptime = () => spawnSync('uptime', { encoding: 'utf8' }).stdout?.trim() || `load average: ${loadavg()}`;

async function waitFor(url, { init = {}, timeoutMs = 60_000, ok = (res) => res.ok } = {}) {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    try {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(2_000) });
      if (ok(res)) return res;
      last = `${res.status}`;
    } catch (err) {
      last = err.message;
    }
    await sleep(200);
  }
  throw new Error(`${url} did not come up (${last})`);
}

function forkScript(file, argv) {
  const child = fork(file, argv.map(String), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ port: m.port, pid: child.pid }));
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code}`)));
  });
}

const which = (bin) => {
  const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
};

/** A Debian package's binary: found, or installed with apt-get when we are root; else undefined. */
let aptUpdated = false;
function ensureDebian(bin, pkg, alt = []) {
  for (const b of [bin, ...alt]) {
    const found = b.startsWith('/') ? (existsSync(b) ? b : undefined) : which(b);
    if (found) return found;
  }
  if (process.getuid?.() !== 0 || !which('apt-get')) return undefined;
  console.log(`${bin} is missing: installing Debian's ${pkg} ...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    aptUpdated = true;
  }
  if (spawnSync('apt-get', ['install', '-y', '-qq', pkg], { stdio: 'inherit', env }).status !== 0) return undefined;
  for (const b of [bin, ...alt]) {
    const found = b.startsWith('/') ? (existsSync(b) ? b : undefined) : which(b);
    if (found) return found;
  }
  return undefined;
}

/** CPU time (user + system) of some processes, in ms, from /proc (Linux). */
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;
function cpuMs(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return (ticks * 1000) / CLOCK_TICKS;
}
const childPids = (pid) =>
  spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
    .stdout?.split('\n')
    .filter(Boolean)
    .map(Number) ?? [];

// ---------------------------------------------------------------------------------------------
// Contenders

async function startNginx(upstreamPort) {
  const bin = ensureDebian('nginx', 'nginx', ['/usr/sbin/nginx']);
  if (!bin) {
    note('nginx: not installed and not root (or no apt-get) to install it: its row is skipped.');
    return undefined;
  }
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-chat-nginx-'));
  chmodSync(dir, 0o755);
  mkdirSync(path.join(dir, 'tmp'), { mode: 0o777 });
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  // One worker (Portkey is one process too). Streaming answers pass through unbuffered, as any
  // reverse proxy in front of an LLM API is configured.
  writeFileSync(
    path.join(dir, 'nginx.conf'),
    `worker_processes 1;
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  keepalive_requests 1000000;
  upstream mock { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`,
  );
  const child = spawn(bin, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.push(child);
  await waitFor(`http://127.0.0.1:${port}/v1/models`, { ok: (res) => res.status < 500 });
  const version = spawnSync(bin, ['-v'], { encoding: 'utf8' }).stderr.trim().replace('nginx version: ', '');
  return { port, version, pids: () => [child.pid, ...childPids(child.pid)] };
}

async function startPortkey(upstreamPort, dir) {
  const pkgDir = path.join(ROOT, 'node_modules/@portkey-ai/gateway');
  if (!existsSync(path.join(pkgDir, 'package.json'))) {
    note('Portkey: node_modules/@portkey-ai/gateway is missing (run `node scripts/pnpm.mjs install`): its row is skipped.');
    return undefined;
  }
  const pkg = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
  const entry = path.join(pkgDir, typeof pkg.bin === 'string' ? pkg.bin : 'build/start-server.js');
  const port = await freePort();
  const logFile = path.join(dir, 'portkey.log');
  const fd = openSync(logFile, 'a');
  // Its own defaults: no NODE_ENV, no Redis (REDIS_CONNECTION_STRING unset), nothing of ours.
  // loopback-only.mjs makes it listen on 127.0.0.1 (it has no host flag) and refuses, and
  // reports, any connection it opens to anything but loopback.
  const child = spawn(process.execPath, ['--import', path.join(HERE, 'loopback-only.mjs'), entry, '--headless', `--port=${port}`], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  children.push(child);
  await waitFor(`http://127.0.0.1:${port}/`, { ok: (res) => res.status < 500 });
  await sleep(300);
  const outbound = () => [...readFileSync(logFile, 'utf8').matchAll(/loopback-only: refused outbound (\S+)/g)].map((m) => m[1]);
  const atStart = outbound();
  note(
    `Portkey ${pkg.version}: ${atStart.length ? `tried outbound connections at startup (refused): ${[...new Set(atStart)].join(', ')}` : 'no outbound connection attempted at startup'}; listening on 127.0.0.1:${port} only`,
  );
  return {
    port,
    version: pkg.version,
    pids: () => [child.pid],
    outbound,
    logTail: () =>
      [
        ...new Set(
          readFileSync(logFile, 'utf8')
            .split('\n')
            .filter((l) => /error|Error/.test(l))
            .map((l) => l.trim()),
        ),
      ]
        .slice(-3)
        .join(' | '),
  };
}

/**
 * The six services as `npm start` starts them (scripts/start.mjs): the same env it builds —
 * NODE_ENV (development unless set), ADMIN_TOKEN, INTERNAL_JWT_SECRET, LOG_PRETTY, DATA_DIR,
 * WEBHOOK_ALLOW_PRIVATE_TARGETS and the *_URL of each service, nothing about logs or tracing —
 * plus what a bench needs to share a machine (free ports, own schemas and Redis prefix, as
 * packages/testkit's mesh does), the routing file, limits that never refuse, and --services-env.
 */
async function startTollgate(infra, mockPort, dir) {
  const SERVICES = [
    { name: 'credits', schema: 'credits', urlEnv: 'CREDITS_URL' },
    { name: 'ai-proxy', schema: 'ai', urlEnv: 'AI_PROXY_URL' },
    { name: 'upload', schema: 'uploads', urlEnv: 'UPLOAD_URL' },
    { name: 'image-pipeline', schema: 'images', urlEnv: 'IMAGE_PIPELINE_URL' },
    { name: 'webhook', schema: 'webhooks', urlEnv: 'WEBHOOK_URL' },
    { name: 'edge-gateway', schema: 'gateway', urlEnv: 'GATEWAY_URL' },
  ];
  const suffix = randomBytes(4).toString('hex');
  const prefix = `bench:chat:${suffix}`;
  const schemaOf = (s) => `bench_chat_${suffix}_${s.schema}`;
  const ports = {};
  for (const s of SERVICES) ports[s.name] = await freePort();
  const routingFile = path.join(dir, 'routing.json');
  writeFileSync(
    routingFile,
    JSON.stringify({
      limits: { tokens_per_minute: 0 },
      models: {
        bench: {
          price: { input_per_1k: 1_000, output_per_1k: 2_000 },
          max_output_tokens: 256,
          targets: [{ id: 'mock-upstream', provider: 'openai', model: 'mock', base_url: `http://127.0.0.1:${mockPort}/v1` }],
        },
      },
    }),
  );
  const adminToken = `tgadmin_${randomBytes(24).toString('base64url')}`;
  const internalSecret = randomBytes(48).toString('base64url');
  const dataDir = path.join(dir, 'files');
  mkdirSync(dataDir, { recursive: true });
  const env = {
    ...process.env,
    NODE_ENV: process.env.NODE_ENV ?? 'development',
    DATABASE_URL: infra.databaseUrl,
    REDIS_URL: infra.redisUrl,
    ADMIN_TOKEN: adminToken,
    INTERNAL_JWT_SECRET: internalSecret,
    // start.mjs: pretty only when its own stdout is a terminal; here the logs go to a file.
    LOG_PRETTY: process.env.LOG_PRETTY ?? 'false',
    DATA_DIR: dataDir,
    WEBHOOK_ALLOW_PRIVATE_TARGETS: process.env.WEBHOOK_ALLOW_PRIVATE_TARGETS ?? 'true',
    ...Object.fromEntries(SERVICES.map((s) => [s.urlEnv, `http://127.0.0.1:${ports[s.name]}`])),
    // The bench's own: isolation, the route to the mock, and limits with room for the whole run.
    REDIS_PREFIX: prefix,
    ROUTING_CONFIG_PATH: routingFile,
    RATE_LIMIT_COMPLETION: '1000000000',
    RATE_LIMIT_READ: '1000000000',
    RATE_LIMIT_WRITE: '1000000000',
    RATE_LIMIT_IP: '1000000000',
    ...SERVICES_ENV,
  };
  const logFile = path.join(dir, 'tollgate-services.log');
  const procs = {};
  for (const s of SERVICES) {
    const fd = openSync(logFile, 'a');
    const prof = CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`, `--cpu-prof-name=${s.name}-${PROF_STAMP}.cpuprofile`] : [];
    const child = spawn(process.execPath, [...prof, path.join(ROOT, 'services', s.name, 'dist/main.js')], {
      cwd: path.join(ROOT, 'services', s.name),
      env: { ...env, PORT: String(ports[s.name]), HOST: '127.0.0.1', DB_SCHEMA: schemaOf(s) },
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    children.push(child);
    procs[s.name] = child;
  }
  cleanups.push(async () => {
    // Graceful stop first (a --cpu-prof profile is written on a clean exit), then the schemas and keys go.
    await Promise.all(
      Object.values(procs).map(
        (child) =>
          new Promise((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const force = setTimeout(() => child.kill('SIGKILL'), 20_000);
            child.once('exit', () => {
              clearTimeout(force);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
    const { createDb } = common('./dist/db/index.js');
    const { sql } = common('kysely');
    const { createRedis, deleteByPrefix } = common('./dist/redis.js');
    const db = createDb({ connectionString: infra.databaseUrl, schema: 'public' });
    for (const s of SERVICES) {
      await sql`drop schema if exists ${sql.id(schemaOf(s))} cascade`
        .execute(db)
        .catch((err) => console.warn(`could not drop ${schemaOf(s)}: ${err.message}`));
    }
    await db.destroy();
    const redis = createRedis(infra.redisUrl, 'request');
    await deleteByPrefix(redis, `${prefix}:`).catch(() => undefined);
    redis.disconnect();
  });
  try {
    await Promise.all(SERVICES.map((s) => waitFor(`http://127.0.0.1:${ports[s.name]}/readyz`)));
  } catch (err) {
    const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n') : '';
    throw new Error(`${err.message}\n${tail}`);
  }
  const gateway = `http://127.0.0.1:${ports['edge-gateway']}`;
  const headers = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
  const tenant = await (
    await fetch(`${gateway}/v1/admin/tenants`, { method: 'POST', headers, body: JSON.stringify({ name: 'chat-bench' }) })
  ).json();
  if (!tenant.id) throw new Error(`could not create a tenant: ${JSON.stringify(tenant)}`);
  const key = await (
    await fetch(`${gateway}/v1/admin/tenants/${tenant.id}/keys`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'chat-bench', scopes: ['completion', 'read'] }),
    })
  ).json();
  if (!key.key) throw new Error(`could not create an API key: ${JSON.stringify(key)}`);
  const TOP_UP = 1_000_000_000_000;
  const topUp = await fetch(`${gateway}/v1/admin/tenants/${tenant.id}/credits`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ amount: TOP_UP, reason: 'chat bench' }),
  });
  if (topUp.status !== 201) throw new Error(`top-up failed: ${topUp.status} ${await topUp.text()}`);
  return {
    gateway,
    urls: Object.fromEntries(SERVICES.map((s) => [s.name, `http://127.0.0.1:${ports[s.name]}`])),
    procs,
    tenantId: tenant.id,
    apiKey: key.key,
    topUp: TOP_UP,
    internalSecret,
    creditsSchema: schemaOf(SERVICES[0]),
    logFile,
  };
}

// ---------------------------------------------------------------------------------------------
// Load

function runProcess(bin, argv) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${path.basename(bin)} exited ${code}: ${err.trim().slice(-500)}`)),
    );
  });
}

async function client(options) {
  const out = await runProcess(process.execPath, [path.join(HERE, 'client.mjs'), JSON.stringify(options)]);
  return JSON.parse(out.trim().split('\n').pop());
}

const luaString = (s) => {
  let eq = '';
  while (s.includes(`]${eq}]`)) eq += '=';
  return `[${eq}[${s}]${eq}]`;
};

/** wrk with a generated Lua script (POST body, headers) whose done() prints one JSON line. */
async function wrk(bin, dir, c, seconds, target) {
  const script = path.join(dir, `wrk-${randomBytes(4).toString('hex')}.lua`);
  writeFileSync(
    script,
    `wrk.method = "POST"
wrk.body = ${luaString(JSON.stringify(target.body))}
wrk.headers["Content-Type"] = "application/json"
${Object.entries(target.headers)
  .map(([k, v]) => `wrk.headers[ ${luaString(k)} ] = ${luaString(v)}`)
  .join('\n')}
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"non2xx":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.status, e.connect, e.read, e.write, e.timeout))
end
`,
  );
  const out = await runProcess(bin, [`-t${Math.min(c, 2)}`, `-c${c}`, `-d${seconds}s`, '--timeout', '10s', '-s', script, target.url]);
  rmSync(script, { force: true });
  const m = /WRKJSON (.*)/.exec(out);
  if (!m) throw new Error(`wrk printed no summary: ${out.trim().slice(-600)}`);
  const r = JSON.parse(m[1]);
  const errors = r.connect + r.read + r.write + r.timeout;
  const ok = r.requests - r.non2xx;
  return {
    requests: r.requests,
    ok,
    rps: ok / (r.duration_us / 1e6),
    p50_ms: r.p50_us / 1000,
    p99_ms: r.p99_us / 1000,
    statuses: { ...(ok ? { 200: ok } : {}), ...(r.non2xx ? { 'non-2xx': r.non2xx } : {}), ...(errors ? { 'socket errors': errors } : {}) },
  };
}

// ---------------------------------------------------------------------------------------------
// Ledger (read straight from the credits schema) and credits alone

async function ledger(tollgate, infra) {
  const { createDb } = common('./dist/db/index.js');
  const { sql } = common('kysely');
  const db = createDb({ connectionString: infra.databaseUrl, schema: tollgate.creditsSchema });
  try {
    const s = tollgate.creditsSchema;
    const account = (
      await sql`select balance::text as balance, held::text as held from ${sql.id(s, 'accounts')} where tenant_id = ${tollgate.tenantId}`.execute(
        db,
      )
    ).rows[0];
    const txns = (
      await sql`select type, count(*)::int as n, coalesce(sum(amount), 0)::text as total from ${sql.id(s, 'transactions')} where tenant_id = ${tollgate.tenantId} group by type`.execute(
        db,
      )
    ).rows;
    const holds = (
      await sql`select status, count(*)::int as n from ${sql.id(s, 'holds')} where tenant_id = ${tollgate.tenantId} group by status`.execute(
        db,
      )
    ).rows;
    const by = Object.fromEntries(txns.map((t) => [t.type, { n: t.n, total: BigInt(t.total) }]));
    const costs = (by.capture?.total ?? 0n) + (by.charge?.total ?? 0n);
    return {
      balance: BigInt(account?.balance ?? 0),
      held: BigInt(account?.held ?? 0),
      topUps: by.top_up?.total ?? 0n,
      charges: (by.capture?.n ?? 0) + (by.charge?.n ?? 0),
      costs,
      holds: Object.fromEntries(holds.map((h) => [h.status, h.n])),
    };
  } finally {
    await db.destroy();
  }
}

/** Waits until nothing is held and the count of charges stopped moving (settlements landed). */
async function settledLedger(tollgate, infra, timeoutMs = 15_000) {
  const until = Date.now() + timeoutMs;
  let last = await ledger(tollgate, infra);
  for (;;) {
    await sleep(500);
    const now = await ledger(tollgate, infra);
    if ((now.held === 0n && now.charges === last.charges) || Date.now() > until) return now;
    last = now;
  }
}

function makeHttp(base, concurrency) {
  const u = new URL(base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const send = (method, p, headers, body) =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = http.request(
        {
          host: u.hostname,
          port: u.port,
          method,
          path: p,
          agent,
          headers: { ...headers, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
        },
        (res) => {
          let data = '';
          res.setEncoding('utf8');
          res.on('data', (c) => (data += c));
          res.on('end', () => resolve({ status: res.statusCode, body: data ? JSON.parse(data) : undefined }));
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  send.close = () => agent.destroy();
  return send;
}

const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : undefined);

async function creditsAlone(tollgate, infra, dir) {
  const { signIdentity, signServiceIdentity } = common('./dist/identity.js');
  const svc = { 'x-tollgate-identity': signServiceIdentity('bench', tollgate.internalSecret, 'system', 3_600) };
  const admin = {
    'x-tollgate-identity': signIdentity({ tenantId: 'admin', keyId: 'admin', scopes: ['admin'] }, tollgate.internalSecret, 3_600),
  };
  const send = makeHttp(tollgate.urls.credits, 64);
  const tenant = `chatbench_${randomBytes(4).toString('hex')}`;
  const top = await send('POST', `/v1/admin/tenants/${tenant}/credits`, admin, { amount: 1_000_000_000_000, reason: 'chat bench' });
  if (top.status !== 201) throw new Error(`credits top-up failed: ${top.status} ${JSON.stringify(top.body)}`);
  let seq = 0;
  const pair = async (holds, captures) => {
    let t0 = performance.now();
    const h = await send('POST', '/internal/v1/holds', svc, {
      tenant_id: tenant,
      amount: 5_000,
      idempotency_key: `h-${seq++}`,
      ttl_s: 600,
    });
    holds?.push(performance.now() - t0);
    if (h.status !== 201) return 0;
    t0 = performance.now();
    const c = await send('POST', `/internal/v1/holds/${h.body.id}/capture`, svc, { amount: 3_000 });
    captures?.push(performance.now() - t0);
    return c.status === 200 ? 2 : 1;
  };
  const loop = async (concurrency, seconds, record) => {
    const until = performance.now() + seconds * 1000;
    const started = performance.now();
    let ops = 0;
    let failed = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < until) {
          const n = await pair(record?.holds, record?.captures);
          ops += n;
          if (n < 2) failed++;
        }
      }),
    );
    return { ops_per_s: ops / ((performance.now() - started) / 1000), failed };
  };
  await loop(4, 1); // warm-up
  const lat = { holds: [], captures: [] };
  const c1 = await loop(1, CREDITS_S, lat);
  const c32 = await loop(C, CREDITS_S);
  send.close();
  lat.holds.sort((a, b) => a - b);
  lat.captures.sort((a, b) => a - b);

  let pgbench;
  const bin = ensureDebian('pgbench', 'postgresql-contrib', ['/usr/lib/postgresql/15/bin/pgbench']);
  if (!bin) {
    note('pgbench: not found (postgresql-contrib) and cannot be installed here: the ledger-vs-pgbench ratio is skipped.');
  } else {
    const url = new URL(infra.databaseUrl);
    url.pathname = '/tollgate_bench_chat_pgbench';
    const { ensureDatabase, withDefaultUser } = common('./dist/db/index.js');
    await ensureDatabase(url.toString());
    const pgUrl = withDefaultUser(url.toString());
    const init = spawnSync(bin, ['-i', '-s', '1', '-q', pgUrl], { encoding: 'utf8', cwd: dir });
    if (init.status !== 0) {
      note(`pgbench -i failed: ${init.stderr.trim().split('\n').pop()}; the ratio is skipped.`);
    } else {
      const run = (clients) => {
        const r = spawnSync(
          bin,
          [
            '-b',
            'simple-update',
            '-M',
            'prepared',
            '-c',
            String(clients),
            '-j',
            String(Math.min(clients, 2)),
            '-T',
            String(Math.max(1, Math.round(CREDITS_S))),
            pgUrl,
          ],
          { encoding: 'utf8', cwd: dir },
        );
        return Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(r.stdout)?.[1]);
      };
      pgbench = { c1: run(1), c32: run(C) };
    }
  }
  return {
    hold_p50_ms: pct(lat.holds, 50),
    hold_p99_ms: pct(lat.holds, 99),
    capture_p50_ms: pct(lat.captures, 50),
    capture_p99_ms: pct(lat.captures, 99),
    c1,
    c32,
    pgbench,
  };
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const startedAt = Date.now();
  const loadStart = uptime();
  console.log(`start: ${loadStart}`);
  const infra = await ensureInfra({
    databaseUrl: process.env.DATABASE_URL ?? 'postgres://localhost:5432/tollgate',
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  });
  if (args['no-build'] !== 'true') {
    console.log('Building the services (turbo, cached when nothing changed) ...');
    pnpm(['exec', 'turbo', 'run', 'build', '--output-logs=errors-only']);
  }
  const { ensureDatabase } = common('./dist/db/index.js');
  await ensureDatabase(infra.databaseUrl);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-chat-bench-'));
  chmodSync(dir, 0o755);
  if (args['keep-logs'] !== 'true') cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  if (CPU_PROF_DIR) mkdirSync(CPU_PROF_DIR, { recursive: true });

  const wrkBin = args.tool === 'node' ? undefined : ensureDebian('wrk', 'wrk');
  if (!wrkBin && args.tool !== 'node')
    note('wrk: not installed and cannot be installed here: every column uses the Node client (client.mjs), which tops out lower.');
  const tool = wrkBin
    ? 'wrk 4 (c=32: -t2, c=1: -t1), first content chunk and ledger check with client.mjs'
    : 'client.mjs (Node, keep-alive) for every column';

  const mock = await forkScript(path.join(HERE, '../ai/mock-upstream.mjs'), [await freePort()]);
  const nginx = await startNginx(mock.port);
  const portkey = await startPortkey(mock.port, dir);
  console.log('Starting Tollgate (six services, npm start env) ...');
  const tollgate = await startTollgate(infra, mock.port, dir);
  if (Object.keys(SERVICES_ENV).length)
    note(
      `Tollgate services env overrides (--services-env): ${Object.entries(SERVICES_ENV)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')}`,
    );
  if (CPU_PROF_DIR) note(`Tollgate services run with --cpu-prof (profiles in ${CPU_PROF_DIR}): their figures are slowed by profiling.`);

  const messages = [{ role: 'user', content: 'Say hello to the benchmark.' }];
  const rows = [
    {
      key: 'direct',
      name: 'upstream direct (mock)',
      url: `http://127.0.0.1:${mock.port}/v1/chat/completions`,
      headers: {},
      body: { model: 'mock', messages },
      pids: () => [mock.pid],
    },
    ...(nginx
      ? [
          {
            key: 'nginx',
            name: `nginx ${nginx.version.replace('nginx/', '')} (1 worker, keepalive upstream)`,
            url: `http://127.0.0.1:${nginx.port}/v1/chat/completions`,
            headers: {},
            body: { model: 'mock', messages },
            pids: nginx.pids,
          },
        ]
      : []),
    ...(portkey
      ? [
          {
            key: 'portkey',
            name: `Portkey gateway ${portkey.version} (npm, no auth, no billing)`,
            url: `http://127.0.0.1:${portkey.port}/v1/chat/completions`,
            headers: {
              'x-portkey-provider': 'openai',
              'x-portkey-custom-host': `http://127.0.0.1:${mock.port}/v1`,
              authorization: 'Bearer x',
            },
            body: { model: 'mock', messages },
            pids: portkey.pids,
          },
        ]
      : []),
    {
      key: 'tollgate',
      name: '**Tollgate, billed** (key auth + limits + ai-proxy + credits hold/capture)',
      url: `${tollgate.gateway}/v1/chat/completions`,
      headers: { authorization: `Bearer ${tollgate.apiKey}` },
      body: { model: 'bench', messages },
      pids: () => Object.values(tollgate.procs).map((p) => p.pid),
      hops: tollgate.procs,
    },
  ];

  console.log(
    `\nNode ${process.version}, ${os.cpus().length} CPU(s); ${tool}; per row: warm-up ${WARMUP_S} s, c=${C} for ${DURATION_S} s, c=1 for ${LATENCY_S} s, streaming c=1 for ${LATENCY_S} s\n`,
  );
  const answered = { wrk200: 0, client200: 0 };
  const results = [];
  for (const row of rows) {
    const target = { url: row.url, headers: row.headers, body: row.body };
    const count = (r) => {
      if (row.key === 'tollgate')
        answered.client200 +=
          (r.statuses['200'] ?? 0) + (r.statuses['no-content'] ?? 0) + (r.statuses['no-done'] ?? 0) + (r.warmup_statuses?.['200'] ?? 0);
      return r;
    };
    /** The measured run; `cpu` samples the contender's processes around it (not its warm-up). */
    const drive = async (c, seconds, warm, cpu) => {
      let before;
      const sample = () => ({
        all: cpuMs(row.pids()),
        hops: row.hops ? Object.fromEntries(Object.entries(row.hops).map(([n, p]) => [n, cpuMs([p.pid])])) : undefined,
      });
      let r;
      if (wrkBin) {
        if (warm) {
          const w = await wrk(wrkBin, dir, c, warm, target);
          if (row.key === 'tollgate') answered.wrk200 += w.ok;
        }
        if (cpu) before = sample();
        r = await wrk(wrkBin, dir, c, seconds, target);
        if (row.key === 'tollgate') answered.wrk200 += r.ok;
      } else {
        if (warm) count(await client({ ...target, concurrency: c, durationMs: warm * 1000 }));
        if (cpu) before = sample();
        r = count(await client({ ...target, concurrency: c, durationMs: seconds * 1000 }));
      }
      if (cpu) {
        const after = sample();
        // CPU of the contender's own processes per answer over the measured run (/proc utime+stime).
        r.cpu_ms_per_request = (after.all - before.all) / Math.max(1, r.ok);
        if (after.hops)
          r.hops_cpu_ms_per_request = Object.fromEntries(
            Object.entries(after.hops).map(([n, ms]) => [n, (ms - before.hops[n]) / Math.max(1, r.ok)]),
          );
      }
      return r;
    };
    // JIT, connection pools, key and route caches: a bounded number of calls of each kind first.
    process.stdout.write(`${row.name.replace(/\*/g, '')}: warm-up ... `);
    count(await client({ ...target, concurrency: 8, requests: PREWARM, durationMs: PREWARM_MAX_S * 1000 }));
    count(await client({ ...target, concurrency: 1, requests: Math.round(PREWARM / 10), durationMs: 2_000, stream: true }));
    process.stdout.write(`c=${C} ... `);
    const throughput = await drive(C, DURATION_S, WARMUP_S, true);
    process.stdout.write(`${fmt(throughput.rps)} req/s; c=1 ... `);
    const latency = await drive(1, LATENCY_S, WARMUP_S ? 1 : 0, false);
    process.stdout.write(`p50 ${fmt(latency.p50_ms, 2)} ms, p99 ${fmt(latency.p99_ms, 2)} ms; stream ... `);
    const stream = count(await client({ ...target, stream: true, concurrency: 1, durationMs: LATENCY_S * 1000 }));
    const streamOk = (stream.statuses['200'] ?? 0) > 0;
    const streamFailures = Object.entries(stream.statuses).filter(([s]) => s !== '200');
    console.log(
      streamOk
        ? `first content chunk p50 ${fmt(stream.first_content_p50_ms, 2)} ms${streamFailures.length ? ` (failures ${JSON.stringify(Object.fromEntries(streamFailures))})` : ''}`
        : `streaming failed: ${JSON.stringify(stream.statuses)}`,
    );
    const non200 = Object.entries({ ...throughput.statuses, ...latency.statuses }).filter(([s]) => s !== '200');
    if (non200.length)
      note(`${row.name.replace(/\*/g, '')}: non-200 answers in the c=${C}/c=1 runs ${JSON.stringify(Object.fromEntries(non200))}`);
    results.push({ ...row, throughput, latency, stream, streamOk, streamFailures });
  }
  if (portkey) {
    const out = portkey.outbound();
    note(`Portkey outbound connection attempts over the whole run (refused): ${out.length ? [...new Set(out)].join(', ') : 'none'}`);
    const pk = results.find((r) => r.key === 'portkey');
    if (pk && !pk.streamOk) note(`Portkey streaming: ${JSON.stringify(pk.stream.statuses)}; its log: ${portkey.logTail() || '(nothing)'}`);
  }

  // ---- the ledger against the answers
  console.log('\nLedger check ...');
  const tg = results.find((r) => r.key === 'tollgate');
  const whole0 = await settledLedger(tollgate, infra);
  // An exact window: a bounded burst whose every request is waited for, between two settled reads.
  const burst = await client({ url: tg.url, headers: tg.headers, body: tg.body, concurrency: C, requests: BILLING_BURST });
  const streamBurst = await client({
    url: tg.url,
    headers: tg.headers,
    body: tg.body,
    concurrency: 8,
    requests: Math.round(BILLING_BURST / 3),
    stream: true,
  });
  const whole1 = await settledLedger(tollgate, infra);
  const burst200 =
    (burst.statuses['200'] ?? 0) +
    (streamBurst.statuses['200'] ?? 0) +
    (streamBurst.statuses['no-content'] ?? 0) +
    (streamBurst.statuses['no-done'] ?? 0);
  const windowCharges = whole1.charges - whole0.charges;
  const windowCosts = whole1.costs - whole0.costs;
  const windowExact = windowCharges === burst200 && whole0.balance - whole1.balance === windowCosts;
  const balanceExact = whole1.balance === whole1.topUps - whole1.costs && whole1.held === 0n;
  const clientAnswers = answered.client200 + burst200;
  const allAnswers = answered.wrk200 + clientAnswers;
  const ledgerLines = [
    `Ledger, bounded window (${BILLING_BURST} calls at c=${C} + ${Math.round(BILLING_BURST / 3)} streamed at c=8, every answer awaited): ${burst200} answers 200 → ${windowCharges} captures, Σ cost ${windowCosts} µcredits, balance moved by ${whole0.balance - whole1.balance}: ${windowExact ? 'exactly one capture per 200 ✓' : 'MISMATCH ✗'}`,
    `Ledger, whole run: top-up ${whole1.topUps} − Σ costs ${whole1.costs} = ${whole1.topUps - whole1.costs}; balance ${whole1.balance}, held ${whole1.held}: ${balanceExact ? 'balance = top-up − Σ costs, nothing left held ✓' : 'MISMATCH ✗'}; holds by status ${JSON.stringify(whole1.holds)}`,
    wrkBin
      ? `Ledger, whole run: ${whole1.charges} captures for ${allAnswers} answers counted by the clients (${answered.wrk200} by wrk); a surplus up to ${C}+1 per wrk run is calls in flight when wrk stopped (answered, billed, not counted by wrk)`
      : `Ledger, whole run: ${whole1.charges} captures for ${allAnswers} answers 200: ${whole1.charges === allAnswers ? 'equal ✓' : 'MISMATCH ✗'}`,
  ];

  // ---- credits alone and pgbench
  console.log(`\nCredits alone (internal HTTP API of the same credits process, ${CREDITS_S} s each) and pgbench simple-update ...`);
  const credits = await creditsAlone(tollgate, infra, dir);

  // ---- per-hop CPU of the Tollgate c=32 run
  const hops = tg.throughput.hops_cpu_ms_per_request;
  const hopLine = hops
    ? `Tollgate CPU per billed call at c=${C} (ms, /proc utime+stime over the measured run ÷ answers): ${Object.entries(hops)
        .filter(([, ms]) => ms > 0)
        .map(([n, ms]) => `${n} ${fmt(ms, 3)}`)
        .join(', ')} (Postgres and Redis not included)`
    : undefined;

  const loadEnd = uptime();
  const direct = results.find((r) => r.key === 'direct');
  const pk = results.find((r) => r.key === 'portkey');
  const lines = [];
  lines.push('| path | req/s, c=32 | p50 / p99 at c=1 (ms) | first streamed content chunk, p50 at c=1 (ms) | CPU ms/req (own processes) |');
  lines.push('|---|---:|---:|---:|---:|');
  for (const r of results) {
    const first = r.streamOk
      ? fmt(r.stream.first_content_p50_ms, 2) +
        (r.streamFailures.length ? ` (failures: ${r.streamFailures.map(([s, n]) => `${n}× ${s}`).join(', ')})` : '')
      : `streaming failed (${Object.entries(r.stream.statuses)
          .map(([s, n]) => `${n}× ${s}`)
          .join(', ')})`;
    const bold = r.key === 'tollgate' ? '**' : '';
    lines.push(
      `| ${r.name} | ${bold}${fmt(r.throughput.rps)}${bold} | ${bold}${fmt(r.latency.p50_ms, 2)} / ${fmt(r.latency.p99_ms, 2)}${bold} | ${bold}${first}${bold} | ${fmt(r.throughput.cpu_ms_per_request, 3)} |`,
    );
  }
  const ratios = [];
  ratios.push(
    `Tollgate / Portkey req/s at c=${C}: ${pk ? `${fmt(tg.throughput.rps / pk.throughput.rps, 2)}× (target ≥ 1.0×)` : '– (no Portkey row)'}`,
  );
  if (pk)
    ratios.push(
      `Tollgate / Portkey CPU per call at c=${C} (own processes; steadier than req/s on a shared machine): ${fmt(tg.throughput.cpu_ms_per_request / pk.throughput.cpu_ms_per_request, 2)}×`,
    );
  ratios.push(
    `Tollgate added p50 over direct at c=1: ${fmt(tg.latency.p50_ms - direct.latency.p50_ms, 2)} ms (target ≤ 2 ms)${pk ? `; Portkey adds ${fmt(pk.latency.p50_ms - direct.latency.p50_ms, 2)} ms` : ''}`,
  );
  ratios.push(
    `Tollgate added first content chunk over direct at c=1: ${tg.streamOk && direct.streamOk ? `${fmt(tg.stream.first_content_p50_ms - direct.stream.first_content_p50_ms, 2)} ms (target ≤ 2 ms)` : '– (a stream failed)'}${pk?.streamOk ? `; Portkey adds ${fmt(pk.stream.first_content_p50_ms - direct.stream.first_content_p50_ms, 2)} ms` : ''}`,
  );
  const pg = credits.pgbench;
  const creditsLine =
    `Credits alone (c=1, internal HTTP API): hold p50 ${fmt(credits.hold_p50_ms, 2)} ms (p99 ${fmt(credits.hold_p99_ms, 2)}), capture p50 ${fmt(credits.capture_p50_ms, 2)} ms (p99 ${fmt(credits.capture_p99_ms, 2)}) (target ≤ 1 ms each); ` +
    `ledger ops/s ${fmt(credits.c1.ops_per_s)} at c=1, ${fmt(credits.c32.ops_per_s)} at c=${C} on one tenant` +
    (pg
      ? `; pgbench simple-update ${fmt(pg.c1)} TPS at c=1, ${fmt(pg.c32)} at c=${C}; ledger ops/s ÷ pgbench TPS = ${fmt(credits.c1.ops_per_s / pg.c1, 2)} at c=1, ${fmt(credits.c32.ops_per_s / pg.c32, 2)} at c=${C} (target ≥ 0.5)`
      : '; pgbench: skipped') +
    (credits.c1.failed + credits.c32.failed ? `; ${credits.c1.failed + credits.c32.failed} hold/capture pairs failed` : '');

  console.log(`\nload average at start: ${loadStart}`);
  console.log(`load average at end:   ${loadEnd}`);
  console.log(
    `Tollgate: npm start's env (NODE_ENV=${process.env.NODE_ENV ?? 'development'}, access logs and tracing as they default)${
      Object.keys(SERVICES_ENV).length
        ? ` + ${Object.entries(SERVICES_ENV)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}`
        : ''
    }; load: ${tool}\n`,
  );
  for (const l of lines) console.log(l);
  console.log('');
  for (const l of [...ratios, creditsLine, ...(hopLine ? [hopLine] : []), ...ledgerLines]) console.log(l);
  if (notes.length) console.log(`\nNotes:\n${notes.map((n) => `- ${n}`).join('\n')}`);

  mkdirSync(path.join(DATA_DIR, 'bench'), { recursive: true });
  const file = path.join(DATA_DIR, 'bench', `chat-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const bigints = (_k, v) => (typeof v === 'bigint' ? v.toString() : v);
  writeFileSync(
    file,
    JSON.stringify(
      {
        at: new Date().toISOString(),
        node: process.version,
        cpus: os.cpus().length,
        load: { start: loadStart, end: loadEnd },
        tool,
        services_env: SERVICES_ENV,
        results: results.map(({ pids: _p, hops: _h, headers: _hd, ...r }) => r),
        ledger: { window: { answers: burst200, charges: windowCharges, costs: windowCosts, exact: windowExact }, whole: whole1, answered },
        credits,
        notes,
        seconds: Math.round((Date.now() - startedAt) / 1000),
      },
      bigints,
      2,
    ),
  );
  console.log(
    `\nRaw figures: ${path.relative(ROOT, file)}${args['keep-logs'] === 'true' ? `; service logs in ${dir}` : ''} (${Math.round((Date.now() - startedAt) / 1000)} s)`,
  );
  if (!windowExact || !balanceExact) process.exitCode = 1;
}

/** The heaviest functions by self time in each billed-path profile (written when the services exit). */
function summariseProfiles() {
  if (!CPU_PROF_DIR) return;
  for (const name of ['edge-gateway', 'ai-proxy', 'credits']) {
    const file = path.join(CPU_PROF_DIR, `${name}-${PROF_STAMP}.cpuprofile`);
    if (!existsSync(file)) {
      console.log(`${name}: no profile written (${path.relative(ROOT, file)})`);
      continue;
    }
    const profile = JSON.parse(readFileSync(file, 'utf8'));
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const self = new Map();
    let total = 0;
    profile.samples.forEach((id, i) => {
      const dt = profile.timeDeltas[i] ?? 0;
      const { functionName, url, lineNumber } = byId.get(id).callFrame;
      if (functionName === '(idle)') return;
      total += dt;
      const where = url
        ? `${functionName || '(anonymous)'} ${url
            .replace(/^file:\/\//, '')
            .replace(`${ROOT}/`, '')
            .replace(/.*node_modules\/(\.pnpm\/[^/]+\/node_modules\/)?/, '')}:${lineNumber + 1}`
        : functionName;
      self.set(where, (self.get(where) ?? 0) + dt);
    });
    const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6);
    console.log(
      `${name} (${path.relative(ROOT, file)}; busy ${fmt(total / 1000)} ms, whole life incl. start-up), top self time: ${top.map(([w, t]) => `${w} ${fmt((t / total) * 100)}%`).join('; ')}`,
    );
  }
}

let stopping = false;
async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  // Services first (graceful, their cleanups wait for them), then the contenders, then infra.
  // Last registered first: the Tollgate services stop (gracefully) before their files go.
  for (const cleanup of cleanups.reverse())
    await Promise.resolve()
      .then(cleanup)
      .catch((err) => console.warn(`cleanup: ${err.message}`));
  try {
    summariseProfiles();
  } catch (err) {
    console.warn(`could not summarise the profiles: ${err.message}`);
  }
  for (const child of children.reverse()) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  await sleep(300);
  stopPrivateInstances();
  process.exit(code);
}

main().then(
  () => shutdown(process.exitCode ?? 0),
  (err) => {
    console.error(`chat bench failed: ${err.stack ?? err.message}`);
    void shutdown(1);
  },
);
process.on('SIGINT', () => void shutdown(130));
process.on('SIGTERM', () => void shutdown(143));
