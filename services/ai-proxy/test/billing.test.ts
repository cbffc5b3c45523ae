import { identityHeaders, parseSse, serviceHeaders } from '@tollgate/testkit';
import { sql } from 'kysely';
import { listUsageForTenant } from '../src/usage/repository';
import { startHarness, type Harness } from './support/harness';
import { type RealCredits, startRealCredits } from '@tollgate/credits/test/support/real-credits';

/**
 * Billing against the REAL credits service, run in-process on its own schema: holds for the
 * worst case, one capture per call at its real cost, partial capture when the client leaves,
 * and a ledger that still reconciles.
 */
describe('billing through the real credits service', () => {
  let credits: RealCredits;
  let h: Harness;
  const PRICE = { input_per_1k: 2_000, output_per_1k: 3_000 };
  const mockTokens = (text: string) => Math.max(1, Math.ceil(text.length / 4));
  const costOf = (prompt: number, completion: number) =>
    Math.ceil((prompt * PRICE.input_per_1k + completion * PRICE.output_per_1k) / 1_000);

  const topUp = (tenantId: string, amount: number) => credits.topUp(tenantId, amount);
  const balance = (tenantId: string) => credits.balance(tenantId);
  const holdsOf = async (tenantId: string) =>
    (
      await sql<{
        id: string;
        status: string;
        amount: number;
        captured_amount: number;
      }>`select id, status, amount, captured_amount from holds where tenant_id = ${tenantId}`.execute(credits.env.db)
    ).rows;
  const capturesOf = async (tenantId: string) =>
    (
      await sql<{
        hold_id: string;
        amount: number;
      }>`select hold_id, amount from transactions where tenant_id = ${tenantId} and type = 'capture'`.execute(credits.env.db)
    ).rows;
  const chat = (tenantId: string, body: Record<string, unknown>, signal?: AbortSignal) =>
    fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...identityHeaders(tenantId) },
      body: JSON.stringify(body),
      ...(signal ? { signal } : {}),
    });

  beforeAll(async () => {
    credits = await startRealCredits('ai_bill');
    h = await startHarness({
      label: 'ai_billing',
      credits: credits.client('ai-proxy'),
      routing: {
        models: {
          // The latency keeps all 100 calls in flight together, so every hold is taken before any capture.
          slow: { price: PRICE, max_output_tokens: 500, targets: [{ provider: 'mock', model: 'mock-slow', mock: { latency_ms: 3_000 } }] },
          streamy: {
            price: PRICE,
            max_output_tokens: 500,
            targets: [{ provider: 'mock', model: 'mock-stream', mock: { reply_words: 200, chunk_delay_ms: 5 } }],
          },
        },
      },
    });
  });

  afterAll(async () => {
    await h.close();
    await credits.close();
  });

  it('100 concurrent requests against a balance for 40 worst cases never overdraw, and each success is captured once at its real cost', async () => {
    const tenant = 'bill_concurrent';
    const request = (i: number) => ({ model: 'slow', messages: [{ role: 'user', content: `request number ${i}` }] });
    const worstCase = h.app.chat.prepare({ tenantId: tenant, keyId: 'k', requestId: 'r' }, request(10) as never).worstCase;
    const funded = worstCase * 40;
    await topUp(tenant, funded);

    const responses = await Promise.all(Array.from({ length: 100 }, (_, i) => chat(tenant, request(i + 10))));
    const statuses = responses.map((r) => r.status);
    expect(statuses.every((s) => s === 200 || s === 402)).toBe(true);
    const ok = responses.filter((r) => r.status === 200);
    // The mock's latency normally keeps every call in flight until all holds are taken: then
    // exactly 40 fit. On a loaded machine a capture may free room earlier, so more may pass; the
    // invariant is that holds alive at the same time never exceed the balance.
    expect(ok.length).toBeGreaterThanOrEqual(40);
    const refused = responses.find((r) => r.status === 402);
    if (refused)
      expect(((await refused.json()) as { error: { type: string; code: string } }).error).toMatchObject({
        type: 'insufficient_quota',
        code: 'insufficient_credits',
      });

    let billed = 0;
    for (const res of ok) {
      const body = (await res.json()) as {
        choices: { message: { content: string } }[];
        usage: { prompt_tokens: number; completion_tokens: number };
      };
      const content = body.choices[0]!.message.content;
      const prompt = mockTokens(content.replace(/^Echo: /, ''));
      const expected = costOf(prompt, mockTokens(content));
      expect(body.usage).toMatchObject({ prompt_tokens: prompt, completion_tokens: mockTokens(content) });
      expect(Number(res.headers.get('x-tollgate-cost'))).toBe(expected);
      billed += expected;
    }
    for (const res of responses.filter((r) => r.status === 402 && r !== refused)) await res.arrayBuffer();

    const after = await balance(tenant);
    expect(after.held).toBe(0);
    expect(after.available).toBe(funded - billed);
    expect(after.available).toBeGreaterThanOrEqual(0);

    await h.app.usage.flush();
    const rows = (await listUsageForTenant(h.env.db, tenant)).filter((r) => r.outcome === 'success');
    expect(rows).toHaveLength(ok.length);
    const captures = await capturesOf(tenant);
    expect(captures).toHaveLength(ok.length);
    const captureByHold = new Map(captures.map((c) => [c.hold_id, Number(c.amount)]));
    for (const row of rows) expect(captureByHold.get(row.hold_id!)).toBe(row.cost);
    const holds = await holdsOf(tenant);
    expect(holds.filter((x) => x.status === 'captured')).toHaveLength(ok.length);
    const firstSettled = (
      await sql<{ t: Date }>`select min(finalized_at) as t from holds where tenant_id = ${tenant}`.execute(credits.env.db)
    ).rows[0]!.t;
    const heldTogether = (
      await sql<{
        n: number;
        total: number;
      }>`select count(*) as n, coalesce(sum(amount), 0) as total from holds where tenant_id = ${tenant} and created_at < ${firstSettled}`.execute(
        credits.env.db,
      )
    ).rows[0]!;
    expect(heldTogether.n).toBeLessThanOrEqual(40);
    expect(Number(heldTogether.total)).toBeLessThanOrEqual(funded);
    expect(holds.every((x) => x.status !== 'held')).toBe(true);
    expect((await listUsageForTenant(h.env.db, tenant)).filter((r) => r.outcome === 'insufficient_credits')).toHaveLength(100 - ok.length);
  }, 60_000);

  it('a streamed completion is captured at the cost reported in its usage chunk', async () => {
    const tenant = 'bill_stream';
    await topUp(tenant, 10_000_000);
    const res = await chat(tenant, {
      model: 'streamy',
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 500,
      messages: [{ role: 'user', content: 'long story' }],
    });
    const events = parseSse(await res.text());
    expect(events[events.length - 1]).toBe('[DONE]');
    const usage = (JSON.parse(events[events.length - 2]!) as { usage: { prompt_tokens: number; completion_tokens: number; cost: number } })
      .usage;
    expect(usage.cost).toBe(costOf(usage.prompt_tokens, usage.completion_tokens));
    const captures = await capturesOf(tenant);
    expect(captures.map((c) => Number(c.amount))).toEqual([usage.cost]);
    expect((await balance(tenant)).available).toBe(10_000_000 - usage.cost);
  });

  it('a client that disconnects mid-stream pays for what was generated until then', async () => {
    const tenant = 'bill_disconnect';
    await topUp(tenant, 10_000_000);
    const controller = new AbortController();
    const res = await chat(
      tenant,
      { model: 'streamy', stream: true, max_tokens: 500, messages: [{ role: 'user', content: 'tell me everything' }] },
      controller.signal,
    );
    const reader = res.body!.getReader();
    let received = '';
    const decoder = new TextDecoder();
    while (received.split('\n\n').length < 12) {
      const { value } = await reader.read();
      received += decoder.decode(value, { stream: true });
    }
    controller.abort();
    await reader.cancel().catch(() => undefined);

    // Wait for the proxy to notice, settle and write its row.
    let row;
    for (let i = 0; i < 100 && !row; i++) {
      await new Promise((r) => setTimeout(r, 50));
      await h.app.usage.flush();
      row = (await listUsageForTenant(h.env.db, tenant))[0];
    }
    expect(row).toMatchObject({ outcome: 'client_disconnect' });
    const fullReplyTokens = mockTokens(Array.from({ length: 200 }, () => 'x').join(' ')); // lower bound of the full reply
    expect(row!.completion_tokens).toBeGreaterThan(0);
    expect(row!.completion_tokens).toBeLessThan(fullReplyTokens);
    expect(row!.cost).toBe(costOf(row!.prompt_tokens, row!.completion_tokens));
    const captures = await capturesOf(tenant);
    expect(captures.map((c) => Number(c.amount))).toEqual([row!.cost]);
    expect(await balance(tenant)).toMatchObject({ held: 0, available: 10_000_000 - row!.cost });
  });

  it('the ledger reconciles after all of it', async () => {
    const res = await fetch(`${credits.url}/internal/v1/reconcile`, { method: 'POST', headers: serviceHeaders('ai-proxy') });
    const report = (await res.json()) as { ok: boolean; mismatch: unknown };
    expect(report).toMatchObject({ ok: true, mismatch: null });
  });
});
