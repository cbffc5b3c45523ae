import { reconcile } from '../src/reconcile/service';
import { admin, balanceOf, call, type CreditsHarness, newTenant, service, startCredits, topUp } from './helpers';

// The root jest config runs packages as `projects`, where the preset's testTimeout does not apply;
// these tests drive hundreds of real requests on a shared machine, so set it here.
jest.setTimeout(60_000);

let h: CreditsHarness;

beforeAll(async () => {
  h = await startCredits('credits_concurrency', { env: { LOW_BALANCE_THRESHOLD: '500' } });
});

afterAll(async () => {
  await h.close();
  await h.env.cleanup();
});

const charge = (tenantId: string, amount: number, key: string) => call(h.url, 'POST', '/internal/v1/charges', service(), { tenant_id: tenantId, amount, idempotency_key: key });
const hold = (tenantId: string, amount: number, key: string) => call(h.url, 'POST', '/internal/v1/holds', service(), { tenant_id: tenantId, amount, idempotency_key: key });
const capture = (id: string, amount: number) => call(h.url, 'POST', `/internal/v1/holds/${id}/capture`, service(), { amount });
const release = (id: string) => call(h.url, 'POST', `/internal/v1/holds/${id}/release`, service());

async function expectReconciles(): Promise<void> {
  const report = await reconcile(h.ledger.db);
  expect(report.mismatch).toBeNull();
  expect(report.ok).toBe(true);
}

function lowBalanceEvents(tenantId: string) {
  return h.events.filter((e) => e.tenant_id === tenantId && e.type === 'credits.low_balance');
}

it('200 concurrent charges of 10 against 1,000: exactly 100 succeed, the rest get 402, the balance ends at 0', async () => {
  const t = newTenant();
  await topUp(h.url, t, 1_000);
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => charge(t, 10, `charge-${i}`)));
  const statuses = results.map((r) => r.status);
  expect(statuses.filter((s) => s === 201)).toHaveLength(100);
  expect(statuses.filter((s) => s === 402)).toHaveLength(100);
  expect(results.filter((r) => r.status === 402).every((r) => r.body.error.code === 'INSUFFICIENT_CREDITS')).toBe(true);
  expect(await balanceOf(h.url, t)).toMatchObject({ available: 0, held: 0 });
  // Every successful charge saw a distinct balance: no two read the same "before".
  const after = results.filter((r) => r.status === 201).map((r) => r.body.balance_after as number);
  expect(new Set(after).size).toBe(100);
  expect(Math.min(...after)).toBe(0);
  expect(lowBalanceEvents(t)).toHaveLength(1);
  await expectReconciles();
});

it('the same with holds and captures interleaved with charges', async () => {
  const t = newTenant();
  await topUp(h.url, t, 1_000);
  const outcomes = await Promise.all(
    Array.from({ length: 200 }, async (_, i) => {
      if (i % 2 === 0) return (await charge(t, 10, `mixed-charge-${i}`)).status === 201;
      const held = await hold(t, 10, `mixed-hold-${i}`);
      if (held.status !== 201) {
        expect(held.status).toBe(402);
        return false;
      }
      const captured = await capture(held.body.id, 10);
      expect(captured.status).toBe(200);
      return true;
    }),
  );
  expect(outcomes.filter(Boolean)).toHaveLength(100);
  expect(await balanceOf(h.url, t)).toMatchObject({ available: 0, held: 0 });
  await expectReconciles();
});

it('holds released and captured concurrently never overdraw and always reconcile', async () => {
  const t = newTenant();
  await topUp(h.url, t, 1_000);
  const results = await Promise.all(
    Array.from({ length: 120 }, async (_, i) => {
      const held = await hold(t, 25, `churn-${i}`);
      if (held.status !== 201) return 0;
      if (i % 3 === 0) {
        await release(held.body.id);
        return 0;
      }
      const r = await capture(held.body.id, 10);
      return r.status === 200 ? 10 : 0;
    }),
  );
  const spent = results.reduce<number>((a, b) => a + b, 0);
  expect(spent).toBeGreaterThan(0);
  expect(await balanceOf(h.url, t)).toMatchObject({ available: 1_000 - spent, held: 0 });
  await expectReconciles();
});

it('the same charge sent 50 times at once with one idempotency key makes exactly one transaction', async () => {
  const t = newTenant();
  await topUp(h.url, t, 1_000);
  const results = await Promise.all(Array.from({ length: 50 }, () => charge(t, 30, 'one-key')));
  expect(results.every((r) => r.status === 201)).toBe(true);
  expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
  expect(results.filter((r) => r.headers.get('idempotent-replayed') === 'true')).toHaveLength(49);
  const rows = await h.env.db.selectFrom('transactions').select('id').where('tenant_id', '=', t).where('type', '=', 'charge').execute();
  expect(rows).toHaveLength(1);
  expect((await balanceOf(h.url, t)).available).toBe(970);
  await expectReconciles();
});

it('the same hold and the same top-up sent 50 times at once each happen once', async () => {
  const t = newTenant();
  const topUps = await Promise.all(
    Array.from({ length: 50 }, () => call(h.url, 'POST', `/v1/admin/tenants/${t}/credits`, { ...admin(), 'Idempotency-Key': 'topup-once' }, { amount: 1_000 })),
  );
  expect(topUps.every((r) => r.status === 201)).toBe(true);
  expect(new Set(topUps.map((r) => r.body.id)).size).toBe(1);
  expect(h.events.filter((e) => e.tenant_id === t && e.type === 'credits.topped_up')).toHaveLength(1);
  const holds = await Promise.all(Array.from({ length: 50 }, () => hold(t, 100, 'hold-once')));
  expect(holds.every((r) => r.status === 201)).toBe(true);
  expect(new Set(holds.map((r) => r.body.id)).size).toBe(1);
  expect(await balanceOf(h.url, t)).toMatchObject({ available: 900, held: 100 });
  await expectReconciles();
});

it('racing captures of one hold: one amount wins, the others get 409; capture racing release: one wins', async () => {
  const t = newTenant();
  await topUp(h.url, t, 1_000);
  const created = await hold(t, 100, 'race');
  const results = await Promise.all([10, 20, 30, 40, 50].map((amount) => capture(created.body.id, amount)));
  expect(results.filter((r) => r.status === 200)).toHaveLength(1);
  expect(results.filter((r) => r.status === 409)).toHaveLength(4);
  const won = results.find((r) => r.status === 200)!.body.captured_amount as number;
  expect(await balanceOf(h.url, t)).toMatchObject({ available: 1_000 - won, held: 0 });

  const second = await hold(t, 100, 'race-2');
  const [c, r] = await Promise.all([capture(second.body.id, 60), release(second.body.id)]);
  expect([c.status, r.status].sort()).toEqual([200, 409]);
  const expected = c.status === 200 ? 1_000 - won - 60 : 1_000 - won;
  expect(await balanceOf(h.url, t)).toMatchObject({ available: expected, held: 0 });
  await expectReconciles();
});

it('many tenants charging at once (shared system accounts) stay exact', async () => {
  const tenants = Array.from({ length: 8 }, () => newTenant('multi'));
  await Promise.all(tenants.map((t) => topUp(h.url, t, 100)));
  const results = await Promise.all(tenants.flatMap((t) => Array.from({ length: 15 }, (_, i) => charge(t, 10, `m-${i}`))));
  expect(results.filter((r) => r.status === 201)).toHaveLength(80);
  for (const t of tenants) expect((await balanceOf(h.url, t)).available).toBe(0);
  await expectReconciles();
});
