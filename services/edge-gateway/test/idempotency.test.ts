import http from 'node:http';
import request from 'supertest';
import { createTestEnv, type TestEnv } from '@tollgate/testkit';
import { migrations } from '../src/migrations';
import { bearer, createTenantWithKey, type FakeUpstream, type RunningGateway, startFakeUpstream, startGateway } from './helpers';

let env: TestEnv;
let upstream: FakeUpstream;
let gw: RunningGateway;
let key: string;
let calls = 0;

const jsonEcho = () =>
  upstream.handle((req, res, body) => {
    calls++;
    res.writeHead(201, { 'content-type': 'application/json', location: '/v1/webhooks/endpoints/we_1' });
    res.end(JSON.stringify({ call: calls, path: req.url, received: body.toString() }));
  });

beforeAll(async () => {
  env = await createTestEnv('gw_idem');
  await env.migrate(migrations);
  upstream = await startFakeUpstream();
  gw = await startGateway(env, upstream.url);
  key = (await createTenantWithKey(gw.url)).key;
});
beforeEach(jsonEcho);

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
  await env?.cleanup();
});

const post = (path: string, idempotencyKey: string | undefined, body: unknown, credential = key) => {
  const r = request(gw.url).post(path).set(bearer(credential));
  if (idempotencyKey !== undefined) r.set('Idempotency-Key', idempotencyKey);
  return r.send(body as object);
};

describe('Idempotency-Key', () => {
  it('the same key twice: one upstream call, the second is a replay', async () => {
    const before = calls;
    const first = await post('/v1/webhooks/endpoints', 'idem-1', { url: 'https://example.com/hook' });
    const second = await post('/v1/webhooks/endpoints', 'idem-1', { url: 'https://example.com/hook' });
    expect(calls - before).toBe(1);
    expect(first.status).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(second.status).toBe(201);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(second.body).toEqual(first.body);
    expect(second.headers['location']).toBe('/v1/webhooks/endpoints/we_1');
    expect(second.headers['x-request-id']).not.toBe(first.headers['x-request-id']);
    // The body went upstream untouched.
    expect(JSON.parse(first.body.received)).toEqual({ url: 'https://example.com/hook' });
  });

  it('a repeat while the first is in flight gets 409', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    upstream.handle(async (_req, res) => {
      calls++;
      await held;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"done":true}');
    });
    const before = calls;
    const first = post('/v1/webhooks/endpoints', 'idem-inflight', { a: 1 }).then((r) => r);
    while (calls === before) await new Promise((r) => setTimeout(r, 5));
    const second = await post('/v1/webhooks/endpoints', 'idem-inflight', { a: 1 });
    expect(second.status).toBe(409);
    expect(second.body.error.code).toBe('CONFLICT');
    release();
    expect((await first).status).toBe(200);
    const third = await post('/v1/webhooks/endpoints', 'idem-inflight', { a: 1 });
    expect(third.headers['idempotent-replayed']).toBe('true');
    expect(calls - before).toBe(1);
  });

  it('a client that hangs up does not free the key: the upstream finishes once, the retry gets 409 meanwhile, then the replay', async () => {
    let answer!: () => void;
    const answered = new Promise<void>((r) => (answer = r));
    let done = false;
    let first = true;
    upstream.handle(async (_req, res) => {
      calls++;
      // Only the first call waits; a second one (the bug) would answer at once.
      if (first) {
        first = false;
        await answered;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'x-tollgate-cost': '42' });
      res.end(JSON.stringify({ id: 'chatcmpl-1', call: calls }), () => (done = true));
    });
    const before = calls;
    const client = new AbortController();
    const gone = fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...bearer(key), 'content-type': 'application/json', 'idempotency-key': 'idem-hangup' },
      body: JSON.stringify({ model: 'm', messages: [] }),
      signal: client.signal,
    }).catch((err: Error) => err);
    while (calls === before) await new Promise((r) => setTimeout(r, 5));
    client.abort();
    expect(((await gone) as Error).name).toBe('AbortError');

    const meanwhile = await post('/v1/chat/completions', 'idem-hangup', { model: 'm', messages: [] });
    expect(meanwhile.status).toBe(409);
    answer();
    while (!done) await new Promise((r) => setTimeout(r, 5));
    // The upstream's answer is stored shortly after it ends: wait for the replay, not for time.
    let retry = await post('/v1/chat/completions', 'idem-hangup', { model: 'm', messages: [] });
    while (retry.status === 409) {
      await new Promise((r) => setTimeout(r, 10));
      retry = await post('/v1/chat/completions', 'idem-hangup', { model: 'm', messages: [] });
    }
    expect(retry.status).toBe(200);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.headers['x-tollgate-cost']).toBe('42');
    expect(retry.body).toEqual({ id: 'chatcmpl-1', call: before + 1 });
    expect(calls - before).toBe(1);
  });

  it('a client that hangs up after the answer began: the upstream answer is still read whole and replayed', async () => {
    let answer!: () => void;
    const answered = new Promise<void>((r) => (answer = r));
    let done = false;
    upstream.handle(async (_req, res) => {
      calls++;
      res.writeHead(200, { 'content-type': 'application/json', 'x-tollgate-cost': '7' });
      res.write('{"id":"chatcmpl-late",');
      await answered;
      res.end(`"call":${calls}}`, () => (done = true));
    });
    const before = calls;
    const status = await new Promise<number>((resolve, reject) => {
      const client = http.request(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        agent: false,
        headers: { ...bearer(key), 'content-type': 'application/json', 'idempotency-key': 'idem-hangup-late' },
      });
      client.on('error', () => undefined);
      client.on('response', (r) => {
        client.destroy();
        client.socket?.once('close', () => resolve(r.statusCode ?? 0));
      });
      client.on('timeout', reject);
      client.end(JSON.stringify({ model: 'm', messages: [] }));
    });
    expect(status).toBe(200);
    // The rest of the answer must come after the gateway saw the hang-up (its socket closes at
    // once on loopback; the pause only makes the order likely, the test passes either way).
    await new Promise((r) => setTimeout(r, 150));
    answer();
    while (!done) await new Promise((r) => setTimeout(r, 5));
    let retry = await post('/v1/chat/completions', 'idem-hangup-late', { model: 'm', messages: [] });
    while (retry.status === 409) {
      await new Promise((r) => setTimeout(r, 10));
      retry = await post('/v1/chat/completions', 'idem-hangup-late', { model: 'm', messages: [] });
    }
    expect(retry.status).toBe(200);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.headers['x-tollgate-cost']).toBe('7');
    expect(retry.body).toEqual({ id: 'chatcmpl-late', call: before + 1 });
    expect(calls - before).toBe(1);
  });

  it('a client that hangs up on a stream still cuts the upstream and frees the key', async () => {
    let cut = false;
    upstream.handle((req, res) => {
      calls++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"x":1}\n\n');
      req.socket.once('close', () => (cut = true));
    });
    const before = calls;
    const client = new AbortController();
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...bearer(key), 'content-type': 'application/json', 'idempotency-key': 'idem-sse-hangup' },
      body: JSON.stringify({ stream: true }),
      signal: client.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    client.abort();
    while (!cut) await new Promise((r) => setTimeout(r, 5));
    jsonEcho();
    // Released (maybe a moment after the cut): the retry runs again.
    let retry = await post('/v1/chat/completions', 'idem-sse-hangup', { stream: true });
    while (retry.status === 409) {
      await new Promise((r) => setTimeout(r, 10));
      retry = await post('/v1/chat/completions', 'idem-sse-hangup', { stream: true });
    }
    expect(retry.status).toBe(201);
    expect(calls - before).toBe(2);
  });

  it('the same key with a different body or path gets 422', async () => {
    await post('/v1/webhooks/endpoints', 'idem-2', { a: 1 }).expect(201);
    const before = calls;
    const other = await post('/v1/webhooks/endpoints', 'idem-2', { a: 2 });
    expect(other.status).toBe(422);
    expect(other.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect((await post('/v1/images/ingest', 'idem-2', { a: 1 })).status).toBe(422);
    expect(calls).toBe(before);
  });

  it('keys are scoped per tenant', async () => {
    const other = await createTenantWithKey(gw.url, {}, { name: 'other' });
    const before = calls;
    const mine = await post('/v1/webhooks/endpoints', 'shared-key', { a: 1 });
    const theirs = await post('/v1/webhooks/endpoints', 'shared-key', { a: 1 }, other.key);
    expect(calls - before).toBe(2);
    expect(theirs.headers['idempotent-replayed']).toBeUndefined();
    expect(theirs.body.call).not.toBe(mine.body.call);
  });

  it('streamed (SSE) responses are never stored: a retry runs again', async () => {
    upstream.handle((_req, res) => {
      calls++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"x":1}\n\n');
      res.end('data: [DONE]\n\n');
    });
    const before = calls;
    const first = await post('/v1/chat/completions', 'idem-sse', { stream: true });
    const second = await post('/v1/chat/completions', 'idem-sse', { stream: true });
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.headers['idempotent-replayed']).toBeUndefined();
    expect(calls - before).toBe(2);
  });

  it('5xx answers are not stored', async () => {
    upstream.handle((_req, res) => {
      calls++;
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{}}');
    });
    const before = calls;
    expect((await post('/v1/webhooks/endpoints', 'idem-500', {})).status).toBe(500);
    jsonEcho();
    expect((await post('/v1/webhooks/endpoints', 'idem-500', {})).status).toBe(201);
    expect(calls - before).toBe(2);
  });

  it('uploads are hashed as they stream, never buffered: same bytes replay, other bytes 422', async () => {
    const upload = (bytes: Buffer) =>
      request(gw.url).post('/v1/files').set(bearer(key)).set('Idempotency-Key', 'idem-upload').set('content-type', 'application/octet-stream').send(bytes);
    upstream.handle((_req, res, body) => {
      calls++;
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ id: `file_${calls}`, bytes: body.length }));
    });
    const payload = Buffer.alloc(512 * 1024, 3);
    const before = calls;
    const first = await upload(payload);
    expect(first.status).toBe(201);
    expect(first.body.bytes).toBe(payload.length);
    const replay = await upload(payload);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toEqual(first.body);
    const changed = Buffer.from(payload);
    changed[changed.length - 1] = 4;
    expect((await upload(changed)).status).toBe(422);
    expect(calls - before).toBe(1);
  });

  it('ignores the header on other methods; rejects malformed keys', async () => {
    const before = calls;
    await request(gw.url).get('/v1/credits/balance').set(bearer(key)).set('Idempotency-Key', 'idem-get').expect(201);
    await request(gw.url).get('/v1/credits/balance').set(bearer(key)).set('Idempotency-Key', 'idem-get').expect(201);
    expect(calls - before).toBe(2);
    expect((await post('/v1/webhooks/endpoints', 'x'.repeat(300), {})).status).toBe(400);
    expect((await post('/v1/webhooks/endpoints', 'has space', {})).status).toBe(400);
  });

  it('records live 24 h by default', async () => {
    await post('/v1/webhooks/endpoints', 'idem-ttl', { a: 1 }).expect(201);
    const [redisKey] = await gw.redis.keys(`${env.prefix}:gw:idem:*`).then((keys) => keys.filter(Boolean));
    expect(redisKey).toBeDefined();
    const ttls = await Promise.all((await gw.redis.keys(`${env.prefix}:gw:idem:*`)).map((k) => gw.redis.ttl(k)));
    expect(Math.max(...ttls)).toBeGreaterThan(86_000);
    expect(Math.max(...ttls)).toBeLessThanOrEqual(86_400);
  });
});
