#!/usr/bin/env node
// `npm start`: install what is missing, build, find Postgres and Redis, create the database,
// start all six services (each runs its migrations under a lock), wait until every /readyz
// answers, then print how to call the gateway. Ctrl-C stops everything gracefully.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { DATA_DIR, ensureInfra, stopPrivateInstances } from './lib/infra.mjs';
import { ensureInstalled, pnpm, ROOT } from './lib/pnpm.mjs';
import { localSecret } from './lib/secrets.mjs';
import { describeNode, ensureNode } from './lib/node.mjs';

await ensureNode(); // Node 24 or later, else re-run under the pinned Node 24 (scripts/lib/node.mjs)

export const SERVICES = [
  { name: 'credits', port: 8082, env: 'CREDITS_URL' },
  { name: 'ai-proxy', port: 8081, env: 'AI_PROXY_URL' },
  { name: 'upload', port: 8083, env: 'UPLOAD_URL' },
  { name: 'image-pipeline', port: 8084, env: 'IMAGE_PIPELINE_URL' },
  { name: 'webhook', port: 8085, env: 'WEBHOOK_URL' },
  { name: 'edge-gateway', port: 8080, env: 'GATEWAY_URL' },
];

const COLORS = [36, 33, 35, 32, 34, 31];

async function waitReady(url, timeoutMs) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return true;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

async function main() {
  const migrateOnly = process.argv.includes('--migrate-only');
  console.log(`Using ${describeNode()}.`);
  ensureInstalled();
  pnpm(['exec', 'turbo', 'run', 'build', '--output-logs=errors-only']);

  const infra = await ensureInfra({
    databaseUrl: process.env.DATABASE_URL ?? 'postgres://localhost:5432/tollgate',
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  });
  const require = createRequire(path.join(ROOT, 'packages/common/package.json'));
  const { ensureDatabase } = require('./dist/db/index.js');
  try {
    if (await ensureDatabase(infra.databaseUrl)) console.log('Created the database.');
  } catch (err) {
    console.error(`Cannot create the database at ${infra.databaseUrl.replace(/:[^:@/]+@/, ':***@')}: ${err.message}`);
    process.exit(1);
  }

  const admin = localSecret('ADMIN_TOKEN', 'admin-token', () => `tgadmin_${randomBytes(24).toString('base64url')}`);
  const internal = localSecret('INTERNAL_JWT_SECRET', 'internal-jwt-secret', () => randomBytes(48).toString('base64url'));
  const host = process.env.TOLLGATE_HOST ?? '127.0.0.1';
  const env = {
    ...process.env,
    NODE_ENV: process.env.NODE_ENV ?? 'development',
    DATABASE_URL: infra.databaseUrl,
    REDIS_URL: infra.redisUrl,
    ADMIN_TOKEN: admin.value,
    INTERNAL_JWT_SECRET: internal.value,
    LOG_PRETTY: process.env.LOG_PRETTY ?? (process.stdout.isTTY ? 'true' : 'false'),
    DATA_DIR: process.env.DATA_DIR ?? path.join(DATA_DIR, 'files'),
    WEBHOOK_ALLOW_PRIVATE_TARGETS: process.env.WEBHOOK_ALLOW_PRIVATE_TARGETS ?? 'true',
  };
  for (const s of SERVICES) env[s.env] ??= `http://${host}:${s.port}`;

  const children = [];
  let stopping = false;
  const width = Math.max(...SERVICES.map((s) => s.name.length));
  SERVICES.forEach((s, i) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'services', s.name, 'dist/main.js')], {
      cwd: path.join(ROOT, 'services', s.name),
      env: { ...env, PORT: String(s.port), HOST: host },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const label = process.stdout.isTTY ? `\x1b[${COLORS[i % COLORS.length]}m${s.name.padEnd(width)}\x1b[0m |` : `${s.name.padEnd(width)} |`;
    for (const stream of [child.stdout, child.stderr]) {
      let buffered = '';
      stream.on('data', (chunk) => {
        buffered += chunk.toString('utf8');
        const lines = buffered.split('\n');
        buffered = lines.pop();
        for (const line of lines) process.stdout.write(`${label} ${line}\n`);
      });
    }
    child.on('exit', (code, signal) => {
      process.stdout.write(`${label} exited (${signal ?? code})\n`);
      if (!stopping) shutdown(1);
    });
    children.push({ ...s, child });
  });

  function shutdown(code = 0) {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping Tollgate...');
    for (const { child } of children) if (child.exitCode === null) child.kill('SIGTERM');
    const force = setTimeout(() => {
      for (const { child } of children) if (child.exitCode === null) child.kill('SIGKILL');
    }, 30_000);
    Promise.all(children.map(({ child }) => (child.exitCode !== null ? null : new Promise((r) => child.once('exit', r))))).then(() => {
      clearTimeout(force);
      stopPrivateInstances();
      process.exit(code);
    });
  }
  process.on('SIGINT', () => shutdown(0));
  process.on('SIGTERM', () => shutdown(0));

  const results = await Promise.all(children.map(async (c) => [c.name, await waitReady(`http://${host}:${c.port}`, 60_000)]));
  const notReady = results.filter(([, ok]) => !ok).map(([n]) => n);
  if (notReady.length) {
    console.error(`Not ready after 60 s: ${notReady.join(', ')}. See the log lines above.`);
    shutdown(1);
    return;
  }
  if (migrateOnly) {
    console.log('Migrations are applied.');
    shutdown(0);
    return;
  }
  const gateway = `http://${host}:8080`;
  const json = `-H 'Content-Type: application/json'`;
  const pick = (field) => `node -pe 'JSON.parse(require("fs").readFileSync(0)).${field}'`;
  console.log(`
Tollgate is ready.
  Gateway:      ${gateway}   (API docs: ${gateway}/docs)
  Console:      ${gateway}/console/   (sign in with the admin token, or a tenant's API key)
  Node:         ${process.version}
  Admin token:  ${admin.source === 'created' ? admin.value : admin.source === 'env' ? '(from ADMIN_TOKEN)' : '(in .data/admin-token)'}
  Try it (a tenant, an API key, some credits, a chat completion on the built-in mock model):
    GW=${gateway}; ADMIN=${admin.source === 'env' ? '$ADMIN_TOKEN' : '$(cat .data/admin-token)'}
    TENANT=$(curl -s -X POST $GW/v1/admin/tenants -H "Authorization: Bearer $ADMIN" ${json} -d '{"name":"acme"}' | ${pick('id')})
    KEY=$(curl -s -X POST $GW/v1/admin/tenants/$TENANT/keys -H "Authorization: Bearer $ADMIN" ${json} -d '{}' | ${pick('key')})
    curl -s -X POST $GW/v1/admin/tenants/$TENANT/credits -H "Authorization: Bearer $ADMIN" ${json} -d '{"amount":10000000,"reason":"trial"}'
    curl -s $GW/v1/chat/completions -H "Authorization: Bearer $KEY" ${json} -d '{"model":"mock-1","messages":[{"role":"user","content":"Hello"}]}'
    curl -s $GW/v1/credits/balance -H "Authorization: Bearer $KEY"
    curl -s "$GW/v1/usage?group_by=model" -H "Authorization: Bearer $KEY"
Press Ctrl-C to stop.
`);
}

main().catch((err) => {
  console.error(`npm start failed: ${err.message}`);
  process.exit(1);
});
