import { type FakeOpenAi, identityHeaders, parseSse, startFakeOpenAi } from '@tollgate/testkit';
import { sql } from 'kysely';
import { keepResult, startJob } from '../src/async/repository';
import { listUsageForTenant } from '../src/usage/repository';
import { FAST_DEFAULTS, startHarness, type Harness } from './support/harness';
import { type RealCredits, startRealCredits } from '@tollgate/credits/test/support/real-credits';

/**
 * Calls that used to be free or billed twice (issue 14, item 4), each against the REAL credits
 * ledger: retries under one Idempotency-Key, streams cut mid-way, prompts that tokenise worse
 * than chars / 4, and queued completions retried after they were settled.
 */
describe('money leaks', () => {
  let credits: RealCredits;
  let upstream: FakeOpenAi;
  let h: Harness;
  const PRICE = { input_per_1k: 2_000, output_per_1k: 3_000 };
  const costOf = (prompt: number, completion: number) =>
    Math.ceil((prompt * PRICE.input_per_1k + completion * PRICE.output_per_1k) / 1_000);

  const ledgerOf = async (tenantId: string) =>
    (
      await sql<{
        type: string;
        amount: number;
      }>`select type, amount from transactions where tenant_id = ${tenantId} and type <> 'top_up' order by seq`.execute(credits.env.db)
    ).rows.map((r) => ({ type: r.type, amount: Number(r.amount) }));
  const paid = async (tenantId: string) => (await ledgerOf(tenantId)).reduce((n, t) => n + t.amount, 0);
  const chat = (tenantId: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...identityHeaders(tenantId), ...headers },
      body: JSON.stringify(body),
    });
  /** The usage row of a call, once the writer flushed it. */
  async function usageRow(tenantId: string) {
    for (let i = 0; i < 200; i++) {
      await h.app.usage.flush();
      const rows = await listUsageForTenant(h.env.db, tenantId);
      if (rows.length) return rows;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no usage row for ${tenantId}`);
  }

  beforeAll(async () => {
    credits = await startRealCredits('ai_leaks');
    upstream = await startFakeOpenAi();
    const target = (id: string) => ({ id, provider: 'openai', model: 'fake', base_url: `${upstream.url}/v1`, retries: 0 });
    h = await startHarness({
      label: 'ai_leaks',
      credits: credits.client('ai-proxy'),
      routing: {
        defaults: FAST_DEFAULTS,
        models: {
          m: { price: PRICE, max_output_tokens: 200, targets: [target('m')] },
          // Wide enough that the first chunks always reach the client first, however loaded the machine.
          deadline: { price: PRICE, max_output_tokens: 200, deadline_ms: 3_000, targets: [target('deadline')] },
        },
      },
    });
  });
  afterEach(() => upstream.reset());
  afterAll(async () => {
    await h?.close();
    await upstream?.close();
    await credits?.close();
  });

  describe('a retry under the same Idempotency-Key pays once', () => {
    const body = { model: 'm', messages: [{ role: 'user', content: 'charge me once' }] };

    it('after the first call finished, a retry the gateway could not answer from its store is refused, neither run again free nor billed twice', async () => {
      const tenant = 'leak_idem_seq';
      await credits.topUp(tenant, 1_000_000);
      const first = await chat(tenant, body, { 'idempotency-key': 'retry-1' });
      expect(first.status).toBe(200);
      const cost = Number(first.headers.get('x-tollgate-cost'));
      expect(cost).toBeGreaterThan(0);
      const asked = upstream.requests.length;
      // (The gateway replays a kept answer before the retry gets here; this is the case it kept none.)
      for (let i = 0; i < 2; i++) {
        const retry = await chat(tenant, body, { 'idempotency-key': 'retry-1' });
        expect(retry.status).toBe(409);
      }
      expect(upstream.requests.length).toBe(asked);
      expect(await ledgerOf(tenant)).toEqual([{ type: 'capture', amount: cost }]);
      expect(await credits.balance(tenant)).toEqual(expect.objectContaining({ available: 1_000_000 - cost, held: 0 }));

      // Another key, or another body under the key, is another call.
      expect((await chat(tenant, body, { 'idempotency-key': 'retry-2' })).status).toBe(200);
      expect(
        (await chat(tenant, { ...body, messages: [{ role: 'user', content: 'other' }] }, { 'idempotency-key': 'retry-1' })).status,
      ).toBe(200);
      expect(await ledgerOf(tenant)).toHaveLength(3);
    });

    it('a retry after a failed first try pays for the answer it gets', async () => {
      const tenant = 'leak_idem_failed';
      await credits.topUp(tenant, 1_000_000);
      upstream.behave({ status: 500, times: 1 });
      expect((await chat(tenant, body, { 'idempotency-key': 'after-failure' })).status).toBe(502);
      const retry = await chat(tenant, body, { 'idempotency-key': 'after-failure' });
      expect(retry.status).toBe(200);
      const cost = Number(retry.headers.get('x-tollgate-cost'));
      expect(cost).toBeGreaterThan(0);
      expect(await ledgerOf(tenant)).toEqual([{ type: 'capture', amount: cost }]);
      expect(await credits.balance(tenant)).toEqual(expect.objectContaining({ available: 1_000_000 - cost, held: 0 }));
    });

    it('streams are never replayed, so a streamed retry is another delivery and pays again', async () => {
      const tenant = 'leak_idem_stream';
      await credits.topUp(tenant, 1_000_000);
      for (let i = 0; i < 2; i++) {
        const res = await chat(tenant, { ...body, stream: true }, { 'idempotency-key': 'stream-key' });
        expect(parseSse(await res.text()).at(-1)).toBe('[DONE]');
      }
      const ledger = await ledgerOf(tenant);
      expect(ledger.map((t) => t.type)).toEqual(['capture', 'capture']);
      expect(ledger[0]!.amount).toBeGreaterThan(0);
      expect(ledger[1]!.amount).toBe(ledger[0]!.amount);
    });

    it('while the first call is still running upstream', async () => {
      const tenant = 'leak_idem_overlap';
      await credits.topUp(tenant, 1_000_000);
      let answer!: () => void;
      upstream.behave({ until: new Promise<void>((r) => (answer = r)), times: 2 });
      const first = chat(tenant, body, { 'idempotency-key': 'overlap' });
      const retry = chat(tenant, body, { 'idempotency-key': 'overlap' });
      while (upstream.requests.length < 2) await new Promise((r) => setTimeout(r, 10));
      answer();
      const [a, b] = await Promise.all([first, retry]);
      expect([a.status, b.status]).toEqual([200, 200]);
      const ledger = await ledgerOf(tenant);
      expect(ledger).toHaveLength(1);
      expect(ledger[0]!.type).toBe('capture');
      expect(await credits.balance(tenant)).toEqual(expect.objectContaining({ available: 1_000_000 - ledger[0]!.amount, held: 0 }));
    });
  });

  describe('a stream cut mid-way pays for what was delivered', () => {
    async function cutStream(tenant: string, model: string) {
      await credits.topUp(tenant, 1_000_000);
      const res = await chat(tenant, {
        model,
        stream: true,
        messages: [{ role: 'user', content: 'one two three four five six seven eight' }],
      });
      expect(res.status).toBe(200);
      const events = parseSse(await res.text());
      expect(events).not.toContain('[DONE]');
      const parsed = events.map((e) => JSON.parse(e) as { choices?: { delta: { content?: string } }[]; error?: { code: string } });
      const delivered = parsed.map((p) => p.choices?.[0]?.delta.content ?? '').join('');
      expect(delivered.length).toBeGreaterThan(0);
      const [row] = await usageRow(tenant);
      expect(row).toMatchObject({ outcome: 'stream_error' });
      // Output counted from the delivered text (chars / 4), the prompt from the estimate.
      expect(row!.completion_tokens).toBe(Math.ceil(delivered.length / 4));
      expect(row!.cost).toBe(costOf(row!.prompt_tokens, row!.completion_tokens));
      expect(row!.cost).toBeGreaterThan(0);
      expect(await ledgerOf(tenant)).toEqual([{ type: 'capture', amount: row!.cost }]);
      expect(await credits.balance(tenant)).toEqual(expect.objectContaining({ available: 1_000_000 - row!.cost, held: 0 }));
      return parsed[parsed.length - 1]!.error;
    }

    it('by an upstream failure', async () => {
      // A chunk delay lets the first chunks leave the fake's socket before it is destroyed.
      upstream.behave({ dropAfterChunks: 3, chunkDelayMs: 20, times: 1 });
      expect(await cutStream('leak_stream_drop', 'm')).toMatchObject({ code: 'upstream_failed' });
    });

    it('by an upstream that stalls until the timeout or deadline', async () => {
      upstream.behave({ stallAfterChunks: 3, times: 1 });
      // After the first chunk every failure ends the stream the same way (upstream_failed).
      expect(await cutStream('leak_stream_deadline', 'deadline')).toMatchObject({ code: 'upstream_failed' });
    });
  });

  describe('no call is free because the prompt tokenised worse than estimated', () => {
    it('a CJK prompt at 2 tokens a character is covered by its hold', async () => {
      const tenant = 'leak_cjk';
      const content = '漢字仮名交じり文'.repeat(50); // 400 characters, 1,200 UTF-8 bytes
      const request = { model: 'm', max_tokens: 20, messages: [{ role: 'user', content }] };
      // Funded with exactly the hold: nothing is left for a charge above it.
      const worstCase = h.app.chat.prepare({ tenantId: tenant, keyId: 'k', requestId: 'r' }, request as never).worstCase;
      await credits.topUp(tenant, worstCase);
      upstream.behave({ usage: { prompt_tokens: 800, completion_tokens: 20 }, times: 1 });
      const res = await chat(tenant, request);
      expect(res.status).toBe(200);
      const cost = costOf(800, 20);
      expect(Number(res.headers.get('x-tollgate-cost'))).toBe(cost);
      // Within the hold: one capture, no late charge, nothing owed.
      expect(await ledgerOf(tenant)).toEqual([{ type: 'capture', amount: cost }]);
      expect(await credits.balance(tenant)).toEqual(expect.objectContaining({ available: worstCase - cost, held: 0 }));
    });

    it('usage beyond the hold (an image over its allowance) is charged into a bounded debt, and the tenant is blocked until topped up', async () => {
      const tenant = 'leak_overrun';
      const request = {
        model: 'm',
        max_tokens: 20,
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'what is in this picture?' },
              { type: 'image_url', image_url: { url: 'https://example.com/huge.png' } },
            ],
          },
        ],
      };
      const worstCase = h.app.chat.prepare({ tenantId: tenant, keyId: 'k', requestId: 'r' }, request as never).worstCase;
      await credits.topUp(tenant, worstCase);
      upstream.behave({ usage: { prompt_tokens: 5_000, completion_tokens: 20 }, times: 1 });
      const res = await chat(tenant, request);
      expect(res.status).toBe(200);
      const cost = costOf(5_000, 20);
      expect(cost).toBeGreaterThan(worstCase);
      expect(await paid(tenant)).toBe(cost);
      expect(await credits.balance(tenant)).toEqual(expect.objectContaining({ available: worstCase - cost, held: 0 }));
      // Owing: the next call cannot take a hold.
      const next = await chat(tenant, { model: 'm', messages: [{ role: 'user', content: 'hi' }] });
      expect(next.status).toBe(402);
      await next.arrayBuffer();
      await credits.topUp(tenant, cost);
      expect((await chat(tenant, { model: 'm', messages: [{ role: 'user', content: 'hi' }] })).status).toBe(200);
    });
  });

  describe('a queued completion is charged once per job', () => {
    const submit = async (tenant: string, content: string) => {
      const res = await fetch(`${h.url}/v1/async/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...identityHeaders(tenant) },
        body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content }] }),
      });
      expect(res.status).toBe(202);
      return ((await res.json()) as { id: string }).id;
    };

    it('an attempt that died after keeping its answer, before the capture, is settled by the next one without asking the upstream again', async () => {
      const tenant = 'leak_async_kept';
      await credits.topUp(tenant, 1_000_000);
      const id = await submit(tenant, 'kept answer');
      // Attempt 1 as far as it got: running, answer kept, hold taken under the job's key.
      const request = { model: 'm', messages: [{ role: 'user', content: 'kept answer' }] };
      const { worstCase, route } = h.app.chat.prepare({ tenantId: tenant, keyId: 'k', requestId: 'r' }, request as never);
      const held = await h.credits.hold({
        tenantId: tenant,
        amount: worstCase,
        idempotencyKey: `ai:async:${id}`,
        ttlS: Math.ceil(route.deadlineMs / 1000) + h.config.HOLD_TTL_MARGIN_S,
        description: 'async_chat m',
      });
      const completion = {
        id: `chatcmpl-${id.slice('acmpl_'.length)}`,
        object: 'chat.completion',
        created: 1,
        model: 'fake',
        choices: [{ index: 0, message: { role: 'assistant', content: 'the kept answer' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
      };
      await startJob(h.env.db, id, new Date());
      await keepResult(h.env.db, id, completion, costOf(3, 4), new Date());

      await h.app.asyncService.run(id, { attemptsMade: 1, opts: { attempts: 4 } });
      const job = (await (await fetch(`${h.url}/v1/async/jobs/${id}`, { headers: identityHeaders(tenant) })).json()) as {
        status: string;
        cost: number;
        result: { choices: { message: { content: string } }[] };
      };
      expect(job).toMatchObject({ status: 'succeeded', cost: costOf(3, 4) });
      expect(job.result.choices[0]!.message.content).toBe('the kept answer');
      expect(upstream.requests).toHaveLength(0);
      expect(await ledgerOf(tenant)).toEqual([{ type: 'capture', amount: costOf(3, 4) }]);
      const [row] = await usageRow(tenant);
      expect(row).toMatchObject({ kind: 'async_chat', outcome: 'success', hold_id: held.id, cost: costOf(3, 4) });
    });

    it('an attempt that fails after its capture is retried without a second upstream call or charge', async () => {
      const tenant = 'leak_async';
      await credits.topUp(tenant, 1_000_000);
      const submitted = await fetch(`${h.url}/v1/async/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...identityHeaders(tenant) },
        body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'queue me' }] }),
      });
      expect(submitted.status).toBe(202);
      const { id } = (await submitted.json()) as { id: string };
      // Postgres refuses the first "succeeded" write (after the capture), as a dropped connection would.
      await sql`create sequence leak_fail_once`.execute(h.env.db);
      await sql`create function leak_fail_once() returns trigger language plpgsql as $$
        begin
          if new.status = 'succeeded' then
            if nextval('leak_fail_once') = 1 then raise exception 'injected failure'; end if;
          end if;
          return new;
        end $$`.execute(h.env.db);
      await sql`create trigger leak_fail_once before update on async_jobs for each row execute function leak_fail_once()`.execute(h.env.db);
      try {
        // BullMQ's attempts, run by hand so the test sees each one (no worker in this harness).
        await expect(h.app.asyncService.run(id, { attemptsMade: 0, opts: { attempts: 4 } })).rejects.toThrow();
        const [capture] = await ledgerOf(tenant);
        expect(capture).toMatchObject({ type: 'capture' });
        await h.app.asyncService.run(id, { attemptsMade: 1, opts: { attempts: 4 } });
      } finally {
        await sql`drop trigger leak_fail_once on async_jobs`.execute(h.env.db);
      }
      const job = (await (await fetch(`${h.url}/v1/async/jobs/${id}`, { headers: identityHeaders(tenant) })).json()) as {
        status: string;
        cost: number;
        result: { choices: { message: { content: string } }[] };
      };
      expect(job.status).toBe('succeeded');
      expect(job.result.choices[0]!.message.content).toBe('Echo: queue me');
      expect(upstream.requests.filter((r) => r.path.endsWith('/chat/completions'))).toHaveLength(1);
      expect(await ledgerOf(tenant)).toEqual([{ type: 'capture', amount: job.cost }]);
      expect(await credits.balance(tenant)).toEqual(expect.objectContaining({ available: 1_000_000 - job.cost, held: 0 }));
    });
  });
});
