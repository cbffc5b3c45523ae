// Per-key budgets (issue 17): reserved by the same hold as the call, so concurrency never
// overshoots; a capture counts what was posted, a release or an expiry gives the rest back.
import { sql } from 'kysely';
import { budgetPeriod, expireDueHolds } from '../src/holds/service';
import { reconcile } from '../src/reconcile/service';
import { call, type CreditsHarness, newTenant, service, startCredits, topUp } from './helpers';

jest.setTimeout(60_000);

let h: CreditsHarness;
beforeAll(async () => {
  h = await startCredits('credits_key_budgets');
});
afterAll(async () => {
  await h?.close();
  await h?.env.cleanup();
});

const budget = (amount: number, period = 'day') => ({ key_id: 'key_budgeted', amount, period });
const hold = (tenantId: string, amount: number, key: string, b = budget(300), ttl_s?: number) =>
  call(h.url, 'POST', '/internal/v1/holds', service(), {
    tenant_id: tenantId,
    amount,
    idempotency_key: key,
    budget: b,
    ...(ttl_s ? { ttl_s } : {}),
  });
const budgetRow = async (tenantId: string) =>
  (
    await sql<{ held: string; spent: string }>`select held::text, spent::text from key_budgets where tenant_id = ${tenantId}`.execute(
      h.env.db,
    )
  ).rows.map((r) => ({ held: Number(r.held), spent: Number(r.spent) }));

it('50 concurrent holds of 100 against a budget of 300: exactly 3 succeed, the rest are 402 budget_exceeded with resets_at', async () => {
  const t = newTenant();
  await topUp(h.url, t, 1_000_000); // plenty of credits: only the budget limits
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => hold(t, 100, `b-${i}`)));
  expect(results.filter((r) => r.status === 201)).toHaveLength(3);
  const refused = results.filter((r) => r.status === 402);
  expect(refused).toHaveLength(47);
  const { resetsAt } = budgetPeriod('day', h.clock.now());
  expect(refused[0]!.body.error).toMatchObject({
    code: 'BUDGET_EXCEEDED',
    details: { limit: 300, requested: 100, resets_at: resetsAt.toISOString() },
  });
  expect(await budgetRow(t)).toEqual([{ held: 300, spent: 0 }]);
  expect((await reconcile(h.ledger.db)).ok).toBe(true);
});

it('a capture counts what was posted; a release and an expiry give their holds back; another key or period is its own budget', async () => {
  const t = newTenant();
  await topUp(h.url, t, 1_000_000);
  const a = await hold(t, 100, 'c-1');
  const b = await hold(t, 100, 'c-2');
  const c = await hold(t, 100, 'c-3', budget(300), 1);
  expect([a.status, b.status, c.status]).toEqual([201, 201, 201]);
  expect((await hold(t, 1, 'c-4')).status).toBe(402); // 300 of 300 reserved

  expect((await call(h.url, 'POST', `/internal/v1/holds/${a.body.id}/capture`, service(), { amount: 40 })).status).toBe(200);
  expect(await budgetRow(t)).toEqual([{ held: 200, spent: 40 }]);
  expect((await call(h.url, 'POST', `/internal/v1/holds/${b.body.id}/release`, service(), {})).status).toBe(200);
  expect(await budgetRow(t)).toEqual([{ held: 100, spent: 40 }]);
  h.clock.advance(2_000); // hold c's TTL (1 s) is over: the sweeper expires it
  expect(await expireDueHolds(h.ledger, 100)).toBeGreaterThanOrEqual(1);
  expect(await budgetRow(t)).toEqual([{ held: 0, spent: 40 }]);

  expect((await hold(t, 260, 'c-5')).status).toBe(201); // 40 spent + 260 = 300: fits exactly
  expect((await hold(t, 1, 'c-6')).status).toBe(402);
  expect((await hold(t, 100, 'c-7', { key_id: 'key_other', amount: 300, period: 'day' })).status).toBe(201);
  expect((await hold(t, 100, 'c-8', budget(300, 'month'))).status).toBe(201); // a monthly budget is another period
  expect((await hold(t, 100, 'c-1')).status).toBe(201); // a replay of a captured hold: no new reservation
  expect((await reconcile(h.ledger.db)).ok).toBe(true);
});

it('periods are UTC days, Monday weeks and calendar months', () => {
  const now = new Date('2026-12-03T15:04:05Z'); // a Thursday
  expect(budgetPeriod('day', now)).toEqual({ start: new Date('2026-12-03T00:00:00Z'), resetsAt: new Date('2026-12-04T00:00:00Z') });
  expect(budgetPeriod('week', now)).toEqual({ start: new Date('2026-11-30T00:00:00Z'), resetsAt: new Date('2026-12-07T00:00:00Z') });
  expect(budgetPeriod('month', now)).toEqual({ start: new Date('2026-12-01T00:00:00Z'), resetsAt: new Date('2027-01-01T00:00:00Z') });
});
