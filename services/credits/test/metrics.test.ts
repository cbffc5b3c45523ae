import { createMetrics } from '@tollgate/common';
import { silentLogger } from '@tollgate/testkit';
import { creditsMetrics, observeLedgerBacklogs } from '../src/metrics';
import { startWorkers } from '../src/workers';
import { call, type CreditsHarness, newTenant, service, startCredits, topUp } from './helpers';

/** The value of one series in Prometheus' text format, or 0 when it has not been seen. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (wanted.every((w) => line.includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

describe('credits metrics', () => {
  let h: CreditsHarness;
  beforeAll(async () => {
    h = await startCredits('credits_metrics');
  });
  afterAll(async () => {
    await h?.close();
    await h?.env.cleanup(); // its pool and Redis connection: left open, jest never exits
  });

  it('counts operations by outcome and the micro-credits each moved, replays and refusals included', async () => {
    const t = newTenant();
    await topUp(h.url, t, 10_000);
    const hold = await call(h.url, 'POST', '/internal/v1/holds', service(), { tenant_id: t, amount: 3_000, idempotency_key: 'm-hold-1' });
    expect(hold.status).toBe(201);
    expect(
      (await call(h.url, 'POST', '/internal/v1/holds', service(), { tenant_id: t, amount: 3_000, idempotency_key: 'm-hold-1' })).status,
    ).toBe(201); // replay
    expect(
      (await call(h.url, 'POST', '/internal/v1/holds', service(), { tenant_id: t, amount: 50_000, idempotency_key: 'm-hold-2' })).status,
    ).toBe(402);
    expect((await call(h.url, 'POST', `/internal/v1/holds/${hold.body.id}/capture`, service(), { amount: 1_200 })).status).toBe(200);
    expect((await call(h.url, 'POST', `/internal/v1/holds/${hold.body.id}/release`, service(), {})).status).toBe(409); // already captured
    expect((await call(h.url, 'POST', `/internal/v1/holds/${hold.body.id}/capture`, service(), { amount: 999 })).status).toBe(409);
    expect(
      (await call(h.url, 'POST', '/internal/v1/charges', service(), { tenant_id: t, amount: 500, idempotency_key: 'm-charge-1' })).status,
    ).toBe(201);
    const released = await call(h.url, 'POST', '/internal/v1/holds', service(), { tenant_id: t, amount: 700, idempotency_key: 'm-hold-3' });
    expect((await call(h.url, 'POST', `/internal/v1/holds/${released.body.id}/release`, service(), {})).status).toBe(200);

    const text = await (await fetch(`${h.url}/metrics`)).text();
    expect(metric(text, 'credits_operations_total', { operation: 'top_up', outcome: 'applied' })).toBe(1);
    expect(metric(text, 'credits_operations_total', { operation: 'hold', outcome: 'applied' })).toBe(2);
    expect(metric(text, 'credits_operations_total', { operation: 'hold', outcome: 'replayed' })).toBe(1);
    expect(metric(text, 'credits_operations_total', { operation: 'hold', outcome: 'insufficient_credits' })).toBe(1);
    expect(metric(text, 'credits_operations_total', { operation: 'capture', outcome: 'applied' })).toBe(1);
    expect(metric(text, 'credits_operations_total', { operation: 'capture', outcome: 'conflict' })).toBe(1);
    expect(metric(text, 'credits_operations_total', { operation: 'release', outcome: 'conflict' })).toBe(1);
    expect(metric(text, 'credits_operations_total', { operation: 'release', outcome: 'applied' })).toBe(1);
    expect(metric(text, 'credits_operations_total', { operation: 'charge', outcome: 'applied' })).toBe(1);
    expect(metric(text, 'credits_moved_micro_credits_total', { operation: 'top_up' })).toBe(10_000);
    expect(metric(text, 'credits_moved_micro_credits_total', { operation: 'hold' })).toBe(3_700);
    expect(metric(text, 'credits_moved_micro_credits_total', { operation: 'capture' })).toBe(1_200);
    expect(metric(text, 'credits_moved_micro_credits_total', { operation: 'charge' })).toBe(500);
    expect(metric(text, 'credits_moved_micro_credits_total', { operation: 'release' })).toBe(700);
  });

  it('reports reconciliation and holds the maintenance loop expired', async () => {
    const t = newTenant();
    await topUp(h.url, t, 1_000);
    expect(
      (await call(h.url, 'POST', '/internal/v1/holds', service(), { tenant_id: t, amount: 400, idempotency_key: 'm-expire', ttl_s: 1 }))
        .status,
    ).toBe(201);
    h.clock.advance(5_000);
    const maintenance = startWorkers({
      ledger: h.ledger,
      logger: silentLogger(),
      config: { ...h.config, MAINTENANCE_INTERVAL_MS: 1_000_000, HOLD_SWEEP_BATCH: 10, OUTBOX_RELAY_AFTER_MS: 1_000, RECONCILE_INTERVAL_MS: 0 },
    });
    try {
      // The loop's first pass may already have taken it; this one makes sure a pass ran.
      await maintenance.maintenance.runNow();
    } finally {
      await maintenance.closers[0]!.close();
      h.clock.offsetMs = 0;
    }
    // Before any reconciliation the gauge is absent, not 0 (0 would read as "mismatch").
    expect(await (await fetch(`${h.url}/metrics`)).text()).not.toContain('credits_reconcile_ok');
    const report = await call(h.url, 'POST', '/internal/v1/reconcile', service());
    expect(report.body.ok).toBe(true);
    const text = await (await fetch(`${h.url}/metrics`)).text();
    expect(metric(text, 'credits_holds_expired_total')).toBeGreaterThanOrEqual(1);
    expect(metric(text, 'credits_reconcile_ok')).toBe(1);
    expect(metric(text, 'credits_reconcile_last_run_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60);
  });

  it('the maintenance loop reconciles on its first pass when given an interval', async () => {
    const metrics = createMetrics('credits', { collectDefault: false });
    const ledger = { ...h.ledger, metrics: creditsMetrics(metrics) };
    const maintenance = startWorkers({
      ledger,
      logger: silentLogger(),
      config: { ...h.config, MAINTENANCE_INTERVAL_MS: 1_000_000, HOLD_SWEEP_BATCH: 10, OUTBOX_RELAY_AFTER_MS: 1_000, RECONCILE_INTERVAL_MS: 60_000 },
    });
    try {
      await maintenance.maintenance.runNow();
    } finally {
      await maintenance.closers[0]!.close();
    }
    // The loop's own first pass (started at once) runs the reconciliation; runOnce above may
    // have found it already under way, so wait for its result.
    let text = await metrics.registry.metrics();
    for (let i = 0; i < 100 && !text.includes('credits_reconcile_ok'); i++) {
      await new Promise((r) => setTimeout(r, 20));
      text = await metrics.registry.metrics();
    }
    expect(metric(text, 'credits_reconcile_ok')).toBe(1);
    expect(metric(text, 'credits_reconcile_last_run_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60);
  });

  it('reports holds past their expiry and how overdue the oldest is, read from the ledger', async () => {
    const metrics = createMetrics('credits', { collectDefault: false });
    observeLedgerBacklogs(metrics, h.ledger.db);
    const before = metric(await metrics.registry.metrics(), 'credits_holds_overdue');
    const t = newTenant();
    await topUp(h.url, t, 1_000);
    h.clock.offsetMs = -120_000; // the hold expired (ttl 1 s) two minutes ago by the database's clock
    try {
      expect((await call(h.url, 'POST', '/internal/v1/holds', service(), { tenant_id: t, amount: 100, idempotency_key: 'm-overdue', ttl_s: 1 })).status).toBe(201);
    } finally {
      h.clock.offsetMs = 0;
    }
    const text = await metrics.registry.metrics();
    expect(metric(text, 'credits_holds_overdue')).toBe(before + 1);
    expect(metric(text, 'credits_holds_overdue_oldest_seconds')).toBeGreaterThan(100);
    expect(text).toMatch(/^credits_outbox_oldest_unpublished_seconds\{service="credits"\} [\d.]+$/m);
  });
});
