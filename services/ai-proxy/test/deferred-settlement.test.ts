import { createCreditsClient } from '@tollgate/common';
import { reconcile } from '@tollgate/credits/reconcile/service';
import { identityHeaders, serviceHeaders, startTcpProxy, type TcpProxy, TEST_INTERNAL_SECRET } from '@tollgate/testkit';
import { sql } from 'kysely';
import { startHarness, type Harness } from './support/harness';
import { type RealCredits, startRealCredits } from '@tollgate/credits/test/support/real-credits';

/**
 * Credits going away between a call's hold and its capture (a restart, a network cut) must not
 * leave the call unpaid: the settlement is kept in ai-proxy's database and billed once credits
 * answers again — as the capture it was, or as a late charge if the hold ran out meanwhile.
 * Real credits service in-process, reached through a TCP proxy the test cuts.
 */
describe('settlements deferred while credits is unreachable', () => {
  let credits: RealCredits;
  let proxy: TcpProxy;
  let h: Harness;
  const PRICE = { input_per_1k: 2_000, output_per_1k: 3_000 };

  const transactionsOf = async (tenantId: string) =>
    (
      await sql<{
        type: string;
        amount: number;
      }>`select type, amount from transactions where tenant_id = ${tenantId} and type <> 'top_up' order by created_at`.execute(
        credits.env.db,
      )
    ).rows;
  const pendingRows = async () =>
    (
      await sql<{
        hold_id: string;
        capture_amount: number;
        attempts: number;
      }>`select hold_id, capture_amount, attempts from pending_settlements`.execute(h.env.db)
    ).rows;
  const heldHold = async (tenantId: string) => {
    for (let i = 0; i < 200; i++) {
      const { rows } = await sql<{ id: string }>`select id from holds where tenant_id = ${tenantId} and status = 'held'`.execute(
        credits.env.db,
      );
      if (rows[0]) return rows[0].id;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('no hold was placed');
  };

  /** A call whose capture finds credits unreachable: answered 200, its cost reported, kept. */
  async function callWhileCreditsDies(tenantId: string) {
    const answer = fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...identityHeaders(tenantId) },
      body: JSON.stringify({ model: 'slow', messages: [{ role: 'user', content: 'bill me later' }] }),
    });
    const holdId = await heldHold(tenantId);
    // Let the hold's answer reach ai-proxy (the call is then with the slow provider, for 1.5 s
    // more), then cut: a wide margin, so a loaded machine does not cut the hold's answer instead.
    await new Promise((r) => setTimeout(r, 500));
    await proxy.stop();
    const res = await answer;
    expect(res.status).toBe(200);
    const cost = Number(res.headers.get('x-tollgate-cost'));
    const body = (await res.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
    expect(cost).toBe(
      Math.ceil((body.usage.prompt_tokens * PRICE.input_per_1k + body.usage.completion_tokens * PRICE.output_per_1k) / 1_000),
    );
    expect(await pendingRows()).toEqual([expect.objectContaining({ hold_id: holdId, capture_amount: cost })]);
    return { holdId, cost };
  }

  beforeAll(async () => {
    credits = await startRealCredits('ai_defer');
    proxy = await startTcpProxy(credits.server.port);
    h = await startHarness({
      label: 'ai_deferred',
      // Retried by hand below, so the test sees each step.
      env: { SETTLEMENT_RETRY_INTERVAL_MS: '0' },
      credits: createCreditsClient({
        baseUrl: `http://127.0.0.1:${proxy.port}`,
        internalSecret: TEST_INTERNAL_SECRET,
        serviceName: 'ai-proxy',
        timeoutMs: 2_000,
        retries: 1,
      }),
      routing: {
        models: {
          slow: { price: PRICE, max_output_tokens: 50, targets: [{ provider: 'mock', model: 'mock-slow', mock: { latency_ms: 2_000 } }] },
        },
      },
    });
  });
  afterAll(async () => {
    await h?.close();
    await proxy?.close();
    await credits?.close();
  });

  it('captures the hold once credits is back, and a second pass finds nothing to do', async () => {
    await credits.topUp('ten_defer_a', 1_000_000);
    const { holdId, cost } = await callWhileCreditsDies('ten_defer_a');

    // Still unreachable: the retry keeps the row for later.
    await sql`update pending_settlements set next_attempt_at = now()`.execute(h.env.db);
    expect(await h.app.deferredSettlements.retryDue()).toMatchObject({ settled: 0, retryLater: 1 });
    await sql`update pending_settlements set next_attempt_at = now()`.execute(h.env.db);

    await proxy.start();
    expect(await h.app.deferredSettlements.retryDue()).toMatchObject({ settled: 1, retryLater: 0 });
    expect(await pendingRows()).toEqual([]);
    expect(await transactionsOf('ten_defer_a')).toEqual([{ type: 'capture', amount: cost }]);
    const { rows } = await sql<{
      status: string;
      captured_amount: number;
    }>`select status, captured_amount from holds where id = ${holdId}`.execute(credits.env.db);
    expect(rows[0]).toEqual({ status: 'captured', captured_amount: cost });
    expect(await credits.balance('ten_defer_a')).toMatchObject({ available: 1_000_000 - cost, held: 0 });
    expect(await h.app.deferredSettlements.retryDue()).toMatchObject({ settled: 0, chargedLate: 0, retryLater: 0 });
  });

  it('charges a hold that ran out while credits was away, exactly once', async () => {
    await credits.topUp('ten_defer_b', 1_000_000);
    const { holdId, cost } = await callWhileCreditsDies('ten_defer_b');
    await proxy.start();
    // Meanwhile the hold's funds went back (it expired or was released).
    const released = await fetch(`${credits.url}/internal/v1/holds/${holdId}/release`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...serviceHeaders('ai-proxy') },
      body: '{}',
    });
    expect(released.status).toBe(200);
    await sql`update pending_settlements set next_attempt_at = now()`.execute(h.env.db);

    expect(await h.app.deferredSettlements.retryDue()).toMatchObject({ chargedLate: 1, retryLater: 0 });
    expect(await transactionsOf('ten_defer_b')).toEqual([{ type: 'charge', amount: cost }]);
    expect(await credits.balance('ten_defer_b')).toMatchObject({ available: 1_000_000 - cost, held: 0 });
    expect(await pendingRows()).toEqual([]);
    expect((await reconcile(credits.env.db)).ok).toBe(true);
  });
});
