import { createHash } from 'node:crypto';
import http from 'node:http';
import request from 'supertest';
import { createTestEnv, listen, type Listening, parseSse, type TestEnv } from '@tollgate/testkit';
import { serverTimeouts } from '../src/config';
import { migrations } from '../src/migrations';
import { bearer, createTenantWithKey, type FakeUpstream, type RunningGateway, startFakeUpstream, startGateway } from './helpers';

let env: TestEnv;
let upstream: FakeUpstream;
let gw: RunningGateway;
let key: string;

/** A port nothing listens on: connections are refused. */
async function deadUrl(): Promise<string> {
  const s = await listen(() => undefined);
  await s.close();
  return s.url;
}

beforeAll(async () => {
  env = await createTestEnv('gw_proxy');
  await env.migrate(migrations);
  upstream = await startFakeUpstream();
  gw = await startGateway(env, upstream.url, {
    PROXY_TIMEOUT_MS: '300',
    BODY_LIMIT_WRITE: '1kb',
    BODY_LIMIT_UPLOAD: '8mb',
    BREAKER_CONSECUTIVE_FAILURES: '3',
    BREAKER_HALF_OPEN_AFTER_MS: '300',
  });
  key = (await createTenantWithKey(gw.url)).key;
});

afterEach(() =>
  upstream.handle((req, res) =>
    res.setHeader('content-type', 'application/json').end(JSON.stringify({ method: req.method, url: req.url })),
  ),
);

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
  await env?.cleanup();
});

/** A raw request whose response chunks are delivered as they arrive. */
function open(path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  return new Promise<http.IncomingMessage & { request: http.ClientRequest }>((resolve, reject) => {
    const req = http.request(`${gw.url}${path}`, {
      method: options.method ?? 'POST',
      headers: { 'content-type': 'application/json', ...bearer(key), ...options.headers },
    });
    req.on('response', (res) => resolve(Object.assign(res, { request: req })));
    req.on('error', reject);
    req.end(options.body ?? '{}');
  });
}

describe('streaming', () => {
  it('the first SSE chunk reaches the client while the upstream is still sending', async () => {
    let releaseRest!: () => void;
    const rest = new Promise<void>((r) => (releaseRest = r));
    let upstreamFinished = false;
    upstream.handle(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('data: {"chunk":1}\n\n');
      await rest; // the upstream keeps the stream open until the client has seen chunk 1
      res.write('data: {"chunk":2}\n\n');
      res.end('data: [DONE]\n\n');
      upstreamFinished = true;
    });
    const res = await open('/v1/chat/completions', { body: JSON.stringify({ stream: true }) });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream');
    const first = await new Promise<string>((resolve) => res.once('data', (c: Buffer) => resolve(c.toString())));
    expect(parseSse(first)).toEqual(['{"chunk":1}']);
    expect(upstreamFinished).toBe(false);
    releaseRest();
    let text = first;
    for await (const chunk of res) text += (chunk as Buffer).toString();
    expect(parseSse(text)).toEqual(['{"chunk":1}', '{"chunk":2}', '[DONE]']);
    expect(upstreamFinished).toBe(true);
  });

  it('a client that disconnects aborts the upstream request', async () => {
    let upstreamClosed!: () => void;
    const closed = new Promise<void>((r) => (upstreamClosed = r));
    upstream.handle((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"chunk":1}\n\n');
      const timer = setInterval(() => res.write('data: {"tick":true}\n\n'), 20);
      res.on('close', () => {
        clearInterval(timer);
        upstreamClosed();
      });
    });
    const res = await open('/v1/chat/completions', { body: '{"stream":true}' });
    await new Promise((resolve) => res.once('data', resolve));
    res.request.destroy();
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      closed.then(() => 'closed'),
      new Promise((r) => (timer = setTimeout(() => r('still open'), 2000))),
    ]);
    clearTimeout(timer);
    expect(outcome).toBe('closed');
  });

  it('uploads stream through without a size cap below the upload limit', async () => {
    const payload = Buffer.alloc(3 * 1024 * 1024, 7);
    upstream.handle((_req, res, body) =>
      res
        .setHeader('content-type', 'application/json')
        .end(JSON.stringify({ bytes: body.length, sha: createHash('sha256').update(body).digest('hex') })),
    );
    const res = await request(gw.url).post('/v1/files').set(bearer(key)).set('content-type', 'application/octet-stream').send(payload);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ bytes: payload.length, sha: createHash('sha256').update(payload).digest('hex') });
  });
});

describe('body limits per route class', () => {
  it('413 for a declared Content-Length over the limit, before the upstream is contacted', async () => {
    const before = upstream.requests.length;
    const res = await request(gw.url)
      .post('/v1/webhooks/endpoints')
      .set(bearer(key))
      .send({ url: 'x'.repeat(2000) });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(upstream.requests.length).toBe(before);
  });

  it('413 for a chunked body that streams past the limit; the upstream request is cut', async () => {
    // The upstream may see the start of the body (or nothing, if the cut comes first), but
    // never a complete request.
    let upstreamGotWholeBody = false;
    const onRequest = (req: http.IncomingMessage) => {
      req.on('end', () => {
        upstreamGotWholeBody = true;
      });
      req.resume();
    };
    upstream.server.on('request', onRequest);
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${gw.url}/v1/webhooks/endpoints`, {
        method: 'POST',
        headers: { ...bearer(key), 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      });
      req.on('response', (r) => {
        let body = '';
        r.on('data', (c: Buffer) => (body += c.toString()));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.write('{"a":"');
      req.write('y'.repeat(600));
      setTimeout(() => req.end('y'.repeat(600) + '"}'), 30);
    });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).error.code).toBe('PAYLOAD_TOO_LARGE');
    await new Promise((r) => setTimeout(r, 200));
    upstream.server.off('request', onRequest);
    expect(upstreamGotWholeBody).toBe(false);
  });

  it('413 for a chunked body past the limit sent with Expect: 100-continue (the proxy hooks still see it)', async () => {
    let upstreamGotWholeBody = false;
    const onRequest = (req: http.IncomingMessage) => {
      req.on('end', () => {
        upstreamGotWholeBody = true;
      });
      req.resume();
    };
    upstream.server.on('request', onRequest);
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${gw.url}/v1/webhooks/endpoints`, {
        method: 'POST',
        headers: { ...bearer(key), 'content-type': 'application/json', 'transfer-encoding': 'chunked', expect: '100-continue' },
      });
      req.on('continue', () => {
        req.write('{"a":"');
        req.write('y'.repeat(600));
        setTimeout(() => req.end('y'.repeat(600) + '"}'), 30);
      });
      req.on('response', (r) => {
        let body = '';
        r.on('data', (c: Buffer) => (body += c.toString()));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
      });
      req.on('error', reject);
    });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).error.code).toBe('PAYLOAD_TOO_LARGE');
    await new Promise((r) => setTimeout(r, 200));
    upstream.server.off('request', onRequest);
    expect(upstreamGotWholeBody).toBe(false);
  });
});

describe('slow clients: uploads have their own deadline', () => {
  let slow: RunningGateway;
  beforeAll(async () => {
    // A general deadline far below the upload one; both small so the test takes a second.
    slow = await startGateway(env, upstream.url, { CLIENT_REQUEST_TIMEOUT_MS: '300', UPLOAD_REQUEST_TIMEOUT_MS: '60000' });
  });
  afterAll(() => slow?.close());

  /** Sends the first half of `body` now and the rest once `release` resolves. */
  function slowPost(path: string, body: Buffer, release: Promise<unknown>, contentType = 'application/octet-stream') {
    return new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${slow.url}${path}`, {
        method: 'POST',
        agent: false,
        headers: { ...bearer(key), 'content-type': contentType, 'content-length': String(body.length) },
      });
      req.on('response', (r) => {
        let text = '';
        r.on('data', (c: Buffer) => (text += c.toString()));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.write(body.subarray(0, body.length / 2));
      void release.then(() => req.end(body.subarray(body.length / 2)));
    });
  }

  it('a request body still arriving past CLIENT_REQUEST_TIMEOUT_MS gets 408 in the envelope', async () => {
    const never = new Promise(() => undefined);
    const res = await slowPost('/v1/webhooks/endpoints', Buffer.from(JSON.stringify({ url: 'https://example.com/hook' })), never, 'application/json');
    expect(res.status).toBe(408);
    expect(JSON.parse(res.body).error).toMatchObject({ code: 'VALIDATION_FAILED', message: 'The request took too long to arrive', request_id: expect.any(String) });
  });

  it('an upload slower than CLIENT_REQUEST_TIMEOUT_MS but within UPLOAD_REQUEST_TIMEOUT_MS goes through whole', async () => {
    upstream.handle((_req, res, body) => res.setHeader('content-type', 'application/json').end(JSON.stringify({ bytes: body.length })));
    const payload = Buffer.alloc(256 * 1024, 3);
    // The rest of the body is held until a non-upload request on the same gateway has been cut
    // by the general deadline: by then the upload has outlived it too, whatever the machine's load.
    let cut!: () => void;
    const generalDeadlinePassed = new Promise<void>((r) => (cut = r));
    const upload = slowPost('/v1/files', payload, generalDeadlinePassed);
    const refused = await slowPost('/v1/webhooks/endpoints', Buffer.from('{"url":"https://example.com/x"}'), new Promise(() => undefined), 'application/json');
    expect(refused.status).toBe(408);
    cut();
    const res = await upload;
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ bytes: payload.length });
  });

  it("the listener's own requestTimeout is the upload deadline, not Node's 300 s default", () => {
    expect(serverTimeouts(slow.config)).toEqual({ headersTimeoutMs: slow.config.HEADERS_TIMEOUT_MS, requestTimeoutMs: 60_000 });
  });
});

describe('upstream failures', () => {
  it('502 when the upstream refuses, in the envelope or OpenAI shape', async () => {
    const broken = await startGateway(env, await deadUrl());
    try {
      const res = await request(broken.url).get('/v1/credits/balance').set(bearer(key));
      expect(res.status).toBe(502);
      expect(res.body.error).toMatchObject({ code: 'UPSTREAM_FAILED', message: expect.any(String), request_id: expect.any(String) });
      expect(JSON.stringify(res.body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);
      const chat = await request(broken.url).post('/v1/chat/completions').set(bearer(key)).send({});
      expect(chat.status).toBe(502);
      expect(chat.body.error).toMatchObject({ type: 'api_error', code: 'upstream_failed' });
    } finally {
      await broken.close();
    }
  });

  it('504 when the upstream does not answer within the route timeout', async () => {
    upstream.handle(() => undefined);
    const started = Date.now();
    const res = await request(gw.url).get('/v1/webhooks/endpoints').set(bearer(key));
    expect(res.status).toBe(504);
    expect(res.body.error.code).toBe('UPSTREAM_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("an upstream's own 503 answers pass through and never open the circuit", async () => {
    let answered = 0;
    upstream.handle((_req, res) => {
      answered++;
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '7' });
      res.end('{"error":{"code":"SERVICE_UNAVAILABLE","message":"provider down"}}');
    });
    for (let i = 0; i < 6; i++) {
      const res = await request(gw.url).get('/v1/images').set(bearer(key));
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('7');
      expect(res.body.error.message).toBe('provider down');
    }
    expect(answered).toBe(6);
    upstream.handle((_req, res) => res.end('{}'));
    expect((await request(gw.url).get('/v1/images').set(bearer(key))).status).toBe(200);
  });

  it('opens the circuit after consecutive transport failures: fast 503 without calling the upstream, then a trial', async () => {
    // Reset before answering: what a crashed or overloaded service looks like from the gateway.
    upstream.handle((req) => req.socket.destroy());
    for (let i = 0; i < 3; i++) expect((await request(gw.url).get('/v1/images').set(bearer(key))).status).toBe(502);
    const before = upstream.requests.length;
    const fast = await request(gw.url).get('/v1/images').set(bearer(key));
    expect(fast.status).toBe(503);
    expect(fast.body.error.code).toBe('SERVICE_UNAVAILABLE');
    expect(fast.headers['retry-after']).toBeDefined();
    expect(upstream.requests.length).toBe(before);
    const ready = await request(gw.url).get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.checks['upstream:image-pipeline']).toMatchObject({
      ok: false,
      critical: false,
      error: expect.stringMatching(/circuit open/),
    });
    // Other upstreams are not affected.
    upstream.handle((_req, res) => res.end('{}'));
    expect((await request(gw.url).get('/v1/credits/balance').set(bearer(key))).status).toBe(200);
    // After the half-open delay one trial goes through and, succeeding, closes the circuit.
    await new Promise((r) => setTimeout(r, 350));
    expect((await request(gw.url).get('/v1/images').set(bearer(key))).status).toBe(200);
    expect((await request(gw.url).get('/v1/images').set(bearer(key))).status).toBe(200);
  });
  it('while a trial call is out, other calls are refused at once instead of waiting for it', async () => {
    upstream.handle((req) => req.socket.destroy());
    for (let i = 0; i < 3; i++) expect((await request(gw.url).get('/v1/images').set(bearer(key))).status).toBe(502);
    await new Promise((r) => setTimeout(r, 350));
    // The trial is held at the upstream until the other call has its answer.
    let releaseTrial: () => void = () => undefined;
    upstream.handle((_req, res) => {
      releaseTrial = () => res.end('{}');
    });
    const before = upstream.requests.length;
    const trial = request(gw.url)
      .get('/v1/images')
      .set(bearer(key))
      .then((res) => res);
    for (let i = 0; i < 200 && upstream.requests.length === before; i++) await new Promise((r) => setTimeout(r, 5));
    expect(upstream.requests.length).toBe(before + 1);
    // Refused at once: with the old behaviour it would wait for the trial, then be proxied.
    const other = await request(gw.url).get('/v1/images').set(bearer(key));
    expect(other.status).toBe(503);
    expect(other.body.error.code).toBe('SERVICE_UNAVAILABLE');
    expect(upstream.requests.length).toBe(before + 1);
    releaseTrial();
    expect((await trial).status).toBe(200);
    upstream.handle((_req, res) => res.end('{}'));
    expect((await request(gw.url).get('/v1/images').set(bearer(key))).status).toBe(200);
  });
});

describe('headers', () => {
  it('drops hop-by-hop headers both ways', async () => {
    upstream.handle((_req, res) => {
      res.writeHead(200, {
        'content-type': 'application/json',
        connection: 'X-Upstream-Hop',
        'x-upstream-hop': 'secret',
        'x-end-to-end': 'kept',
      });
      res.end('{}');
    });
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(`${gw.url}/v1/credits/balance`, {
        headers: { ...bearer(key), connection: 'keep-alive, X-Client-Hop', 'x-client-hop': 'secret', te: 'trailers', 'x-kept': 'yes' },
      });
      req.on('response', resolve).on('error', reject).end();
    });
    res.resume();
    const seen = upstream.requests.at(-1)!.headers;
    expect(seen['x-client-hop']).toBeUndefined();
    expect(seen['te']).toBeUndefined();
    expect(seen['x-kept']).toBe('yes');
    expect(res.headers['x-upstream-hop']).toBeUndefined();
    expect(res.headers['x-end-to-end']).toBe('kept');
  });

  it("client options (x-tollgate-cache) reach the service; a client's x-tollgate-identity never does", async () => {
    const res = await request(gw.url)
      .post('/v1/chat/completions')
      .set(bearer(key))
      .set('x-tollgate-cache', 'on')
      .set('x-tollgate-tags', 'team-a')
      .set('x-tollgate-identity', 'forged.token.value')
      .send({ model: 'm', messages: [] });
    expect(res.status).toBe(200);
    const seen = upstream.requests.at(-1)!.headers;
    expect(seen['x-tollgate-cache']).toBe('on');
    expect(seen['x-tollgate-tags']).toBe('team-a');
    expect(seen['x-tollgate-identity']).not.toBe('forged.token.value');
    expect(String(seen['x-tollgate-identity']).split('.')).toHaveLength(3);
  });

  it('security headers on every response; an invalid X-Request-ID is replaced', async () => {
    const res = await request(gw.url).get('/v1/credits/balance').set(bearer(key)).set('X-Request-ID', 'bad id with spaces');
    expect(res.headers['strict-transport-security']).toMatch(/max-age=/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['content-security-policy']).toMatch(/default-src 'self'/);
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(upstream.requests.at(-1)!.headers['x-request-id']).toBe(res.headers['x-request-id']);
  });

  it('an unknown /v1 path is a 404 once authenticated', async () => {
    expect((await request(gw.url).get('/v1/nothing-here').set(bearer(key))).status).toBe(404);
    expect((await request(gw.url).get('/v1/nothing-here')).status).toBe(401);
  });
});

describe('openapi, docs and readiness', () => {
  let credits: Listening;
  let docsGateway: RunningGateway;
  beforeAll(async () => {
    credits = await listen((req, res) => {
      if (req.url === '/openapi.json') {
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            openapi: '3.1.0',
            info: { title: 'credits', version: '1' },
            paths: {
              '/v1/credits/balance': {
                get: {
                  security: [{ identity: [] }],
                  responses: { '200': { content: { 'application/json': { schema: { $ref: '#/components/schemas/Balance' } } } } },
                },
              },
              '/internal/v1/holds': { post: { responses: {} } },
            },
            components: {
              schemas: { Balance: { type: 'object' } },
              securitySchemes: { identity: { type: 'apiKey', in: 'header', name: 'X-Tollgate-Identity' } },
            },
          }),
        );
        return;
      }
      res.end('{"status":"ok"}');
    });
    docsGateway = await startGateway(env, await deadUrl(), { CREDITS_URL: credits.url, OPENAPI_FETCH_TIMEOUT_MS: '500' });
  });
  afterAll(async () => {
    await docsGateway.close();
    await credits.close();
  });

  it('/openapi.json merges the public paths of every reachable service', async () => {
    const res = await request(docsGateway.url).get('/openapi.json');
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.paths['/v1/admin/tenants'].post).toBeDefined();
    expect(doc.paths['/v1/credits/balance'].get.responses['200'].content['application/json'].schema.$ref).toBe(
      '#/components/schemas/credits.Balance',
    );
    expect(doc.paths['/v1/credits/balance'].get.security).toBeUndefined();
    expect(doc.components.schemas['credits.Balance']).toEqual({ type: 'object' });
    expect(doc.paths['/internal/v1/holds']).toBeUndefined();
    expect(doc.components.securitySchemes.bearer).toBeDefined();
    expect(doc['x-tollgate-unavailable']).toEqual(expect.arrayContaining(['ai-proxy', 'upload', 'image-pipeline', 'webhook']));
  });

  it('/docs serves Swagger UI under the CSP', async () => {
    const res = await request(docsGateway.url).get('/docs/');
    expect(res.status).toBe(200);
    expect(res.text).toContain('swagger-ui');
    expect(res.headers['content-security-policy']).toBeDefined();
  });

  it('/readyz reports each upstream without failing on them', async () => {
    const res = await request(docsGateway.url).get('/readyz');
    expect(res.status).toBe(200);
    expect(res.body.checks['upstream:credits']).toMatchObject({ ok: true, critical: false });
    expect(res.body.checks['upstream:ai-proxy']).toMatchObject({ ok: false, critical: false });
  });
});
