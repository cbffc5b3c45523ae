#!/usr/bin/env node
// AI proxy benchmark (issue "AI proxy", docs/architecture.md "Performance budgets"). In one run, against
// the same minimal OpenAI-compatible mock upstream:
//   1. direct to the mock;
//   2. ai-proxy alone (routing → openai provider → mock; credits answered by a do-nothing stub);
//   3. ai-proxy with the real credits service (hold before, capture after every call);
//   4. the full path: edge gateway (API-key auth + Redis rate limit) → ai-proxy → real credits.
// For each: throughput at concurrency 32 (non-streaming), latency p50/p99 at concurrency 1, and
// time to first byte of a stream at concurrency 1. Then 100k requests through ai-proxy alone
// and its resident memory before, after, and at peak (VmHWM).
//
//   node scripts/bench/ai/run.mjs [--duration=10] [--latency-duration=5] [--warmup=2] [--soak=100000] [--no-full] [--cpu-prof=<dir>]
//
// --cpu-prof writes a V8 CPU profile of each service process (ai-proxy, credits, gateway) to
// <dir> when it exits; profiling slows them, so those figures are only for finding hot spots.
//
// Needs Postgres and Redis (started privately if none answers, like `npm test`).
import { fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
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
const SOAK = Number(args.soak ?? 100_000);
const FULL = args['no-full'] !== 'true';
const CPU_PROF_DIR = args['cpu-prof'] ? path.resolve(args['cpu-prof']) : undefined;

const children = [];
const cleanups = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const common = createRequire(path.join(ROOT, 'packages/common/package.json'));

async function waitFor(url, headers = {}, timeoutMs = 60_000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(2_000) });
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await sleep(200);
  }
  throw new Error(`${url} did not come up`);
}

function forkScript(file, argv) {
  const child = fork(path.join(HERE, file), argv.map(String), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ port: m.port, pid: child.pid }));
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code}`)));
  });
}

/** Starts a built service with its own schema and Redis prefix, removed again at the end. */
async function startService(name, infra, extraEnv) {
  const port = await freePort();
  const suffix = randomBytes(4).toString('hex');
  const schema = `bench_${name.replace(/-/g, '_')}_${suffix}`;
  const prefix = `bench:${name}:${suffix}`;
  const env = {
    ...process.env,
    NODE_ENV: 'production',
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    ACCESS_LOG: 'false',
    OTEL_SDK_DISABLED: 'true',
    DATABASE_URL: infra.databaseUrl,
    REDIS_URL: infra.redisUrl,
    DB_SCHEMA: schema,
    REDIS_PREFIX: prefix,
    ...extraEnv,
  };
  const child = spawn(process.execPath, [...(CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`, `--cpu-prof-name=${name}-${port}.cpuprofile`] : []), path.join(ROOT, 'services', name, 'dist/main.js')], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  children.push(child);
  cleanups.push(async () => {
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
  await waitFor(`${base}/readyz`);
  return { base, pid: child.pid };
}

function load(options) {
  const out = spawnSync(process.execPath, [path.join(HERE, 'load.mjs'), JSON.stringify(options)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (out.status !== 0) throw new Error(`load generator failed: ${out.stderr}`);
  return JSON.parse(out.stdout.trim().split('\n').pop());
}

function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { rss_mb: kb('VmRSS') / 1024, peak_rss_mb: kb('VmHWM') / 1024 };
}

const fmt = (n, digits = 0) => (n === undefined ? '-' : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }));

async function main() {
  const infra = await ensureInfra({
    databaseUrl: process.env.DATABASE_URL ?? 'postgres://localhost:5432/tollgate',
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  });
  console.log('Building ai-proxy, credits and the gateway ...');
  pnpm(['exec', 'turbo', 'run', 'build', '--filter=@tollgate/ai-proxy', '--filter=@tollgate/credits', '--filter=@tollgate/edge-gateway', '--output-logs=errors-only']);
  const { ensureDatabase } = common('./dist/db/index.js');
  await ensureDatabase(infra.databaseUrl);
  const { signIdentity } = common('./dist/identity.js');

  const secret = randomBytes(32).toString('hex');
  const tenant = `bench_${randomBytes(4).toString('hex')}`;
  const identity = { 'x-tollgate-identity': signIdentity({ tenantId: tenant, keyId: 'key_bench', scopes: ['completion'] }, secret, 3_600) };
  const admin = { 'x-tollgate-identity': signIdentity({ tenantId: 'admin', keyId: 'admin', scopes: ['admin'] }, secret, 3_600) };

  const mock = await forkScript('mock-upstream.mjs', [await freePort()]);
  const stub = await forkScript('credits-stub.mjs', [await freePort()]);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-ai-bench-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const routingFile = path.join(dir, 'routing.json');
  writeFileSync(
    routingFile,
    JSON.stringify({
      limits: { tokens_per_minute: 0 },
      models: { bench: { price: { input_per_1k: 100, output_per_1k: 200 }, max_output_tokens: 256, targets: [{ id: 'mock-upstream', provider: 'openai', model: 'mock', base_url: `http://127.0.0.1:${mock.port}/v1` }] } },
    }),
  );
  const aiEnv = { INTERNAL_JWT_SECRET: secret, ROUTING_CONFIG_PATH: routingFile };
  const aiAlone = await startService('ai-proxy', infra, { ...aiEnv, CREDITS_URL: `http://127.0.0.1:${stub.port}` });

  let credits;
  let aiBilled;
  let gateway;
  if (FULL) {
    credits = await startService('credits', infra, { INTERNAL_JWT_SECRET: secret, LOW_BALANCE_THRESHOLD: '0' });
    aiBilled = await startService('ai-proxy', infra, { ...aiEnv, CREDITS_URL: credits.base });
    const topUp = await fetch(`${credits.base}/v1/admin/tenants/${tenant}/credits`, { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify({ amount: 1_000_000_000_000, reason: 'bench' }) });
    if (topUp.status !== 201) throw new Error(`top-up failed: ${topUp.status} ${await topUp.text()}`);
    const adminToken = randomBytes(24).toString('hex');
    gateway = await startService('edge-gateway', infra, {
      INTERNAL_JWT_SECRET: secret,
      ADMIN_TOKEN: adminToken,
      AI_PROXY_URL: aiBilled.base,
      CREDITS_URL: credits.base,
      UPLOAD_URL: credits.base,
      IMAGE_PIPELINE_URL: credits.base,
      WEBHOOK_URL: credits.base,
      RATE_LIMIT_COMPLETION: '1000000000',
      RATE_LIMIT_IP: '1000000000',
    });
    const headers = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
    const t = await (await fetch(`${gateway.base}/v1/admin/tenants`, { method: 'POST', headers, body: JSON.stringify({ name: 'bench' }) })).json();
    const key = await (await fetch(`${gateway.base}/v1/admin/tenants/${t.id}/keys`, { method: 'POST', headers, body: JSON.stringify({ name: 'bench', scopes: ['completion'] }) })).json();
    if (!key.key) throw new Error(`could not create a bench key: ${JSON.stringify(key)}`);
    const gwTopUp = await fetch(`${gateway.base}/v1/admin/tenants/${t.id}/credits`, { method: 'POST', headers, body: JSON.stringify({ amount: 1_000_000_000_000, reason: 'bench' }) });
    if (gwTopUp.status !== 201) throw new Error(`top-up through the gateway failed: ${gwTopUp.status} ${await gwTopUp.text()}`);
    gateway.headers = { authorization: `Bearer ${key.key}` };
  }

  const chat = { model: 'bench', messages: [{ role: 'user', content: 'Say hello to the benchmark.' }] };
  const upstreamChat = { ...chat, model: 'mock' };
  const contenders = [
    { name: 'direct to the mock upstream', url: `http://127.0.0.1:${mock.port}/v1/chat/completions`, body: upstreamChat, headers: {} },
    { name: 'ai-proxy alone (credits stub)', url: `${aiAlone.base}/v1/chat/completions`, body: chat, headers: identity },
    ...(FULL
      ? [
          { name: 'ai-proxy + real credits (hold/capture)', url: `${aiBilled.base}/v1/chat/completions`, body: chat, headers: identity },
          { name: 'full path: gateway + auth + rate limit + ai-proxy + credits', url: `${gateway.base}/v1/chat/completions`, body: chat, headers: gateway.headers },
        ]
      : []),
  ];

  const loadBefore = os.loadavg()[0];
  console.log(`\nNode ${process.version}, ${os.cpus().length} CPU(s), load average ${loadBefore.toFixed(2)}; throughput ${DURATION_MS / 1000} s at c=32, latency and stream TTFB ${LATENCY_MS / 1000} s at c=1, warm-up ${WARMUP_MS / 1000} s each\n`);
  const results = [];
  for (const c of contenders) {
    process.stdout.write(`${c.name}: c=32 ... `);
    const throughput = load({ url: c.url, concurrency: 32, durationMs: DURATION_MS, warmupMs: WARMUP_MS, headers: c.headers, body: c.body });
    process.stdout.write(`${fmt(throughput.rps)} req/s; c=1 ... `);
    const latency = load({ url: c.url, concurrency: 1, durationMs: LATENCY_MS, warmupMs: WARMUP_MS, headers: c.headers, body: c.body });
    process.stdout.write(`p50 ${fmt(latency.p50_ms, 3)} ms, p99 ${fmt(latency.p99_ms, 3)} ms; stream ... `);
    const stream = load({ url: c.url, concurrency: 1, durationMs: LATENCY_MS, warmupMs: WARMUP_MS, headers: c.headers, body: { ...c.body, stream: true, stream_options: { include_usage: true } } });
    console.log(`TTFB p50 ${fmt(stream.ttfb_p50_ms, 3)} ms, p99 ${fmt(stream.ttfb_p99_ms, 3)} ms`);
    const non200 = Object.entries({ ...throughput.statuses, ...latency.statuses, ...stream.statuses }).filter(([s]) => s !== '200');
    if (non200.length) console.warn(`  warning: non-200 answers ${JSON.stringify(Object.fromEntries(non200))}`);
    results.push({ name: c.name, throughput, latency, stream });
  }

  console.log(`\nSoak: ${fmt(SOAK)} requests through ai-proxy alone at c=32 (half streaming) ...`);
  const before = memoryOf(aiAlone.pid);
  const soakPlain = load({ url: contenders[1].url, concurrency: 32, requests: Math.ceil(SOAK / 2), headers: identity, body: chat });
  const soakStream = load({ url: contenders[1].url, concurrency: 32, requests: Math.floor(SOAK / 2), headers: identity, body: { ...chat, stream: true } });
  const after = memoryOf(aiAlone.pid);
  const soakErrors = Object.entries({ ...soakPlain.statuses, ...soakStream.statuses }).filter(([s]) => s !== '200');

  const direct = results[0];
  const alone = results[1];
  console.log(`\nload average before ${loadBefore.toFixed(2)}, after ${os.loadavg()[0].toFixed(2)} (figures from a busy machine are noisy)\n`);
  console.log('| path | req/s @ c=32 | p50 @ c=1 (ms) | p99 @ c=1 (ms) | stream TTFB p50 (ms) | stream TTFB p99 (ms) |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of results) {
    console.log(`| ${r.name} | ${fmt(r.throughput.rps)} | ${fmt(r.latency.p50_ms, 3)} | ${fmt(r.latency.p99_ms, 3)} | ${fmt(r.stream.ttfb_p50_ms, 3)} | ${fmt(r.stream.ttfb_p99_ms, 3)} |`);
  }
  console.log(`\nai-proxy alone vs direct: ${fmt((alone.throughput.rps / direct.throughput.rps) * 100)}% of the throughput, p50 +${fmt(alone.latency.p50_ms - direct.latency.p50_ms, 3)} ms, stream TTFB p50 +${fmt(alone.stream.ttfb_p50_ms - direct.stream.ttfb_p50_ms, 3)} ms`);
  console.log(
    `ai-proxy RSS: ${fmt(before.rss_mb, 1)} MB before the soak, ${fmt(after.rss_mb, 1)} MB after ${fmt(soakPlain.requests + soakStream.requests)} requests (${fmt(soakPlain.rps)} req/s plain, ${fmt(soakStream.rps)} req/s streaming), peak ${fmt(after.peak_rss_mb, 1)} MB${soakErrors.length ? `; non-200: ${JSON.stringify(Object.fromEntries(soakErrors))}` : ''}`,
  );

  mkdirSync(path.join(DATA_DIR, 'bench'), { recursive: true });
  const file = path.join(DATA_DIR, 'bench', `ai-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), node: process.version, cpus: os.cpus().length, load_average: [loadBefore, os.loadavg()[0]], results, soak: { before, after, plain: soakPlain, stream: soakStream } }, null, 2));
  console.log(`\nRaw figures: ${path.relative(ROOT, file)}`);
}

async function shutdown(code) {
  for (const child of children.reverse()) child.kill('SIGTERM');
  await sleep(1_000);
  for (const cleanup of cleanups) await cleanup();
  stopPrivateInstances();
  process.exit(code);
}

main().then(
  () => shutdown(0),
  (err) => {
    console.error(`ai bench failed: ${err.message}`);
    void shutdown(1);
  },
);
process.on('SIGINT', () => void shutdown(130));
