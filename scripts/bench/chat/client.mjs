// Closed-loop chat client for what wrk cannot measure: the time to the first streamed *content*
// chunk (the first SSE event whose choices[0].delta.content is not empty — a role-only opening
// chunk does not count), and an exact count of answers (every request sent is waited for, so a
// ledger can be checked against it). Run as a child process with one JSON argument; prints one
// JSON line.
//
//   { url, headers, body, concurrency, durationMs | requests, warmupMs, stream }
//
// A streamed answer counts as ok when it is a 200 whose events include a content chunk and end
// with `data: [DONE]`; anything else is a failure, kept by status (and `no-content` / `no-done`).
import http from 'node:http';

const {
  url,
  headers = {},
  body,
  concurrency = 1,
  durationMs,
  requests: maxRequests,
  warmupMs = 0,
  stream = false,
} = JSON.parse(process.argv[2]);
const target = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const payload = Buffer.from(JSON.stringify({ ...body, ...(stream ? { stream: true } : {}) }));

function once() {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        agent,
        headers: { ...headers, 'content-type': 'application/json', 'content-length': payload.length },
      },
      (res) => {
        let text = '';
        let firstContent;
        let done = false;
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          if (!stream || firstContent !== undefined) {
            if (stream) text = (text + chunk).slice(-64);
            return;
          }
          text += chunk;
          // Complete events only: they end with a blank line.
          let end;
          while ((end = text.indexOf('\n\n')) !== -1) {
            const event = text.slice(0, end);
            text = text.slice(end + 2);
            for (const line of event.split('\n')) {
              if (!line.startsWith('data:')) continue;
              const data = line.slice(5).trim();
              if (data === '[DONE]') {
                done = true;
                continue;
              }
              try {
                if (JSON.parse(data).choices?.[0]?.delta?.content) firstContent ??= process.hrtime.bigint();
              } catch {
                // not JSON: not a content chunk
              }
            }
            if (firstContent !== undefined) break;
          }
        });
        res.on('end', () => {
          const ns = Number(process.hrtime.bigint() - started);
          if (!stream) return resolve({ status: String(res.statusCode), ns });
          done ||= text.includes('data: [DONE]');
          let status = String(res.statusCode);
          if (status === '200' && firstContent === undefined) status = 'no-content';
          else if (status === '200' && !done) status = 'no-done';
          resolve({ status, ns, firstNs: firstContent === undefined ? undefined : Number(firstContent - started) });
        });
        res.on('error', () => resolve({ status: 'reset', ns: Number(process.hrtime.bigint() - started) }));
      },
    );
    req.on('error', () => resolve({ status: 'error', ns: Number(process.hrtime.bigint() - started) }));
    req.end(payload);
  });
}

async function run(ms, limit) {
  const deadline = ms === undefined ? Infinity : Date.now() + ms;
  const latencies = [];
  const firsts = [];
  const statuses = {};
  let sent = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline && sent < limit) {
        sent++;
        const { status, ns, firstNs } = await once();
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (status === '200') {
          latencies.push(ns);
          if (firstNs !== undefined) firsts.push(firstNs);
        }
      }
    }),
  );
  return { latencies, firsts, statuses };
}

const pct = (values, p) => {
  if (!values.length) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] / 1e6;
};

// Warm-up answers are counted too (they are billed like any other).
const warm = warmupMs ? await run(warmupMs, Infinity) : { statuses: {} };
const started = process.hrtime.bigint();
const { latencies, firsts, statuses } = await run(durationMs, maxRequests ?? Infinity);
const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
process.stdout.write(
  `${JSON.stringify({
    requests: Object.values(statuses).reduce((a, b) => a + b, 0),
    ok: latencies.length,
    rps: latencies.length / elapsedS,
    p50_ms: pct(latencies, 50),
    p99_ms: pct(latencies, 99),
    first_content_p50_ms: pct(firsts, 50),
    first_content_p99_ms: pct(firsts, 99),
    statuses,
    warmup_statuses: warm.statuses,
  })}\n`,
);
agent.destroy();
