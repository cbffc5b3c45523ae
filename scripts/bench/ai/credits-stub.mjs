// A do-nothing stand-in for the credits service's internal holds contract, answering at once:
// it isolates the AI proxy's own cost in the "ai-proxy alone" row. The full-path row uses the
// real credits service.
import http from 'node:http';
import { randomBytes } from 'node:crypto';

const [port] = process.argv.slice(2).map(Number);
const json = (res, status, body) => {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
};
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
    const now = new Date().toISOString();
    if (req.method === 'POST' && req.url === '/internal/v1/holds') {
      return json(res, 201, { id: `hold_${randomBytes(12).toString('hex')}`, tenant_id: body.tenant_id, amount: body.amount, status: 'held', captured_amount: 0, expires_at: now, created_at: now });
    }
    const m = /^\/internal\/v1\/holds\/([^/]+)\/(capture|release)$/.exec(req.url ?? '');
    if (req.method === 'POST' && m) return json(res, 200, { id: m[1], tenant_id: 't', amount: 0, status: m[2] === 'capture' ? 'captured' : 'released', captured_amount: body.amount ?? 0, expires_at: now, created_at: now });
    if (req.url === '/healthz') return json(res, 200, { status: 'ok' });
    json(res, 404, { error: { code: 'NOT_FOUND', message: 'not found' } });
  });
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => process.send?.({ port: server.address().port }));
