// Closed-loop load generator for POST /v1/chat/completions: `concurrency` workers on keep-alive
// connections, each sending its next request once the previous answer was read. Records the
// whole-response latency and the time to the first body byte (TTFB: for streams, the first
// chunk). Stops after `durationMs` or `requests` answers. Prints one JSON line.
import http from 'node:http';

const { url, concurrency, durationMs, warmupMs, requests: maxRequests, headers, body } = JSON.parse(process.argv[2]);
const target = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const payload = Buffer.from(JSON.stringify(body));

function once() {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    let firstByte;
    const req = http.request(
      { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers: { ...headers, 'content-type': 'application/json', 'content-length': payload.length } },
      (res) => {
        res.on('data', () => {
          firstByte ??= process.hrtime.bigint();
        });
        res.on('end', () => resolve({ status: res.statusCode, ns: Number(process.hrtime.bigint() - started), ttfbNs: Number((firstByte ?? process.hrtime.bigint()) - started) }));
      },
    );
    req.on('error', () => resolve({ status: 0, ns: Number(process.hrtime.bigint() - started), ttfbNs: 0 }));
    req.end(payload);
  });
}

async function run(ms, record, limit = Infinity) {
  const deadline = Date.now() + ms;
  const latencies = [];
  const ttfbs = [];
  const statuses = {};
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline && done < limit) {
        done++;
        const { status, ns, ttfbNs } = await once();
        if (record) {
          latencies.push(ns);
          ttfbs.push(ttfbNs);
          statuses[status] = (statuses[status] ?? 0) + 1;
        }
      }
    }),
  );
  return { latencies, ttfbs, statuses };
}

if (warmupMs) await run(warmupMs, false);
const started = process.hrtime.bigint();
const { latencies, ttfbs, statuses } = await run(durationMs ?? 3_600_000, true, maxRequests ?? Infinity);
const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
const pct = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] / 1e6;
};
process.stdout.write(
  `${JSON.stringify({ requests: latencies.length, rps: latencies.length / elapsedS, p50_ms: pct(latencies, 50), p99_ms: pct(latencies, 99), ttfb_p50_ms: pct(ttfbs, 50), ttfb_p99_ms: pct(ttfbs, 99), statuses })}\n`,
);
agent.destroy();
