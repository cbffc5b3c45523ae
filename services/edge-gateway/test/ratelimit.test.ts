import request from 'supertest';
import { createRedis } from '@tollgate/common';
import { startTcpProxy, type TcpProxy, type TestEnv } from '@tollgate/testkit';
import {
  admin,
  bearer,
  createTenantWithKey,
  type FakeUpstream,
  type RunningGateway,
  startGateway,
  startTwoReplicas,
  type TwoReplicas,
} from './helpers';

let env: TestEnv;
let upstream: FakeUpstream;
let a: RunningGateway;
let b: RunningGateway;

const LIMITS = {
  RATE_LIMIT_READ: '10',
  RATE_LIMIT_WRITE: '4',
  RATE_LIMIT_GENERATION: '2',
  RATE_LIMIT_COMPLETION: '3',
  RATE_LIMIT_IP: '1000',
};

let replicas: TwoReplicas | undefined;

beforeAll(async () => {
  // Two replicas of the gateway, each with its own Redis connection, one Redis server.
  replicas = await startTwoReplicas('gw_rl', LIMITS);
  ({ env, upstream, a, b } = replicas);
});

afterAll(async () => {
  await replicas?.close();
});

describe('shared limits', () => {
  it('two gateway instances on one Redis share one limit', async () => {
    const { key } = await createTenantWithKey(a.url);
    const statuses = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        request(i % 2 === 0 ? a.url : b.url)
          .get('/v1/credits/balance')
          .set(bearer(key))
          .then((r) => r.status),
      ),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(20);
  });

  it('429 in the envelope with Retry-After, RateLimit-Policy, RateLimit and X-RateLimit-*', async () => {
    const { key } = await createTenantWithKey(a.url);
    const ok = await request(a.url).post('/v1/webhooks/endpoints').set(bearer(key)).send({});
    expect(ok.status).toBe(200);
    expect(ok.headers['ratelimit-policy']).toMatch(/"write"; q=4; w=60/);
    expect(ok.headers['ratelimit']).toMatch(/"write"; r=3; t=\d+/);
    expect(ok.headers['x-ratelimit-limit']).toBe('4');
    expect(ok.headers['x-ratelimit-remaining']).toBe('3');
    expect(Number(ok.headers['x-ratelimit-reset'])).toBeGreaterThan(Date.now() / 1000);
    for (let i = 0; i < 3; i++) await request(b.url).post('/v1/webhooks/endpoints').set(bearer(key)).send({}).expect(200);
    const limited = await request(a.url).post('/v1/webhooks/endpoints').set(bearer(key)).send({});
    expect(limited.status).toBe(429);
    expect(limited.body.error).toMatchObject({
      code: 'RATE_LIMITED',
      request_id: expect.any(String),
      details: { limiter: 'write', limit: 4 },
    });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.headers['x-ratelimit-remaining']).toBe('0');
    // The other tiers keep their own budgets.
    await request(a.url).get('/v1/credits/balance').set(bearer(key)).expect(200);
  });

  it('OpenAI-compatible routes answer 429 in OpenAI shape', async () => {
    const { key } = await createTenantWithKey(a.url);
    for (let i = 0; i < 3; i++) await request(a.url).post('/v1/chat/completions').set(bearer(key)).send({}).expect(200);
    const limited = await request(b.url).post('/v1/chat/completions').set(bearer(key)).send({});
    expect(limited.status).toBe(429);
    expect(limited.body.error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limited' });
    expect(limited.headers['retry-after']).toBeDefined();
  });

  it('counts per key, and a tenant override replaces the tier default', async () => {
    const first = await createTenantWithKey(a.url, {}, { rate_limits: { generation: 1 } });
    const second = await request(a.url).post(`/v1/admin/tenants/${first.tenantId}/keys`).set(admin).send({});
    await request(a.url).post('/v1/images/generations').set(bearer(first.key)).send({}).expect(200);
    await request(b.url).post('/v1/images/generations').set(bearer(first.key)).send({}).expect(429);
    // Another key of the same tenant has its own counter.
    await request(b.url).post('/v1/images/generations').set(bearer(second.body.key)).send({}).expect(200);
    // Raising the tenant's limit applies on both replicas at once.
    await request(a.url)
      .patch(`/v1/admin/tenants/${first.tenantId}`)
      .set(admin)
      .send({ rate_limits: { generation: 5 } })
      .expect(200);
    await new Promise((r) => setTimeout(r, 50));
    await request(b.url).post('/v1/images/generations').set(bearer(first.key)).send({}).expect(200);
  });

  it('GET polls of async jobs count against the read tier, not completion', async () => {
    const { key } = await createTenantWithKey(a.url);
    for (let i = 0; i < 5; i++) await request(a.url).get('/v1/async/jobs/job_1').set(bearer(key)).expect(200);
    const res = await request(a.url).post('/v1/async/chat/completions').set(bearer(key)).send({});
    expect(res.status).toBe(200);
    expect(res.headers['x-ratelimit-remaining']).toBe('2');
  });
});

describe('per IP before authentication', () => {
  let ipGateway: RunningGateway;
  beforeAll(async () => {
    ipGateway = await startGateway(env, upstream.url, {
      ...LIMITS,
      RATE_LIMIT_IP: '3',
      TRUST_PROXY_HOPS: '1',
      RATE_LIMIT_IPV6_SUBNET: '56',
    });
  });
  afterAll(() => ipGateway.close());

  it('limits unauthenticated guessing per address, IPv6 grouped by /56', async () => {
    const from = (ip: string) => request(ipGateway.url).get('/v1/models').set('X-Forwarded-For', ip).set(bearer('tg_guess'));
    // Three addresses in one /56: they share a budget of 3.
    expect((await from('2001:db8:1:100::1')).status).toBe(401);
    expect((await from('2001:db8:1:101::2')).status).toBe(401);
    expect((await from('2001:db8:1:1ff::3')).status).toBe(401);
    const limited = await from('2001:db8:1:1aa::4');
    expect(limited.status).toBe(429);
    expect(limited.headers['ratelimit-policy']).toMatch(/"ip"; q=3/);
    // Another /56 and an IPv4 address have their own.
    expect((await from('2001:db8:1:200::1')).status).toBe(401);
    expect((await from('203.0.113.7')).status).toBe(401);
  });

  it('requests recognised from a valid credential count per key, not against the address', async () => {
    const { key } = await createTenantWithKey(ipGateway.url);
    const fromOneAddress = () => request(ipGateway.url).get('/v1/models').set('X-Forwarded-For', '198.51.100.9').set(bearer(key));
    // The first use resolves the key (after the IP limit); later ones are recognised from memory.
    for (let i = 0; i < 6; i++) expect((await fromOneAddress()).status).toBe(200);
    const res = await fromOneAddress();
    expect(res.headers['ratelimit-policy']).not.toMatch(/"ip"/);
    expect(res.headers['ratelimit-policy']).toMatch(/"read"/);
    // Guessing from that address is still limited.
    const guesses = await Promise.all(
      [1, 2, 3, 4].map(() =>
        request(ipGateway.url)
          .get('/v1/models')
          .set('X-Forwarded-For', '198.51.100.9')
          .set(bearer('tg_guess'))
          .then((r) => r.status),
      ),
    );
    expect(guesses).toContain(429);
  });
});

describe('when Redis is unreachable', () => {
  let proxy: TcpProxy;
  let faulty: RunningGateway;
  let key: string;

  beforeAll(async () => {
    proxy = await startTcpProxy(Number(new URL(env.redisUrl).port || 6379));
    const redis = createRedis(`redis://127.0.0.1:${proxy.port}`, 'request');
    faulty = await startGateway(env, upstream.url, { ...LIMITS, RATE_LIMIT_FAIL_CLOSED: 'generation' }, redis);
    key = (await createTenantWithKey(faulty.url)).key;
    await request(faulty.url).get('/v1/credits/balance').set(bearer(key)).expect(200);
    await proxy.stop();
    // Wait until the client has noticed, so no command is caught mid-flight by the cut.
    while (faulty.redis.status === 'ready') await new Promise((r) => setTimeout(r, 10));
  });
  afterAll(async () => {
    // Let Redis come back first: a client closed while reconnecting keeps a 2 s timer alive.
    await proxy.start();
    while (faulty.redis.status !== 'ready') await new Promise((r) => setTimeout(r, 10));
    await faulty.close();
    await proxy.close();
  });

  it('fails open on open tiers (logged and counted) and closed (503) on closed tiers', async () => {
    const open = await request(faulty.url).get('/v1/credits/balance').set(bearer(key));
    expect(open.status).toBe(200);
    expect(open.headers['ratelimit']).toBeUndefined();
    const closed = await request(faulty.url).post('/v1/images/generations').set(bearer(key)).send({});
    expect(closed.status).toBe(503);
    expect(closed.body.error.code).toBe('SERVICE_UNAVAILABLE');
    expect(closed.headers['retry-after']).toBe('1');
    const metrics = await request(faulty.url).get('/metrics');
    expect(metrics.text).toMatch(/gateway_rate_limit_store_errors_total\{[^}]*tier="read"[^}]*mode="open"[^}]*\} [1-9]/);
    expect(metrics.text).toMatch(/gateway_rate_limit_store_errors_total\{[^}]*tier="generation"[^}]*mode="closed"[^}]*\} [1-9]/);
  });

  it('limits again once Redis is back', async () => {
    await proxy.start();
    const deadline = Date.now() + 5000;
    let limited = false;
    while (!limited && Date.now() < deadline) {
      const res = await request(faulty.url).get('/v1/credits/balance').set(bearer(key));
      limited = res.status === 200 && /"read"; r=\d+/.test(String(res.headers['ratelimit']));
      if (!limited) await new Promise((r) => setTimeout(r, 100));
    }
    expect(limited).toBe(true);
    await proxy.stop();
    while (faulty.redis.status === 'ready') await new Promise((r) => setTimeout(r, 10));
  });

  it('a POST with an Idempotency-Key is refused (503) rather than run unprotected', async () => {
    const res = await request(faulty.url).post('/v1/webhooks/endpoints').set(bearer(key)).set('Idempotency-Key', 'k-redis-down').send({});
    expect(res.status).toBe(503);
  });
});
