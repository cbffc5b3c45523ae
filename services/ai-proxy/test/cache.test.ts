import { identityHeaders, startFakeOpenAi, type FakeOpenAi } from '@tollgate/testkit';
import { listUsageForTenant } from '../src/usage/repository';
import { metricValue, startHarness, type Harness } from './support/harness';
import type { FakeCredits } from '@tollgate/testkit';

/** The exact-match response cache: opt-in, per tenant, byte-identical hits without an upstream call. */
describe('response cache', () => {
  let h: Harness & { fakeCredits: FakeCredits | undefined };
  let upstream: FakeOpenAi;

  const post = (tenant: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...identityHeaders(tenant), ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  beforeAll(async () => {
    upstream = await startFakeOpenAi();
    h = await startHarness({
      label: 'ai_cache',
      routing: {
        cache: { ttl_s: 60 },
        models: {
          cached: {
            price: { input_per_1k: 10_000, output_per_1k: 10_000 },
            targets: [{ provider: 'openai', model: 'fake', base_url: `${upstream.url}/v1` }],
          },
        },
      },
    });
    for (const t of ['cache_a', 'cache_b']) h.fakeCredits!.topUp(t, 10_000_000);
  });

  afterAll(async () => {
    await h.close();
    await upstream.close();
  });

  beforeEach(() => {
    upstream.reset();
    h.app.router.routing.cache.hit_price_ratio = 0;
    h.app.router.routing.cache.temperature_zero = false;
  });

  it('serves an identical request from the cache: same bytes, no upstream call, billed at the hit rate (0)', async () => {
    const body = { model: 'cached', messages: [{ role: 'user', content: 'cache me' }], temperature: 0.3 };
    const first = await post('cache_a', body, { 'x-tollgate-cache': 'on' });
    expect(first.headers.get('x-tollgate-cache')).toBe('miss');
    const firstText = await first.text();
    const balanceAfterMiss = (await h.credits.balance('cache_a')).available;

    // Same request with keys in another order: normalised to the same entry.
    const reordered = `{"temperature":0.3,"messages":[{"content":"cache me","role":"user"}],"model":"cached"}`;
    const second = await post('cache_a', reordered, { 'x-tollgate-cache': 'on' });
    expect(second.status).toBe(200);
    expect(second.headers.get('x-tollgate-cache')).toBe('hit');
    expect(second.headers.get('x-tollgate-cost')).toBe('0');
    expect(await second.text()).toBe(firstText);
    expect(upstream.requests).toHaveLength(1);
    expect((await h.credits.balance('cache_a')).available).toBe(balanceAfterMiss);

    await h.app.usage.flush();
    const rows = await listUsageForTenant(h.env.db, 'cache_a');
    expect(rows.map((r) => r.outcome)).toEqual(['success', 'cache_hit']);
    expect(rows[1]).toMatchObject({ cached: true, cost: 0 });
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(metricValue(metrics, 'ai_cache_requests_total', { result: 'hit' })).toBe(1);
  });

  it('keys the cache by tenant', async () => {
    const body = { model: 'cached', messages: [{ role: 'user', content: 'tenant scoped' }] };
    await (await post('cache_a', body, { 'x-tollgate-cache': 'on' })).text();
    const other = await post('cache_b', body, { 'x-tollgate-cache': 'on' });
    expect(other.headers.get('x-tollgate-cache')).toBe('miss');
    await other.text();
    expect(upstream.requests).toHaveLength(2);
  });

  it('does not cache without opting in, nor streams', async () => {
    const body = { model: 'cached', messages: [{ role: 'user', content: 'no opt in' }] };
    for (let i = 0; i < 2; i++) {
      const res = await post('cache_a', body);
      expect(res.headers.get('x-tollgate-cache')).toBeNull();
      await res.text();
    }
    for (let i = 0; i < 2; i++) await (await post('cache_a', { ...body, stream: true }, { 'x-tollgate-cache': 'on' })).text();
    expect(upstream.requests).toHaveLength(4);
  });

  it('bills hits at the configured rate and caches temperature 0 when configured', async () => {
    h.app.router.routing.cache.hit_price_ratio = 0.5;
    h.app.router.routing.cache.temperature_zero = true;
    const body = { model: 'cached', temperature: 0, messages: [{ role: 'user', content: 'deterministic please' }] };
    const miss = await post('cache_b', body);
    expect(miss.headers.get('x-tollgate-cache')).toBe('miss');
    const originalCost = Number(miss.headers.get('x-tollgate-cost'));
    await miss.text();
    const before = (await h.credits.balance('cache_b')).available;
    const hit = await post('cache_b', body);
    expect(hit.headers.get('x-tollgate-cache')).toBe('hit');
    expect(Number(hit.headers.get('x-tollgate-cost'))).toBe(Math.ceil(originalCost / 2));
    await hit.text();
    expect(before - (await h.credits.balance('cache_b')).available).toBe(Math.ceil(originalCost / 2));
    // x-tollgate-cache: off skips the cache even then.
    const off = await post('cache_b', body, { 'x-tollgate-cache': 'off' });
    expect(off.headers.get('x-tollgate-cache')).toBeNull();
    await off.text();
    expect(upstream.requests).toHaveLength(2);
  });
});
