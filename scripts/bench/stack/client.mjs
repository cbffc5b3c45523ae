#!/usr/bin/env node
// A/B benchmark of common's sibling-service JSON client (callJson, what the credits client
// uses): each given copy of packages/common/dist makes POST calls with a small JSON body to the
// gateway bench's mock upstream at concurrency 32, in interleaved rounds; reports calls/s and
// the client process's CPU µs per call.
//
//   node scripts/bench/stack/client.mjs --rounds=4 --duration=3 /tmp/common-before/dist packages/common/dist
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const flags = Object.fromEntries(process.argv.slice(2).filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')));
const dists = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const ROUNDS = Number(flags.rounds ?? 4);
const DURATION_MS = Number(flags.duration ?? 3) * 1000;
const require = createRequire(path.join(process.cwd(), 'packages/common/package.json'));

const upstream = fork(path.join(HERE, '../gateway/upstream.mjs'), ['0'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const port = await new Promise((resolve) => upstream.once('message', (m) => resolve(m.port)));
const clients = dists.map((dist) => ({ dist, callJson: require(path.resolve(dist, 'clients/http-json.js')).callJson, rate: [], cpu: [] }));
const body = { tenant_id: 'ten_bench', amount: 1000, reference: 'chatcmpl_bench', metadata: { model: 'gpt-4o-mini' } };

async function run(callJson, ms) {
  const options = { baseUrl: `http://127.0.0.1:${port}`, identity: () => 'x.y.z', retries: 0 };
  const deadline = Date.now() + ms;
  let calls = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (Date.now() < deadline) {
        await callJson(options, 'POST', '/internal/v1/holds', body);
        calls++;
      }
    }),
  );
  return calls;
}

try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of clients) {
      await run(c.callJson, 500); // warm-up
      const cpuBefore = process.cpuUsage();
      const started = performance.now();
      const calls = await run(c.callJson, DURATION_MS);
      const cpu = process.cpuUsage(cpuBefore);
      c.rate.push((calls * 1000) / (performance.now() - started));
      c.cpu.push((cpu.user + cpu.system) / calls);
      console.log(`round ${round + 1} ${c.dist}: ${Math.round(c.rate.at(-1))} calls/s, ${c.cpu.at(-1).toFixed(1)} µs CPU/call`);
    }
  }
  const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  const base = clients[0];
  for (const c of clients) {
    console.log(`${c.dist}: median ${Math.round(median(c.rate))} calls/s (×${(median(c.rate) / median(base.rate)).toFixed(2)}), ${median(c.cpu).toFixed(1)} µs CPU/call (×${(median(c.cpu) / median(base.cpu)).toFixed(2)})`);
  }
} finally {
  upstream.kill();
}
