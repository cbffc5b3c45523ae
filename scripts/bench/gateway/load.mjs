// Closed-loop load generator: `concurrency` workers on keep-alive connections, each sending its
// next request as soon as the previous answer has been read. Prints one JSON line.
import http from 'node:http';

const { url, concurrency, durationMs, warmupMs, headers } = JSON.parse(process.argv[2]);
const target = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });

function once() {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const req = http.request({ host: target.hostname, port: target.port, path: target.pathname + target.search, method: 'GET', headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, ns: Number(process.hrtime.bigint() - started) }));
    });
    req.on('error', () => resolve({ status: 0, ns: Number(process.hrtime.bigint() - started) }));
    req.end();
  });
}

let sent = 0;
async function run(ms, record) {
  const deadline = Date.now() + ms;
  const latencies = [];
  const statuses = {};
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline) {
        const { status, ns } = await once();
        sent++;
        if (record) {
          latencies.push(ns);
          statuses[status] = (statuses[status] ?? 0) + 1;
        }
      }
    }),
  );
  return { latencies, statuses };
}

await run(warmupMs, false);
const started = process.hrtime.bigint();
const { latencies, statuses } = await run(durationMs, true);
const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] / 1e6;
process.stdout.write(
  `${JSON.stringify({ requests: latencies.length, total_requests: sent, rps: latencies.length / elapsedS, p50_ms: pct(50), p99_ms: pct(99), statuses })}\n`,
);
agent.destroy();
