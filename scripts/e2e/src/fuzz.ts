/**
 * Malformed requests across every public route: broken JSON, wrong types, huge and deeply nested
 * bodies, bad headers, oversized multipart, path tricks, injection strings. Deterministic for a
 * seed, so a failure can be replayed.
 */

export interface FuzzCase {
  name: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

export interface FuzzFinding {
  case: FuzzCase;
  status: number;
  problem: string;
  body: string;
}

export interface FuzzResult {
  sent: number;
  byStatus: Record<string, number>;
  findings: FuzzFinding[];
}

/** mulberry32: small, fast, seedable. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ROUTES: { method: string; path: string; json?: boolean }[] = [
  { method: 'POST', path: '/v1/chat/completions', json: true },
  { method: 'GET', path: '/v1/models' },
  { method: 'POST', path: '/v1/embeddings', json: true },
  { method: 'POST', path: '/v1/async/chat/completions', json: true },
  { method: 'GET', path: '/v1/async/jobs/:id' },
  { method: 'GET', path: '/v1/credits/balance' },
  { method: 'GET', path: '/v1/credits/transactions' },
  { method: 'POST', path: '/v1/files' },
  { method: 'GET', path: '/v1/files' },
  { method: 'GET', path: '/v1/files/:id' },
  { method: 'GET', path: '/v1/files/:id/content' },
  { method: 'DELETE', path: '/v1/files/:id' },
  { method: 'POST', path: '/v1/uploads' },
  { method: 'PATCH', path: '/v1/uploads/:id' },
  { method: 'HEAD', path: '/v1/uploads/:id' },
  { method: 'POST', path: '/v1/images/generations', json: true },
  { method: 'POST', path: '/v1/images/ingest', json: true },
  { method: 'GET', path: '/v1/images' },
  { method: 'GET', path: '/v1/images/:id' },
  { method: 'GET', path: '/v1/images/:id/content' },
  { method: 'POST', path: '/v1/images/:id/approve', json: true },
  { method: 'POST', path: '/v1/images/:id/reject', json: true },
  { method: 'POST', path: '/v1/images/:id/publish', json: true },
  { method: 'POST', path: '/v1/images/batch/approve', json: true },
  { method: 'POST', path: '/v1/images/batch/delete', json: true },
  { method: 'POST', path: '/v1/webhooks/endpoints', json: true },
  { method: 'GET', path: '/v1/webhooks/endpoints' },
  { method: 'GET', path: '/v1/webhooks/endpoints/:id' },
  { method: 'PATCH', path: '/v1/webhooks/endpoints/:id', json: true },
  { method: 'DELETE', path: '/v1/webhooks/endpoints/:id' },
  { method: 'POST', path: '/v1/webhooks/endpoints/:id/rotate-secret', json: true },
  { method: 'POST', path: '/v1/webhooks/endpoints/:id/test', json: true },
  { method: 'GET', path: '/v1/webhooks/endpoints/:id/deliveries' },
  { method: 'POST', path: '/v1/webhooks/deliveries/:id/retry', json: true },
  { method: 'POST', path: '/v1/admin/tenants', json: true },
  { method: 'POST', path: '/v1/admin/tenants/:id/keys', json: true },
  { method: 'DELETE', path: '/v1/admin/keys/:id' },
  { method: 'POST', path: '/v1/admin/tenants/:id/credits', json: true },
];

const INJECTIONS = [
  "' OR 1=1 --",
  '"; DROP TABLE accounts; --',
  '<script>alert(1)</script>',
  '${jndi:ldap://x/a}',
  '{{7*7}}',
  '../../../../etc/passwd',
  '..\\..\\windows\\win.ini',
  '%2e%2e%2f%2e%2e%2f',
  'null\u0000byte',
  '\u202e\u0000\uffff',
  '🙂'.repeat(50),
  'a'.repeat(5000),
  '-1',
  '1e309',
  'NaN',
  '0x7fffffffffffffff',
  '__proto__',
  'constructor',
];

const IDS = ['0', '-1', 'null', 'undefined', '%00', '..%2f..%2fetc%2fpasswd', 'x'.repeat(300), "1'--", 'img_AAAAAAAAAAAAAAAAAAAAAAAA', 'file_%E2%80%AE', '%', '%zz'];

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

function nested(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

function jsonBodies(rand: () => number): { name: string; body: string }[] {
  const inj = pick(rand, INJECTIONS);
  return [
    { name: 'truncated json', body: '{"model": "mock", "messages": [' },
    { name: 'not json', body: 'hello=world&a=b' },
    { name: 'json array', body: '[1,2,3]' },
    { name: 'json scalar', body: '42' },
    { name: 'null', body: 'null' },
    { name: 'wrong types', body: JSON.stringify({ model: 5, messages: 'hi', amount: 'ten', image_ids: 'x', url: 7, name: ['a'], n: -3, prompt: {} }) },
    { name: 'injection strings', body: JSON.stringify({ model: inj, messages: [{ role: inj, content: inj }], name: inj, url: inj, prompt: inj, file_id: inj, reason: inj, amount: inj, image_ids: [inj] }) },
    { name: 'huge numbers', body: '{"amount": 1e309, "n": 99999999999999999999999, "max_tokens": -1}' },
    { name: 'deeply nested', body: nested(5000) },
    { name: 'prototype pollution', body: '{"__proto__": {"admin": true}, "constructor": {"prototype": {"x": 1}}}' },
    { name: 'duplicate keys', body: '{"amount": 1, "amount": -1}' },
    { name: 'huge string', body: JSON.stringify({ prompt: 'x'.repeat(2 * 1024 * 1024), messages: [{ role: 'user', content: 'y'.repeat(2 * 1024 * 1024) }] }) },
    { name: 'invalid utf8', body: Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]).toString('latin1') },
    { name: 'empty object', body: '{}' },
  ];
}

export function generateCases(count: number, seed: number, credential: string | undefined): FuzzCase[] {
  const rand = prng(seed);
  const cases: FuzzCase[] = [];
  while (cases.length < count) {
    const route = pick(rand, ROUTES);
    const id = encodeURIComponent(pick(rand, IDS)).replace(/%25/g, rand() < 0.5 ? '%' : '%25');
    let path = route.path.replace(':id', id);
    const headers: Record<string, string> = {};
    if (credential && rand() < 0.9) headers['authorization'] = `Bearer ${credential}`;
    else if (rand() < 0.5) headers['authorization'] = pick(rand, ['Bearer', 'Basic abc', 'Bearer tg_fake', `Bearer ${'a'.repeat(3000)}`, 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.']);
    const variant = rand();
    let name: string;
    let body: string | Buffer | undefined;
    if (variant < 0.15) {
      // path tricks
      path = pick(rand, [`${path}/..%2f..%2f`, `//${path.slice(1)}`, `${path}%00`, `${path}?cursor=${encodeURIComponent(pick(rand, INJECTIONS))}&limit=-5`, `${path}?limit=abc&status[$ne]=x`, `${path}/${'a/'.repeat(200)}`]);
      name = 'path trick';
    } else if (variant < 0.25) {
      name = 'bad headers';
      headers['x-request-id'] = pick(rand, ['<script>', 'a b c', 'x'.repeat(500), '']);
      headers['content-type'] = pick(rand, ['application/json; charset=utf-7', 'text/xml', 'multipart/form-data', 'application/x-www-form-urlencoded', '*/*']);
      headers['idempotency-key'] = pick(rand, ['', 'k'.repeat(1000), "'; drop"]);
      headers['x-tollgate-identity'] = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZW5fb3RoZXIiLCJzY29wZSI6ImFkbWluIn0.forged';
      body = '{"a":1}';
    } else if (route.path === '/v1/files' && route.method === 'POST' || route.path === '/v1/uploads') {
      name = 'bad multipart';
      const boundary = 'fuzzboundary';
      headers['content-type'] = pick(rand, [`multipart/form-data; boundary=${boundary}`, 'multipart/form-data', 'application/offset+octet-stream', 'application/json']);
      if (route.path === '/v1/uploads') {
        headers['tus-resumable'] = pick(rand, ['1.0.0', '0.2', '']);
        headers['upload-length'] = pick(rand, ['-1', 'abc', '99999999999999999999', '10']);
        headers['upload-metadata'] = pick(rand, ['filename ../../x', 'filename ' + Buffer.from('../../etc/passwd').toString('base64'), '%%%']);
      }
      body = pick(rand, [
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="../../evil.png"\r\nContent-Type: image/png\r\n\r\n<html>not a png</html>\r\n--${boundary}--\r\n`,
        `--${boundary}\r\nContent-Disposition: form-data; name="file"\r\n\r\n${'x'.repeat(1000)}`,
        `--${boundary}--`,
        'garbage',
      ]);
    } else {
      const chosen = pick(rand, jsonBodies(rand));
      name = chosen.name;
      body = chosen.body;
      headers['content-type'] = 'application/json';
    }
    if (route.method === 'GET' || route.method === 'HEAD' || route.method === 'DELETE') body = undefined;
    cases.push({ name: `${route.method} ${route.path}: ${name}`, method: route.method, path, headers, ...(body !== undefined ? { body } : {}) });
  }
  return cases;
}

const OPENAI_ROUTES = /^\/v1\/(chat\/completions|embeddings|models)/;

/** Check one answer: never 5xx, and every error in the envelope (OpenAI shape on OpenAI routes). */
export function judge(c: FuzzCase, status: number, contentType: string, body: string): string | undefined {
  if (status >= 500) return `answered ${status}`;
  if (status < 400 || c.method === 'HEAD') return undefined;
  if (!contentType.includes('json')) return `error without a JSON body (content-type ${contentType || 'none'})`;
  let parsed: { error?: { code?: unknown; message?: unknown; type?: unknown } };
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    return 'error body is not JSON';
  }
  const error = parsed.error;
  if (!error || typeof error.message !== 'string') return 'error body is not an envelope';
  const openAi = OPENAI_ROUTES.test(c.path) && typeof error.type === 'string';
  if (!openAi && typeof error.code !== 'string') return 'error envelope without a code';
  return undefined;
}

export async function runFuzz(options: { baseUrl: string; credential?: string; count: number; seed?: number; concurrency?: number }): Promise<FuzzResult> {
  const cases = generateCases(options.count, options.seed ?? 1, options.credential);
  const result: FuzzResult = { sent: 0, byStatus: {}, findings: [] };
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const c = cases[next++]!;
      let status = 0;
      let contentType = '';
      let text = '';
      try {
        const res = await fetch(`${options.baseUrl}${c.path}`, {
          method: c.method,
          headers: c.headers,
          ...(c.body !== undefined ? { body: c.body } : {}),
          signal: AbortSignal.timeout(30_000),
          redirect: 'manual',
        });
        status = res.status;
        contentType = res.headers.get('content-type') ?? '';
        text = await res.text();
      } catch (err) {
        // Headers the fetch client itself refuses to send are not a server finding.
        if (err instanceof TypeError && /header|Headers/i.test(err.message)) continue;
        status = 599;
        text = (err as Error).message;
      }
      result.sent++;
      result.byStatus[status] = (result.byStatus[status] ?? 0) + 1;
      const problem = judge(c, status, contentType, text);
      if (problem) result.findings.push({ case: c, status, problem, body: text.slice(0, 300) });
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 8 }, worker));
  return result;
}
