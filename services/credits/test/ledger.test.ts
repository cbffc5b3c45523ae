import { createEventPublisher, createQueue, createRedis, type PlatformEvent, WEBHOOK_EVENTS_QUEUE } from '@tollgate/common';
import { createTestEnv, type TestEnv } from '@tollgate/testkit';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { admin, balanceOf, call, type CreditsHarness, ledgerCounts, newTenant, service, startCredits, tenant, topUp } from './helpers';

// The root jest config runs packages as `projects`, where the preset's testTimeout does not apply;
// these tests drive hundreds of real requests on a shared machine, so set it here.
jest.setTimeout(60_000);

let h: CreditsHarness;
let env: TestEnv;
let queueRedis: Redis;
let queue: Queue;
let publisher: ReturnType<typeof createEventPublisher>;

/** Events waiting in the real `webhook-events` queue (nothing consumes it in this test). */
async function queuedEvents(tenantId: string): Promise<PlatformEvent[]> {
  const jobs = await queue.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed', 'prioritized']);
  return jobs.map((j) => j.data as PlatformEvent).filter((e) => e.tenant_id === tenantId);
}

beforeAll(async () => {
  env = await createTestEnv('credits_ledger');
  queueRedis = createRedis(env.redisUrl, 'queue');
  queue = createQueue(WEBHOOK_EVENTS_QUEUE, { connection: queueRedis, prefix: env.prefix });
  publisher = createEventPublisher({ connection: queueRedis, prefix: env.prefix, queue });
  h = await startCredits('credits_ledger', { testEnv: env, events: publisher, env: { LOW_BALANCE_THRESHOLD: '100' } });
});

afterAll(async () => {
  await h.close();
  await publisher.close();
  await queue.close();
  await queueRedis.quit();
  await env.cleanup();
});

describe('top-up (POST /v1/admin/tenants/:id/credits)', () => {
  it('credits the tenant, creating its account, and records a transaction', async () => {
    const t = newTenant();
    const res = await topUp(h.url, t, 5_000_000);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ tenant_id: t, type: 'top_up', amount: 5_000_000, balance_after: 5_000_000, description: 'test top-up', hold_id: null });
    expect(res.body.id).toMatch(/^txn_[A-Za-z0-9]{24}$/);
    expect(await balanceOf(h.url, t)).toEqual({ tenant_id: t, available: 5_000_000, held: 0, currency: 'credits' });
  });

  it('emits credits.topped_up once, with an id derived from the transaction, even when retried', async () => {
    const t = newTenant();
    const first = await topUp(h.url, t, 700, 'topup-key-1');
    const again = await topUp(h.url, t, 700, 'topup-key-1');
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    const events = (await queuedEvents(t)).filter((e) => e.type === 'credits.topped_up');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ id: `evt_${first.body.id}`, tenant_id: t, data: { transaction_id: first.body.id, amount: 700, available: 700 } });
    expect((await ledgerCounts(env, t)).transactions).toBe(1);
    expect((await balanceOf(h.url, t)).available).toBe(700);
  });

  it('refuses the same Idempotency-Key with a different amount (422) and writes nothing', async () => {
    const t = newTenant();
    await topUp(h.url, t, 100, 'topup-key-2');
    const res = await topUp(h.url, t, 200, 'topup-key-2');
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect((await ledgerCounts(env, t)).transactions).toBe(1);
    expect((await balanceOf(h.url, t)).available).toBe(100);
  });

  it('without an Idempotency-Key, each call is a new top-up', async () => {
    const t = newTenant();
    await topUp(h.url, t, 100);
    await topUp(h.url, t, 100);
    expect((await balanceOf(h.url, t)).available).toBe(200);
  });

  it('requires the admin scope', async () => {
    const t = newTenant();
    const asTenant = await call(h.url, 'POST', `/v1/admin/tenants/${t}/credits`, tenant(t), { amount: 100 });
    expect(asTenant.status).toBe(403);
    expect(asTenant.body.error.code).toBe('FORBIDDEN');
    const asService = await call(h.url, 'POST', `/v1/admin/tenants/${t}/credits`, service(), { amount: 100 });
    expect(asService.status).toBe(403);
    const anonymous = await call(h.url, 'POST', `/v1/admin/tenants/${t}/credits`, {}, { amount: 100 });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe('UNAUTHENTICATED');
    const forged = await call(h.url, 'POST', `/v1/admin/tenants/${t}/credits`, { 'X-Tollgate-Identity': 'not-a-jwt' }, { amount: 100 });
    expect(forged.status).toBe(401);
    expect(await ledgerCounts(env, t)).toEqual({ accounts: 0, transactions: 0, holds: 0, entries: 0, outbox: 0 });
  });

  it.each([
    ['zero', { amount: 0 }],
    ['negative', { amount: -5 }],
    ['fractional', { amount: 1.5 }],
    ['a numeric string', { amount: '100' }],
    ['null', { amount: null }],
    ['missing', {}],
    ['out of range', { amount: 1e16 }],
    ['a huge exponent', { amount: 1e300 }],
    ['a boolean', { amount: true }],
    ['a too long reason', { amount: 1, reason: 'x'.repeat(501) }],
  ])('refuses an amount that is %s (400) and writes nothing', async (_name, body) => {
    const t = newTenant();
    const res = await call(h.url, 'POST', `/v1/admin/tenants/${t}/credits`, admin(), body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'VALIDATION_FAILED', request_id: expect.any(String) });
    expect(await ledgerCounts(env, t)).toEqual({ accounts: 0, transactions: 0, holds: 0, entries: 0, outbox: 0 });
  });

  it('refuses malformed tenant ids, bodies and keys', async () => {
    for (const bad of ['bad%20id', 'x'.repeat(65), 'semi;colon', '%C3%A9t%C3%A9']) {
      const res = await call(h.url, 'POST', `/v1/admin/tenants/${bad}/credits`, admin(), { amount: 1 });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
    const notJson = await call(h.url, 'POST', `/v1/admin/tenants/${newTenant()}/credits`, admin(), '{"amount": ');
    expect(notJson.status).toBe(400);
    const t = newTenant();
    const badKey = await call(h.url, 'POST', `/v1/admin/tenants/${t}/credits`, { ...admin(), 'Idempotency-Key': 'has space' }, { amount: 1 });
    expect(badKey.status).toBe(400);
    expect(await ledgerCounts(env, t)).toEqual({ accounts: 0, transactions: 0, holds: 0, entries: 0, outbox: 0 });
  });
});

describe('charge (POST /internal/v1/charges)', () => {
  it('takes credits from the available balance and posts a balanced transaction', async () => {
    const t = newTenant();
    await topUp(h.url, t, 1_000);
    const res = await call(h.url, 'POST', '/internal/v1/charges', service(), { tenant_id: t, amount: 300, idempotency_key: 'c1', description: 'chat completion' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ tenant_id: t, type: 'charge', amount: 300, balance_after: 700, description: 'chat completion' });
    expect(res.body.id).toMatch(/^txn_/);
    expect(await balanceOf(h.url, t)).toMatchObject({ available: 700, held: 0 });
    const entries = await env.db.selectFrom('entries').select(['account_id', 'amount']).where('transaction_id', '=', res.body.id).orderBy('id').execute();
    expect(entries.map((e) => e.amount)).toEqual([-300, 300]);
    expect(entries[1]!.account_id).toBe('sys_revenue');
  });

  it('answers 402 INSUFFICIENT_CREDITS with the numbers when short, and writes nothing', async () => {
    const t = newTenant();
    await topUp(h.url, t, 100);
    const before = await ledgerCounts(env, t);
    const res = await call(h.url, 'POST', '/internal/v1/charges', service(), { tenant_id: t, amount: 101, idempotency_key: 'short' });
    expect(res.status).toBe(402);
    expect(res.body.error).toMatchObject({ code: 'INSUFFICIENT_CREDITS', details: { available: 100, requested: 101 }, request_id: expect.any(String) });
    expect(await ledgerCounts(env, t)).toEqual(before);
    expect((await balanceOf(h.url, t)).available).toBe(100);
  });

  it('a late charge (allow_debt) may take the available balance below zero down to MAX_DEBT; then nothing more is held or charged until a top-up', async () => {
    const t = newTenant();
    const maxDebt = h.config.MAX_DEBT;
    await topUp(h.url, t, 1_000);
    const hold = await call(h.url, 'POST', '/internal/v1/holds', service(), { tenant_id: t, amount: 400, idempotency_key: 'in-flight' });
    expect(hold.status).toBe(201);
    const late = { tenant_id: t, amount: 600 + maxDebt, idempotency_key: 'late-1', description: 'usage above the hold', allow_debt: true };
    // Past the bound: refused, nothing written.
    const tooMuch = await call(h.url, 'POST', '/internal/v1/charges', service(), { ...late, amount: late.amount + 1 });
    expect(tooMuch.status).toBe(402);
    const res = await call(h.url, 'POST', '/internal/v1/charges', service(), late);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ type: 'charge', amount: late.amount, balance_after: 400 - maxDebt });
    expect(await balanceOf(h.url, t)).toMatchObject({ available: -maxDebt, held: 400 });
    // The flag is part of the request: the same key without it is another request.
    const { allow_debt: _, ...withoutFlag } = late;
    expect((await call(h.url, 'POST', '/internal/v1/charges', service(), withoutFlag)).status).toBe(422);
    // Owing: every further hold or charge is refused, late ones included.
    expect((await call(h.url, 'POST', '/internal/v1/charges', service(), { ...late, idempotency_key: 'late-2', amount: 1 })).status).toBe(402);
    expect((await call(h.url, 'POST', '/internal/v1/charges', service(), { tenant_id: t, amount: 1, idempotency_key: 'plain' })).status).toBe(402);
    expect((await call(h.url, 'POST', '/internal/v1/holds', service(), { tenant_id: t, amount: 1, idempotency_key: 'next' })).status).toBe(402);
    // The in-flight hold still settles; a top-up repays the debt first.
    expect((await call(h.url, 'POST', `/internal/v1/holds/${hold.body.id}/capture`, service(), { amount: 400 })).status).toBe(200);
    await topUp(h.url, t, maxDebt + 10);
    expect(await balanceOf(h.url, t)).toMatchObject({ available: 10, held: 0 });
    expect((await call(h.url, 'POST', '/internal/v1/holds', service(), { tenant_id: t, amount: 10, idempotency_key: 'after' })).status).toBe(201);
  });

  it('refuses a non-boolean allow_debt (400)', async () => {
    const t = newTenant();
    await topUp(h.url, t, 100);
    const res = await call(h.url, 'POST', '/internal/v1/charges', service(), { tenant_id: t, amount: 1, idempotency_key: 'k', allow_debt: 'yes' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
  });

  it('answers 402 (not 500) for a tenant that has no account, without creating one', async () => {
    const t = newTenant();
    const res = await call(h.url, 'POST', '/internal/v1/charges', service(), { tenant_id: t, amount: 1, idempotency_key: 'k' });
    expect(res.status).toBe(402);
    expect(res.body.error.details).toEqual({ available: 0, requested: 1 });
    expect(await ledgerCounts(env, t)).toEqual({ accounts: 0, transactions: 0, holds: 0, entries: 0, outbox: 0 });
    expect(await balanceOf(h.url, t)).toEqual({ tenant_id: t, available: 0, held: 0, currency: 'credits' });
  });

  it('replays a repeated key with the original result and writes nothing more', async () => {
    const t = newTenant();
    await topUp(h.url, t, 1_000);
    const body = { tenant_id: t, amount: 400, idempotency_key: 'same-key', description: 'd' };
    const first = await call(h.url, 'POST', '/internal/v1/charges', service(), body);
    // Spend the rest: the replay must still return the original charge, not a 402.
    await call(h.url, 'POST', '/internal/v1/charges', service(), { tenant_id: t, amount: 600, idempotency_key: 'other' });
    const again = await call(h.url, 'POST', '/internal/v1/charges', service(), body);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    expect((await ledgerCounts(env, t)).transactions).toBe(3);
    expect((await balanceOf(h.url, t)).available).toBe(0);
  });

  it('refuses a key reused with other parameters (422), writing nothing', async () => {
    const t = newTenant();
    await topUp(h.url, t, 1_000);
    await call(h.url, 'POST', '/internal/v1/charges', service(), { tenant_id: t, amount: 10, idempotency_key: 'reuse', description: 'a' });
    const before = await ledgerCounts(env, t);
    for (const changed of [{ amount: 11, description: 'a' }, { amount: 10, description: 'b' }, { amount: 10 }]) {
      const res = await call(h.url, 'POST', '/internal/v1/charges', service(), { tenant_id: t, idempotency_key: 'reuse', ...changed });
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    }
    expect(await ledgerCounts(env, t)).toEqual(before);
  });

  it('scopes idempotency keys per tenant', async () => {
    const a = newTenant();
    const b = newTenant();
    await topUp(h.url, a, 100);
    await topUp(h.url, b, 100);
    const ra = await call(h.url, 'POST', '/internal/v1/charges', service(), { tenant_id: a, amount: 10, idempotency_key: 'shared' });
    const rb = await call(h.url, 'POST', '/internal/v1/charges', service(), { tenant_id: b, amount: 10, idempotency_key: 'shared' });
    expect(ra.status).toBe(201);
    expect(rb.status).toBe(201);
    expect(rb.body.id).not.toBe(ra.body.id);
  });

  it.each([
    ['zero amount', { amount: 0 }],
    ['negative amount', { amount: -10 }],
    ['fractional amount', { amount: 10.5 }],
    ['string amount', { amount: '10' }],
    ['out-of-range amount', { amount: 2 ** 60 }],
    ['missing amount', { amount: undefined }],
    ['malformed tenant id', { tenant_id: 'no spaces allowed' }],
    ['missing tenant id', { tenant_id: undefined }],
    ['empty idempotency key', { idempotency_key: '' }],
    ['missing idempotency key', { idempotency_key: undefined }],
    ['too long idempotency key', { idempotency_key: 'k'.repeat(256) }],
    ['non-string description', { description: 42 }],
  ])('refuses a charge with %s (400) and writes nothing', async (_name, change) => {
    const t = newTenant();
    await topUp(h.url, t, 1_000);
    const before = await ledgerCounts(env, t);
    const res = await call(h.url, 'POST', '/internal/v1/charges', service(), { tenant_id: t, amount: 10, idempotency_key: 'bad-input', ...change });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    expect(await ledgerCounts(env, t)).toEqual(before);
    expect((await balanceOf(h.url, t)).available).toBe(1_000);
  });

  it('is for services only', async () => {
    const t = newTenant();
    await topUp(h.url, t, 1_000);
    const body = { tenant_id: t, amount: 10, idempotency_key: 'x' };
    expect((await call(h.url, 'POST', '/internal/v1/charges', tenant(t), body)).status).toBe(403);
    expect((await call(h.url, 'POST', '/internal/v1/charges', admin(), body)).status).toBe(403);
    expect((await call(h.url, 'POST', '/internal/v1/charges', {}, body)).status).toBe(401);
    expect((await balanceOf(h.url, t)).available).toBe(1_000);
  });
});

describe('balance and history', () => {
  it('GET /v1/credits/balance answers for the caller only', async () => {
    const t = newTenant();
    await topUp(h.url, t, 2_500_000);
    const res = await call(h.url, 'GET', '/v1/credits/balance', tenant(t));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ tenant_id: t, available: 2_500_000, held: 0, currency: 'credits' });
    const fresh = await call(h.url, 'GET', '/v1/credits/balance', tenant(newTenant()));
    expect(fresh.body).toMatchObject({ available: 0, held: 0 });
    expect((await call(h.url, 'GET', '/v1/credits/balance', {})).status).toBe(401);
  });

  it('GET /v1/credits/transactions pages newest first with an opaque cursor', async () => {
    const t = newTenant();
    await topUp(h.url, t, 1_000);
    const ids: string[] = [];
    for (let i = 1; i <= 4; i++) {
      const r = await call(h.url, 'POST', '/internal/v1/charges', service(), { tenant_id: t, amount: i, idempotency_key: `h${i}` });
      ids.push(r.body.id);
    }
    const seen: any[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: { status: number; body: any } = await call(h.url, 'GET', `/v1/credits/transactions?limit=2${cursor ? `&cursor=${cursor}` : ''}`, tenant(t));
      expect(res.status).toBe(200);
      expect(res.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.data);
      cursor = res.body.next_cursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(seen.map((x) => x.type)).toEqual(['charge', 'charge', 'charge', 'charge', 'top_up']);
    expect(seen.slice(0, 4).map((x) => x.id)).toEqual([...ids].reverse());
    expect(seen.map((x) => x.balance_after)).toEqual([990, 994, 997, 999, 1_000]);
    expect(seen.every((x) => x.tenant_id === t)).toBe(true);
  });

  it('refuses bad pagination parameters', async () => {
    const t = tenant(newTenant());
    for (const q of ['limit=0', 'limit=101', 'limit=abc', 'cursor=%%%', 'cursor=WyJ4Il0', `cursor=${Buffer.from('[1.5]').toString('base64url')}`]) {
      const res = await call(h.url, 'GET', `/v1/credits/transactions?${q}`, t);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
  });
});

describe('low balance', () => {
  it('emits credits.low_balance once per downward crossing of the threshold', async () => {
    const t = newTenant();
    const set = await call(h.url, 'PUT', `/v1/admin/tenants/${t}/credits/threshold`, admin(), { threshold: 500 });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ tenant_id: t, low_balance_threshold: 500, custom: true });
    await topUp(h.url, t, 1_000);
    const charge = (amount: number, key: string) => call(h.url, 'POST', '/internal/v1/charges', service(), { tenant_id: t, amount, idempotency_key: key });
    await charge(400, 'a'); // 600: above
    const crossing = await charge(200, 'b'); // 400: crossed
    await charge(100, 'c'); // 300: still below, no second event
    let lows = (await queuedEvents(t)).filter((e) => e.type === 'credits.low_balance');
    expect(lows).toHaveLength(1);
    expect(lows[0]).toMatchObject({ id: `evt_lowbal_${crossing.body.id}`, data: { available: 400, threshold: 500 } });
    await topUp(h.url, t, 1_000); // 1300: re-armed
    await charge(900, 'd'); // 400: crossed again
    lows = (await queuedEvents(t)).filter((e) => e.type === 'credits.low_balance');
    expect(lows).toHaveLength(2);
  });

  it('a hold that takes the available balance below the threshold emits once; releasing it re-arms', async () => {
    const t = newTenant();
    await topUp(h.url, t, 1_000); // default threshold 100
    const hold = (key: string, amount: number) => call(h.url, 'POST', '/internal/v1/holds', service(), { tenant_id: t, amount, idempotency_key: key });
    const first = await hold('h1', 950);
    expect((await queuedEvents(t)).filter((e) => e.type === 'credits.low_balance')).toEqual([
      expect.objectContaining({ id: `evt_lowbal_${first.body.id}`, data: expect.objectContaining({ available: 50, held: 950, threshold: 100 }) }),
    ]);
    await call(h.url, 'POST', `/internal/v1/holds/${first.body.id}/release`, service());
    await hold('h2', 950);
    expect((await queuedEvents(t)).filter((e) => e.type === 'credits.low_balance')).toHaveLength(2);
  });

  it('uses the configured default until a tenant sets its own, and validates the threshold', async () => {
    const t = newTenant();
    await topUp(h.url, t, 150);
    await call(h.url, 'POST', '/internal/v1/charges', service(), { tenant_id: t, amount: 100, idempotency_key: 'x' }); // 50 < default 100
    expect((await queuedEvents(t)).filter((e) => e.type === 'credits.low_balance')).toHaveLength(1);
    const reset = await call(h.url, 'PUT', `/v1/admin/tenants/${t}/credits/threshold`, admin(), { threshold: null });
    expect(reset.body).toMatchObject({ low_balance_threshold: 100, custom: false, available: 50 });
    for (const bad of [{ threshold: -1 }, { threshold: 1.5 }, { threshold: '5' }, {}]) {
      const res = await call(h.url, 'PUT', `/v1/admin/tenants/${t}/credits/threshold`, admin(), bad);
      expect(res.status).toBe(400);
    }
    expect((await call(h.url, 'PUT', `/v1/admin/tenants/${t}/credits/threshold`, tenant(t), { threshold: 1 })).status).toBe(403);
  });
});
