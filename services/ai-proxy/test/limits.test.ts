import { createMetrics } from '@tollgate/common';
import { createTestEnv, identityHeaders, listen, silentLogger, type TestEnv } from '@tollgate/testkit';
import { createApp } from '../src/app';
import { buildAiProxyDeps } from '../src/deps';
import { createTokenLimiter } from '../src/limits/tpm';
import { resolveRouting } from '../src/routing/schema';
import { startHarness, type Harness } from './support/harness';

/** Tokens per minute per key, counted in Redis and so shared by every replica. */
describe('token-per-minute limits', () => {
  let h: Harness;
  const routing = {
    limits: { tokens_per_minute: 100, keys: { key_big: 1_000_000 } },
    models: { m: { price: { input_per_1k: 1, output_per_1k: 1 }, targets: [{ provider: 'mock', model: 'm' }] } },
  };
  // 40 characters: 3 + 4 + 10 = 17 tokens reserved up front, then the real 10 + 12 = 22 counted.
  const content = 'x'.repeat(40);
  const post = (url: string, keyId: string) =>
    fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...identityHeaders('tpm_tenant', ['completion'], keyId) },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content }] }),
    });

  beforeAll(async () => {
    h = await startHarness({ label: 'ai_limits', routing });
    (h as Harness & { fakeCredits: { topUp(t: string, a: number): void } }).fakeCredits.topUp('tpm_tenant', 1_000_000_000);
  });
  afterAll(() => h.close());

  it('refuses a key over its budget with 429, Retry-After and token headers; a second replica sees the same budget', async () => {
    const replicaDeps = buildAiProxyDeps({
      config: h.config,
      logger: silentLogger(),
      metrics: createMetrics('ai-proxy-2', { collectDefault: false }),
      db: h.env.db,
      redis: h.env.redis,
      routing: resolveRouting(routing, process.env),
      credits: h.credits,
      queue: h.queue,
      events: h.events,
    });
    const replica = createApp(replicaDeps);
    const replicaServer = await listen(replica.app);
    try {
      const first = await post(h.url, 'key_small');
      expect(first.status).toBe(200);
      expect(first.headers.get('x-ratelimit-limit-tokens')).toBe('100');
      expect(Number(first.headers.get('x-ratelimit-remaining-tokens'))).toBeLessThan(100);
      await first.text();
      let status = 200;
      let replies = 1;
      while (status === 200 && replies < 10) {
        // Alternate replicas: the budget is one.
        const res = await post(replies % 2 ? replicaServer.url : h.url, 'key_small');
        status = res.status;
        replies++;
        if (status === 429) {
          expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
          const body = (await res.json()) as { error: { type: string; code: string } };
          expect(body.error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limited' });
        } else await res.text();
      }
      expect(status).toBe(429);
      // 100 tokens at 22 per call (17 reserved ahead): the 5th call is refused, on whichever replica.
      expect(replies).toBeGreaterThanOrEqual(4);
      expect(replies).toBeLessThanOrEqual(5);
      // Another key has its own (overridden) budget.
      expect((await post(replicaServer.url, 'key_big')).status).toBe(200);
    } finally {
      await replicaServer.close();
      for (const closer of replicaDeps.closers) await closer.close();
    }
  });
});

describe('token-per-minute settlement after the bucket expired', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv('ai_tpm_settle');
  });
  afterAll(() => env.cleanup());

  it('a late correction never re-creates a bucket without a TTL (Redis keeps such keys forever)', async () => {
    const limiter = createTokenLimiter({ redis: env.redis, prefix: env.prefix, limits: { tokens_per_minute: 1000, keys: {} }, logger: silentLogger() });
    for (const actual of [50, 0]) {
      const decision = await limiter.admit('tenant_late', 'key_late', 20);
      const key = decision!.reservation!.key;
      expect(Number(await env.redis.get(key))).toBeGreaterThanOrEqual(20);
      // A stream that outlives the bucket's 130 s: let the key really expire.
      await env.redis.pexpire(key, 1);
      while ((await env.redis.exists(key)) === 1) await new Promise((r) => setTimeout(r, 5));
      await limiter.settle(decision, actual);
      const keys = await env.redis.keys(`${env.prefix}:ai:tpm:*`);
      for (const k of keys) expect(await env.redis.pttl(k)).toBeGreaterThan(0);
      expect(await env.redis.exists(key)).toBe(0);
    }
  });

  it('a correction within the window adjusts the bucket and keeps its TTL', async () => {
    const limiter = createTokenLimiter({ redis: env.redis, prefix: env.prefix, limits: { tokens_per_minute: 1000, keys: {} }, logger: silentLogger() });
    const decision = await limiter.admit('tenant_live', 'key_live', 20);
    const key = decision!.reservation!.key;
    const before = Number(await env.redis.get(key));
    await limiter.settle(decision, 35);
    expect(Number(await env.redis.get(key))).toBe(before + 15);
    expect(await env.redis.pttl(key)).toBeGreaterThan(0);
  });
});
