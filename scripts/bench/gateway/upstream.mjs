// The mock upstream every contender proxies to: a small JSON answer, keep-alive, nothing else.
// Runs in its own process so it never shares an event loop with a proxy or the load generator.
import http from 'node:http';

const port = Number(process.argv[2] ?? 0);
const body = JSON.stringify({ tenant_id: 'ten_bench', available: 1000000, held: 0, currency: 'credits' });
const server = http.createServer((req, res) => {
  // Read (and drop) any request body before answering.
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => process.send?.({ port: server.address().port }));
