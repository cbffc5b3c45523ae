#!/usr/bin/env node
// A/B benchmark of common's createService stack: each given copy of packages/common/dist serves
// one small JSON route; the copies are measured in interleaved rounds (A B A B ...) with the
// gateway bench's load generator at c=32, reporting req/s and the server's CPU µs per request.
//
//   node scripts/bench/stack/run.mjs --rounds=4 --duration=4 /tmp/common-before packages/common/dist
import { fork, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureNode } from '../../lib/node.mjs';

await ensureNode(); // Node 24 or later, else re-run under the pinned Node 24 (scripts/lib/node.mjs)

const HERE = path.dirname(fileURLToPath(import.meta.url));
const flags = Object.fromEntries(process.argv.slice(2).filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')));
const dists = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const ROUNDS = Number(flags.rounds ?? 4);
const DURATION_MS = Number(flags.duration ?? 4) * 1000;
const TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const cpuMs = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / TICKS;
};

const servers = [];
for (const dist of dists) {
  const child = fork(path.join(HERE, 'server.mjs'), [dist, '0'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m.port));
    child.once('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  servers.push({ dist, child, port, rps: [], cpu: [] });
}
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of servers) {
      const before = cpuMs(s.child.pid);
      const out = spawnSync(process.execPath, [path.join(HERE, '../gateway/load.mjs'), JSON.stringify({ url: `http://127.0.0.1:${s.port}/v1/thing`, concurrency: 32, durationMs: DURATION_MS, warmupMs: 1000, headers: {} })], { encoding: 'utf8' });
      const r = JSON.parse(out.stdout.trim().split('\n').pop());
      s.rps.push(r.rps);
      s.cpu.push(((cpuMs(s.child.pid) - before) * 1000) / r.total_requests);
      console.log(`round ${round + 1} ${s.dist}: ${Math.round(r.rps)} req/s, ${s.cpu.at(-1).toFixed(1)} µs CPU/req ${JSON.stringify(r.statuses)}`);
    }
  }
  const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  const base = servers[0];
  for (const s of servers) {
    console.log(`${s.dist}: median ${Math.round(median(s.rps))} req/s (×${(median(s.rps) / median(base.rps)).toFixed(2)}), ${median(s.cpu).toFixed(1)} µs CPU/req (×${(median(s.cpu) / median(base.cpu)).toFixed(2)})`);
  }
} finally {
  for (const s of servers) s.child.kill();
}
