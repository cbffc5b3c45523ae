#!/usr/bin/env node
// Webhook delivery benchmark: deliveries per second to a local receiver and event-to-2xx
// latency (p50/p99) with 1 and 50 endpoints, through the real service process
// (services/webhook/dist/main.js: API + workers), real Postgres, Redis and BullMQ.
//
//   node scripts/bench/webhooks/run.mjs [--events-1=2000] [--events-50=200] [--paced-seconds=5] [--only=burst-1,paced-50] [--no-build] [--cpu-prof]
//
// Burst scenarios publish every event at once and time the drain (throughput; latency then
// includes queueing behind the burst). Paced scenarios publish at a fixed rate below capacity
// (latency of a service that keeps up). Results go to stdout and .data/bench-webhooks.json.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { DATA_DIR, ensureInfra, stopPrivateInstances } from '../../lib/infra.mjs';
import { pnpm, ROOT } from '../../lib/pnpm.mjs';
import { ensureNode } from '../../lib/node.mjs';

await ensureNode(); // Node 24 or later, else re-run under the pinned Node 24 (scripts/lib/node.mjs)

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? 'true'];
  }),
);
const EVENTS_1 = Number(args['events-1'] ?? 2000);
const EVENTS_50 = Number(args['events-50'] ?? 200);
const PACED_SECONDS = Number(args['paced-seconds'] ?? 5);
const PACED_RATE_1 = Number(args['paced-rate-1'] ?? 100); // events/s to 1 endpoint
const PACED_RATE_50 = Number(args['paced-rate-50'] ?? 10); // events/s fanned out to 50 endpoints

const SERVICE_DIR = path.join(ROOT, 'services/webhook');
const require = createRequire(path.join(SERVICE_DIR, 'package.json'));

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** A local endpoint that answers 200 at once and notes when each delivery arrived. */
function startReceiver() {
  const arrivals = new Map(); // scenario → [{id, at}]
  const samples = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      const scenario = req.url.split('/')[2];
      if (!arrivals.has(scenario)) arrivals.set(scenario, []);
      arrivals.get(scenario).push({ id: req.headers['webhook-id'], path: req.url, at });
      // Keep a few deliveries to verify their signatures after the run.
      if (samples.length < 50 && Math.random() < 0.02)
        samples.push({ path: req.url, headers: { ...req.headers }, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  server.keepAliveTimeout = 30_000;
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, arrivals, samples, url: `http://127.0.0.1:${server.address().port}` })),
  );
}

/** Starts the service (API and workers in one process) and resolves its port from its log. */
function startService(env) {
  // --cpu-prof writes a V8 profile of the service to .data/ (open it in Chrome DevTools).
  const profile = args['cpu-prof'] === 'true' ? ['--cpu-prof', `--cpu-prof-dir=${DATA_DIR}`] : [];
  const child = spawn(process.execPath, [...profile, path.join(SERVICE_DIR, 'dist/main.js')], {
    cwd: SERVICE_DIR,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the webhook service did not start:\n${output.slice(-2000)}`)), 30_000);
    const onData = (d) => {
      output += d.toString();
      for (const line of output.split('\n')) {
        if (!line.includes('"listening"')) continue;
        try {
          const { port } = JSON.parse(line);
          clearTimeout(timer);
          resolve({ child, port, log: () => output });
          return;
        } catch {
          // partial line
        }
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d) => (output += d.toString()));
    child.once('exit', (code) => reject(new Error(`the webhook service exited (${code}):\n${output.slice(-2000)}`)));
  });
}

async function main() {
  if (args['no-build'] !== 'true') pnpm(['exec', 'turbo', 'run', 'build', '--filter=@tollgate/webhook', '--output-logs=errors-only']);
  const infra = await ensureInfra({
    databaseUrl: (process.env.DATABASE_URL ?? 'postgres://localhost:5432/tollgate').replace(/\/[^/]*$/, '/tollgate_bench'),
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  });
  const common = require('@tollgate/common');
  const { Webhook } = require('standardwebhooks');
  await common.ensureDatabase(infra.databaseUrl);

  const suffix = randomBytes(4).toString('hex');
  const schema = `bench_webhooks_${suffix}`;
  const prefix = `bench:webhooks:${suffix}`;
  const secret = randomBytes(32).toString('base64url');
  const receiver = await startReceiver();
  const service = await startService({
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    OTEL_SDK_DISABLED: 'true',
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    PORT: '0',
    DATABASE_URL: infra.databaseUrl,
    DB_SCHEMA: schema,
    REDIS_URL: infra.redisUrl,
    REDIS_PREFIX: prefix,
    INTERNAL_JWT_SECRET: secret,
    WEBHOOK_SECRETS_KEY: randomBytes(32).toString('base64url'),
    WEBHOOK_ALLOW_PRIVATE_TARGETS: '127.0.0.1/32',
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_MAX_ENDPOINTS_PER_TENANT: '100',
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('WEBHOOK_') || k === 'DATABASE_POOL_MAX')),
  });
  const api = `http://127.0.0.1:${service.port}`;
  const queueRedis = common.createRedis(infra.redisUrl, 'queue');
  const publisher = common.createEventPublisher({ connection: queueRedis, prefix });
  const results = [];
  const secrets = new Map(); // path → secret

  async function createEndpoints(tenant, scenario, count) {
    const headers = {
      'content-type': 'application/json',
      'x-tollgate-identity': common.signIdentity({ tenantId: tenant, keyId: 'bench', scopes: ['write'] }, secret, 600),
    };
    for (let i = 0; i < count; i++) {
      const url = `${receiver.url}/s/${scenario}/${i}`;
      const res = await fetch(`${api}/v1/webhooks/endpoints`, { method: 'POST', headers, body: JSON.stringify({ url }) });
      if (res.status !== 201) throw new Error(`creating an endpoint failed: ${res.status} ${await res.text()}`);
      secrets.set(`/s/${scenario}/${i}`, (await res.json()).secret);
    }
  }

  async function waitForDeliveries(scenario, expected, timeoutMs) {
    const until = Date.now() + timeoutMs;
    while ((receiver.arrivals.get(scenario)?.length ?? 0) < expected) {
      if (Date.now() > until)
        throw new Error(
          `${scenario}: only ${receiver.arrivals.get(scenario)?.length ?? 0} of ${expected} deliveries arrived in ${timeoutMs} ms`,
        );
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  function summarise(scenario, endpoints, events, createdAt, startedAt) {
    const arrivals = receiver.arrivals.get(scenario) ?? [];
    const latencies = arrivals.map((a) => a.at - createdAt.get(a.id)).sort((a, b) => a - b);
    const drainedAt = Math.max(...arrivals.map((a) => a.at));
    const seconds = (drainedAt - startedAt) / 1000;
    const row = {
      scenario,
      endpoints,
      events,
      deliveries: arrivals.length,
      seconds: Number(seconds.toFixed(2)),
      deliveries_per_s: Math.round(arrivals.length / seconds),
      latency_p50_ms: percentile(latencies, 50),
      latency_p99_ms: percentile(latencies, 99),
      latency_max_ms: latencies[latencies.length - 1],
    };
    results.push(row);
    console.log(JSON.stringify(row));
  }

  async function burst(scenario, endpoints, events) {
    const tenant = `bench_${scenario}`;
    await createEndpoints(tenant, scenario, endpoints);
    const createdAt = new Map();
    const startedAt = Date.now();
    for (let i = 0; i < events; i += 200) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(200, events - i) }, (_, j) =>
          publisher.publish({ type: 'image.approved', tenant_id: tenant, data: { n: i + j } }),
        ),
      );
      for (const e of batch) createdAt.set(e.id, Date.parse(e.created_at));
    }
    await waitForDeliveries(scenario, events * endpoints, 300_000);
    summarise(scenario, endpoints, events, createdAt, startedAt);
  }

  async function paced(scenario, endpoints, rate, seconds) {
    const tenant = `bench_${scenario}`;
    await createEndpoints(tenant, scenario, endpoints);
    const createdAt = new Map();
    const total = rate * seconds;
    const startedAt = Date.now();
    for (let i = 0; i < total; i++) {
      const due = startedAt + (i * 1000) / rate;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const e = await publisher.publish({ type: 'credits.topped_up', tenant_id: tenant, data: { n: i } });
      createdAt.set(e.id, Date.parse(e.created_at));
    }
    await waitForDeliveries(scenario, total * endpoints, 120_000);
    summarise(scenario, endpoints, total, createdAt, startedAt);
  }

  try {
    // Warm-up: connections, JIT, prepared pools.
    await burst('warmup', 1, 200);
    results.length = 0;
    const only = args['only'] ? new Set(args['only'].split(',')) : undefined;
    const run = (name) => !only || only.has(name);
    if (run('burst-1')) await burst('burst-1', 1, EVENTS_1);
    if (run('burst-50')) await burst('burst-50', 50, EVENTS_50);
    if (run('paced-1')) await paced('paced-1', 1, PACED_RATE_1, PACED_SECONDS);
    if (run('paced-50')) await paced('paced-50', 50, PACED_RATE_50, PACED_SECONDS);

    // Every sampled delivery must verify with the independent Standard Webhooks library.
    for (const s of receiver.samples) new Webhook(secrets.get(s.path)).verify(s.body, s.headers);
    // The same event reaches each of 50 endpoints once: a duplicate is the same event at the same endpoint twice.
    const duplicates = [...receiver.arrivals.values()].reduce(
      (n, list) => n + (list.length - new Set(list.map((a) => `${a.path} ${a.id}`)).size),
      0,
    );

    const report = {
      at: new Date().toISOString(),
      node: process.version,
      cpus: (await import('node:os')).cpus().length,
      settings: {
        delivery_concurrency: Number(process.env.WEBHOOK_DELIVERY_CONCURRENCY ?? 50),
        endpoint_max_in_flight: Number(process.env.WEBHOOK_ENDPOINT_MAX_IN_FLIGHT ?? 10),
        database_pool_max: Number(process.env.DATABASE_POOL_MAX ?? 20),
      },
      verified_samples: receiver.samples.length,
      duplicates_seen: duplicates,
      results,
    };
    mkdirSync(DATA_DIR, { recursive: true });
    writeFileSync(path.join(DATA_DIR, 'bench-webhooks.json'), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(path.join(DATA_DIR, 'bench-webhooks-service.log'), service.log());
    console.log('\nscenario   endpoints  events  deliveries  deliveries/s  p50 ms  p99 ms');
    for (const r of results) {
      console.log(
        `${r.scenario.padEnd(10)} ${String(r.endpoints).padStart(9)} ${String(r.events).padStart(7)} ${String(r.deliveries).padStart(11)} ${String(r.deliveries_per_s).padStart(13)} ${String(r.latency_p50_ms).padStart(7)} ${String(r.latency_p99_ms).padStart(7)}`,
      );
    }
    console.log(`\n${receiver.samples.length} sampled deliveries verified with standardwebhooks; duplicates seen: ${duplicates}`);
  } finally {
    await publisher.close();
    service.child.kill('SIGTERM');
    await new Promise((r) => service.child.once('exit', r));
    receiver.server.close();
    receiver.server.closeAllConnections();
    const redis = common.createRedis(infra.redisUrl, 'request');
    await common.deleteByPrefix(redis, prefix);
    redis.disconnect();
    await queueRedis.quit();
    const db = common.createDb({ connectionString: infra.databaseUrl, schema: 'public' });
    const { sql } = require('kysely');
    await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(db);
    await db.destroy();
    stopPrivateInstances();
  }
}

main().catch((err) => {
  console.error(`webhook bench failed: ${err.stack ?? err.message}`);
  process.exit(1);
});
