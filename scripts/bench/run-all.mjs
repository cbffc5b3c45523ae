#!/usr/bin/env node
// One command for every benchmark: each service's own bench (short durations), the gateway
// pass-through comparison (direct / nginx / Node proxy / gateway), the full chat path
// (gateway → ai-proxy → credits, in scripts/bench/ai) and the billed chat path through the whole
// `npm start` mesh beside direct, nginx and Portkey's gateway (scripts/bench/chat, `--only=chat`).
// Each runs as its own process, one after the other; its printed figures are collected into
// docs/benchmarks.md with the machine it ran on.
//
//   node scripts/bench/run-all.mjs [--only=credits,gateway] [--long]   (npm run bench)
//
// --long uses each bench's own defaults instead of the short durations below.
// Markdown tables a bench prints (lines starting with `|`) are copied as they are; the other
// summary lines go in a fenced block under the bench's heading. Nothing is re-measured here.
import { spawn, execSync } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureNode } from '../lib/node.mjs';

await ensureNode(); // Node 24 or later, else re-run under the pinned Node 24 (scripts/lib/node.mjs)

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? 'true'];
  }),
);
const LONG = args.long === 'true';

/** name, script, short args, what it compares against. */
const BENCHES = [
  { name: 'credits', script: 'scripts/bench/credits/bench.mjs', short: ['--duration=3'], against: 'pgbench simple-update on the same Postgres; in-process calls' },
  { name: 'gateway', script: 'scripts/bench/gateway/run.mjs', short: ['--duration=4', '--latency-duration=2', '--warmup=1', '--rounds=1'], against: 'direct, nginx, plain Node proxy' },
  { name: 'ai (full chat path)', script: 'scripts/bench/ai/run.mjs', short: ['--duration=4', '--latency-duration=2', '--warmup=1', '--soak=5000'], against: 'direct to mock upstream; ai-proxy alone; + credits; + gateway' },
  { name: 'chat (the billed chat path vs peers)', script: 'scripts/bench/chat/run.mjs', short: ['--duration=3', '--latency-duration=2', '--warmup=1', '--credits-duration=2'], against: 'direct to the mock upstream, nginx, Portkey gateway (npm); credits alone vs pgbench' },
  { name: 'webhooks', script: 'scripts/bench/webhooks/run.mjs', short: ['--events-1=400', '--events-50=100', '--paced-seconds=2'], against: 'receiver arrival times (1 and 50 endpoints)' },
  { name: 'upload', script: 'scripts/bench/upload/bench.mjs', short: ['--size-mib=128'], against: '`cat` (and `cat`+`sync`) of the same bytes' },
  { name: 'images', script: 'scripts/bench/images/bench.mjs', short: ['--count=6', '--rounds=1'], against: 'raw sharp doing the same decode/resize/encodes' },
];
const only = args.only ? new Set(args.only.split(',')) : undefined;
const TIMEOUT_MS = Number(args['timeout-s'] ?? 600) * 1000;

function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    load: os.loadavg().map((l) => l.toFixed(2)).join(' / '),
  };
}

function run(bench) {
  return new Promise((resolve) => {
    const started = Date.now();
    const loadBefore = os.loadavg()[0];
    const argv = [path.join(ROOT, bench.script), ...(LONG ? [] : bench.short)];
    console.log(`\n=== ${bench.name}: node ${path.relative(ROOT, argv[0])} ${argv.slice(1).join(' ')}`);
    const child = spawn(process.execPath, argv, { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
      process.stdout.write(c);
    });
    child.stderr.on('data', (c) => process.stderr.write(c));
    const timer = setTimeout(() => child.kill('SIGTERM'), TIMEOUT_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ ...bench, argv: argv.slice(1), code, signal, out, seconds: Math.round((Date.now() - started) / 1000), loadBefore, loadAfter: os.loadavg()[0] });
    });
  });
}

/** The printed figures: tables as they are, other non-progress lines fenced. */
function figures(out) {
  const lines = out.split('\n').map((l) => l.replace(/\s+$/, ''));
  const tables = [];
  const text = [];
  let inJson = 0;
  for (const line of lines) {
    // Multi-line JSON dumps (upload prints its results object) are noise in a report.
    if (/^[{[]\s*$/.test(line)) inJson++;
    if (inJson) {
      if (/^[}\]],?$/.test(line)) inJson--;
      continue;
    }
    // turbo's build banner is not a figure.
    if (/^\s*(•|Tasks:|Cached:|Time:|>>>)/.test(line)) continue;
    if (line.startsWith('|')) tables.push(line);
    else if (line.trim() && !/^\{.*\}$/.test(line) && !/…$|\.\.\.$/.test(line)) text.push(line);
  }
  return { tables, text: text.slice(-40) };
}

async function main() {
  const before = machine();
  const results = [];
  for (const bench of BENCHES) {
    if (only && !only.has(bench.name.split(' ')[0])) continue;
    results.push(await run(bench));
  }
  const after = machine();
  let commit = 'unknown';
  try {
    commit = execSync('git rev-parse --short HEAD', { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout
  }

  const md = [];
  md.push('# Benchmarks', '');
  md.push(`Generated by \`npm run bench\` (scripts/bench/run-all.mjs${LONG ? ' --long' : ', short durations'}) on ${new Date().toISOString()} at commit ${commit}.`, '');
  md.push('## Machine', '');
  md.push('| | |', '|---|---|');
  md.push(`| CPU | ${before.cpu} |`, `| Cores | ${before.cores} |`, `| Memory | ${before.memoryGiB} GiB |`, `| Node | ${before.node} |`, `| OS | ${before.os} |`);
  md.push(`| Load average (1/5/15 min) at start | ${before.load} |`, `| Load average at end | ${after.load} |`, '');
  md.push(
    'The machine is shared: other engineers build, test and benchmark on it at the same time, so absolute figures move between runs. ' +
      'Each bench measures its contenders in the same run, so the ratios are the figures to trust; the 1-minute load average before and after each bench is in the summary.',
    '',
  );
  md.push('## Summary', '');
  md.push('| Bench | Compared against | Result | Seconds | Load 1m before → after | Command |', '|---|---|---|---:|---|---|');
  for (const r of results) {
    const status = r.code === 0 ? 'ok' : `failed (${r.signal ?? `exit ${r.code}`})`;
    md.push(`| ${r.name} | ${r.against} | ${status} | ${r.seconds} | ${r.loadBefore.toFixed(2)} → ${r.loadAfter.toFixed(2)} | \`node ${r.script} ${r.argv.join(' ')}\` |`);
  }
  md.push('');
  for (const r of results) {
    const { tables, text } = figures(r.out);
    md.push(`## ${r.name}`, '');
    if (tables.length) md.push(...tables, '');
    if (text.length) md.push('```', ...text, '```', '');
    if (!tables.length && !text.length) md.push('_(no output)_', '');
  }
  mkdirSync(path.join(ROOT, 'docs'), { recursive: true });
  const file = path.join(ROOT, 'docs', 'benchmarks.md');
  writeFileSync(file, md.join('\n'));
  console.log(`\nwrote ${path.relative(ROOT, file)}`);
  process.exit(results.every((r) => r.code === 0) ? 0 : 1);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
