#!/usr/bin/env node
// Gateway pass-through benchmark (docs/architecture.md, "Performance budgets"). In one run, against the
// same mock upstream: direct, nginx (Debian's package, started here with a temporary config),
// a plain Node proxy, and the edge gateway with API-key auth and the Redis rate limiter on.
// Throughput at concurrency 32, latency p50/p99 at concurrency 1, each as a ratio to nginx.
//
//   node scripts/bench/gateway/run.mjs [--duration=10] [--latency-duration=5] [--warmup=2] [--rounds=3] [--tracing]
//     [--only=<substring of contender names, comma-separated>] [--cpu-prof=<dir>] [--no-build]
//
// --cpu-prof writes a V8 CPU profile of each gateway process to <dir> when it exits (for
// finding where the per-request CPU goes; profiling slows the gateway, so its figures are not
// comparable to a run without it).
//
// Contenders are measured in interleaved rounds (A B C D, A B C D, ...) and each figure is the
// median over rounds, so a burst of other work on the machine does not land on one contender.
//
// Needs Postgres and Redis (started privately if none answers, like `npm test`). nginx is
// installed with apt-get when missing and we are root; otherwise the nginx row is skipped.
import { fork, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DATA_DIR, ensureInfra, freePort, stopPrivateInstances } from '../../lib/infra.mjs';
import { pnpm, ROOT } from '../../lib/pnpm.mjs';
import { ensureNode } from '../../lib/node.mjs';

await ensureNode(); // Node 24 or later, else re-run under the pinned Node 24 (scripts/lib/node.mjs)

const HERE = path.dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? 'true'];
  }),
);
const DURATION_MS = Number(args.duration ?? 10) * 1000;
const LATENCY_MS = Number(args['latency-duration'] ?? 5) * 1000;
const WARMUP_MS = Number(args.warmup ?? 2) * 1000;
const TRACING = args.tracing === 'true';
const ROUNDS = Math.max(1, Number(args.rounds ?? 3));
const PATH = '/v1/credits/balance';
const ONLY = args.only ? args.only.split(',') : undefined;
const CPU_PROF_DIR = args['cpu-prof'] ? path.resolve(args['cpu-prof']) : undefined;

const children = [];
const cleanups = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(url, init = {}, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(1000) });
      if (res.status < 500) return res;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
    await sleep(100);
  }
}

function forkScript(file, argv) {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(HERE, file), argv.map(String), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(child);
    child.once('message', (m) => resolve({ port: m.port, pid: child.pid }));
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code}`)));
  });
}

function findNginx() {
  for (const candidate of ['nginx', '/usr/sbin/nginx']) {
    if (spawnSync(candidate, ['-v'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  if (process.getuid?.() === 0 && spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0) {
    console.log('nginx is missing: installing Debian\'s nginx-light ...');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    let ok = spawnSync('apt-get', ['install', '-y', 'nginx-light'], { stdio: 'inherit', env }).status === 0;
    if (!ok) ok = spawnSync('apt-get', ['install', '-y', 'nginx'], { stdio: 'inherit', env }).status === 0;
    if (ok) return existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
  }
  return undefined;
}

async function startNginx(upstreamPort) {
  const bin = findNginx();
  if (!bin) {
    console.warn('nginx not available: its row is skipped and ratios are to the Node proxy instead.');
    return undefined;
  }
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-nginx-'));
  chmodSync(dir, 0o755);
  mkdirSync(path.join(dir, 'tmp'), { mode: 0o777 });
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  // One worker: the gateway and the Node proxy are one process each too.
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
    }
  }
}
`,
  );
  const child = spawn(bin, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'inherit', 'inherit'] });
  children.push(child);
  await waitFor(`http://127.0.0.1:${port}${PATH}`);
  const version = spawnSync(bin, ['-v'], { encoding: 'utf8' }).stderr.trim();
  return { port, version, pid: child.pid };
}

async function startGateway(upstreamPort, infra, extraEnv = {}) {
  const port = await freePort();
  const suffix = randomBytes(4).toString('hex');
  const schema = `bench_gateway_${suffix}`;
  const prefix = `bench:gw:${suffix}`;
  const adminToken = randomBytes(24).toString('hex');
  const upstream = `http://127.0.0.1:${upstreamPort}`;
  const env = {
    ...process.env,
    NODE_ENV: 'production',
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    DATABASE_URL: infra.databaseUrl,
    REDIS_URL: infra.redisUrl,
    DB_SCHEMA: schema,
    REDIS_PREFIX: prefix,
    ADMIN_TOKEN: adminToken,
    INTERNAL_JWT_SECRET: randomBytes(24).toString('hex'),
    AI_PROXY_URL: upstream,
    CREDITS_URL: upstream,
    UPLOAD_URL: upstream,
    IMAGE_PIPELINE_URL: upstream,
    WEBHOOK_URL: upstream,
    // The limiters run on every request but must not refuse any during the benchmark.
    RATE_LIMIT_READ: '1000000000',
    RATE_LIMIT_IP: '1000000000',
    ...(TRACING ? {} : { OTEL_SDK_DISABLED: 'true' }),
    ...extraEnv,
  };
  const child = spawn(process.execPath, [...(CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`] : []), path.join(ROOT, 'services/edge-gateway/dist/main.js')], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  children.push(child);
  cleanups.push(async () => {
    // The bench leaves nothing behind: its schema and its Redis keys go.
    const common = createRequire(path.join(ROOT, 'packages/common/package.json'));
    const { createDb } = common('./dist/db/index.js');
    const { sql } = common('kysely');
    const { createRedis, deleteByPrefix } = common('./dist/redis.js');
    const db = createDb({ connectionString: infra.databaseUrl, schema: 'public' });
    await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(db).catch((err) => console.warn(`could not drop ${schema}: ${err.message}`));
    await db.destroy();
    const redis = createRedis(infra.redisUrl, 'request');
    await deleteByPrefix(redis, `${prefix}:`).catch(() => undefined);
    redis.disconnect();
  });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(`${base}/healthz`, {}, 60_000);
  const headers = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
  const tenant = await (await fetch(`${base}/v1/admin/tenants`, { method: 'POST', headers, body: JSON.stringify({ name: 'bench' }) })).json();
  const key = await (await fetch(`${base}/v1/admin/tenants/${tenant.id}/keys`, { method: 'POST', headers, body: JSON.stringify({ name: 'bench', scopes: ['read'] }) })).json();
  if (!key.key) throw new Error(`could not create a bench key: ${JSON.stringify(key)}`);
  return { port, key: key.key, adminToken, pid: child.pid };
}

/** CPU time (user + system) of a process and its children, in ms, from /proc (Linux). */
function cpuMs(pids) {
  let ticks = 0;
  for (const pid of pids()) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return (ticks * 1000) / CLOCK_TICKS;
}
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const withWorkers = (pid) => () => [pid, ...spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number)];

function load(url, concurrency, durationMs, headers = {}) {
  const out = spawnSync(process.execPath, [path.join(HERE, 'load.mjs'), JSON.stringify({ url, concurrency, durationMs, warmupMs: WARMUP_MS, headers })], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (out.status !== 0) throw new Error(`load generator failed: ${out.stderr}`);
  return JSON.parse(out.stdout.trim().split('\n').pop());
}

const fmt = (n, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

async function main() {
  const infra = await ensureInfra({
    databaseUrl: process.env.DATABASE_URL ?? 'postgres://localhost:5432/tollgate',
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  });
  // --no-build: measure the dist as it is (A/B runs that swap a package's dist between runs).
  if (args['no-build'] !== 'true') console.log('Building the gateway ...');
  if (args['no-build'] !== 'true') pnpm(['exec', 'turbo', 'run', 'build', '--filter=@tollgate/edge-gateway', '--output-logs=errors-only']);
  const { ensureDatabase } = createRequire(path.join(ROOT, 'packages/common/package.json'))('./dist/db/index.js');
  await ensureDatabase(infra.databaseUrl);

  const upstream = await forkScript('upstream.mjs', [await freePort()]);
  const upstreamPort = upstream.port;
  const nginx = await startNginx(upstreamPort);
  const nodeProxy = await forkScript('node-proxy.mjs', [await freePort(), upstreamPort]);
  const gateway = await startGateway(upstreamPort, infra);
  // The same gateway with its "plugins" off: the operator token (no key lookup) and no rate
  // limiting, to show what auth + limits cost on top of the service stack (Kong's comparison).
  const bare = await startGateway(upstreamPort, infra, { RATE_LIMIT_ENABLED: 'false' });

  // `pids` is whose CPU time counts as the contender's own cost (not the mock upstream's).
  const allContenders = [
    { name: 'direct (mock upstream)', url: `http://127.0.0.1:${upstreamPort}${PATH}`, pids: () => [upstream.pid] },
    ...(nginx
      ? [{ name: `nginx ${nginx.version.replace('nginx version: nginx/', '')} (1 worker)`, url: `http://127.0.0.1:${nginx.port}${PATH}`, baseline: true, pids: withWorkers(nginx.pid) }]
      : []),
    { name: 'plain Node proxy', url: `http://127.0.0.1:${nodeProxy.port}${PATH}`, baseline: !nginx, pids: () => [nodeProxy.pid] },
    { name: 'edge gateway, auth + limits off', url: `http://127.0.0.1:${bare.port}${PATH}`, headers: { authorization: `Bearer ${bare.adminToken}` }, pids: () => [bare.pid] },
    { name: 'edge gateway (key auth + rate limit)', url: `http://127.0.0.1:${gateway.port}${PATH}`, headers: { authorization: `Bearer ${gateway.key}` }, pids: () => [gateway.pid] },
  ];

  // The baseline always runs: every ratio is to it.
  const contenders = ONLY ? allContenders.filter((c) => c.baseline || ONLY.some((o) => c.name.includes(o))) : allContenders;
  const loadBefore = os.loadavg()[0];
  console.log(`\nNode ${process.version}, ${os.cpus().length} CPU(s) (${os.cpus()[0]?.model ?? '?'}), load average ${loadBefore.toFixed(2)}; ${ROUNDS} round(s) of: throughput ${DURATION_MS / 1000} s at c=32, latency ${LATENCY_MS / 1000} s at c=1, warm-up ${WARMUP_MS / 1000} s each; tracing ${TRACING ? 'on' : 'off'}\n`);
  const samples = new Map(contenders.map((c) => [c.name, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    console.log(`round ${round}/${ROUNDS}`);
    for (const c of contenders) {
      process.stdout.write(`  ${c.name}: c=32 ... `);
      const cpuBefore = cpuMs(c.pids);
      const throughput = load(c.url, 32, DURATION_MS, c.headers);
      throughput.cpu_us_per_request = ((cpuMs(c.pids) - cpuBefore) * 1000) / throughput.total_requests;
      process.stdout.write(`${fmt(throughput.rps)} req/s (${fmt(throughput.cpu_us_per_request)} µs CPU/req); c=1 ... `);
      const latency = load(c.url, 1, LATENCY_MS, c.headers);
      console.log(`p50 ${fmt(latency.p50_ms, 3)} ms, p99 ${fmt(latency.p99_ms, 3)} ms`);
      const non200 = Object.entries({ ...throughput.statuses, ...latency.statuses }).filter(([s]) => s !== '200');
      if (non200.length) console.warn(`    warning: non-200 answers ${JSON.stringify(Object.fromEntries(non200))}`);
      samples.get(c.name).push({ throughput, latency });
    }
  }
  const median = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  };
  const results = contenders.map((c) => {
    const runs = samples.get(c.name);
    return {
      ...c,
      throughput: { rps: median(runs.map((r) => r.throughput.rps)), cpu_us_per_request: median(runs.map((r) => r.throughput.cpu_us_per_request)) },
      latency: { p50_ms: median(runs.map((r) => r.latency.p50_ms)), p99_ms: median(runs.map((r) => r.latency.p99_ms)) },
      rounds: runs,
    };
  });
  console.log(`\nload average before ${loadBefore.toFixed(2)}, after ${os.loadavg()[0].toFixed(2)} (figures from a busy machine are noisy)`);

  const base = results.find((r) => r.baseline);
  console.log(`\nMedians over ${ROUNDS} round(s); ratios to ${base.name} (throughput: higher is better; latency: lower is better)\n`);
  console.log('| contender | req/s @ c=32 | × base | p50 @ c=1 (ms) | × base | p99 @ c=1 (ms) | × base | CPU µs/req | × base |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    console.log(
      `| ${r.name} | ${fmt(r.throughput.rps)} | ${fmt(r.throughput.rps / base.throughput.rps, 2)} | ${fmt(r.latency.p50_ms, 3)} | ${fmt(r.latency.p50_ms / base.latency.p50_ms, 2)} | ${fmt(r.latency.p99_ms, 3)} | ${fmt(r.latency.p99_ms / base.latency.p99_ms, 2)} | ${fmt(r.throughput.cpu_us_per_request)} | ${fmt(r.throughput.cpu_us_per_request / base.throughput.cpu_us_per_request, 2)} |`,
    );
  }
  const node = results.find((r) => r.name === 'plain Node proxy');
  const gw = results.find((r) => r.name.startsWith('edge gateway (key auth'));
  const off = results.find((r) => r.name.startsWith('edge gateway, auth + limits off'));
  if (gw && node) {
    console.log(`\nGateway vs plain Node proxy: ${fmt((gw.throughput.rps / node.throughput.rps) * 100)}% of its throughput, p50 +${fmt(gw.latency.p50_ms - node.latency.p50_ms, 3)} ms, p99 +${fmt(gw.latency.p99_ms - node.latency.p99_ms, 3)} ms`);
  }
  if (gw && off) {
    console.log(`Auth + rate limit keep ${fmt((gw.throughput.rps / off.throughput.rps) * 100)}% of the gateway's own throughput without them (CPU per request ${fmt(off.throughput.cpu_us_per_request)} → ${fmt(gw.throughput.cpu_us_per_request)} µs)`);
  }

  mkdirSync(path.join(DATA_DIR, 'bench'), { recursive: true });
  const file = path.join(DATA_DIR, 'bench', `gateway-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), node: process.version, cpus: os.cpus().length, load_average: [loadBefore, os.loadavg()[0]], tracing: TRACING, results: results.map(({ headers: _h, pids: _p, ...r }) => r) }, null, 2));
  console.log(`\nRaw figures: ${path.relative(ROOT, file)}`);
}

async function shutdown(code) {
  for (const child of children.reverse()) child.kill('SIGTERM');
  await sleep(500);
  for (const cleanup of cleanups) await cleanup();
  stopPrivateInstances();
  process.exit(code);
}

main().then(
  () => shutdown(0),
  (err) => {
    console.error(`gateway bench failed: ${err.message}`);
    void shutdown(1);
  },
);
process.on('SIGINT', () => void shutdown(130));
