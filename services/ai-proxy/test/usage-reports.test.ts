import { createMetrics } from '@tollgate/common';
import { identityHeaders, silentLogger } from '@tollgate/testkit';
import { createAiMetrics } from '../src/metrics';
import { createCallRecorder } from '../src/usage/recorder';
import { createUsageWriter } from '../src/usage/writer';
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { AiDatabase, NewUsageRow } from '../src/db';
import { rollUpUsage } from '../src/usage/rollup';
import { FAST_DEFAULTS, type Harness, startHarness } from './support/harness';
import { type RealCredits, startRealCredits } from '@tollgate/credits/test/support/real-credits';

/**
 * Usage reports against the REAL credits ledger: whatever the grouping, and whether the days come
 * from raw rows or the daily rollup, totals.cost equals what the ledger captured for those calls.
 */
describe('usage reports', () => {
  let credits: RealCredits;
  let h: Harness;
  let db: Kysely<AiDatabase>;
  const TENANT = 'usage_t1';
  const OTHER = 'usage_t2';

  /** What the ledger took from a tenant for calls (captures, overage and cache charges). */
  const ledgerPaid = async (tenantId: string) =>
    Number(
      (
        await sql<{
          paid: string | null;
        }>`select sum(amount)::text as paid from transactions where tenant_id = ${tenantId} and type <> 'top_up'`.execute(credits.env.db)
      ).rows[0]?.paid ?? 0,
    );
  const call = (path: string, tenantId: string, body: unknown, headers: Record<string, string> = {}, keyId = 'key_a') =>
    fetch(`${h.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...identityHeaders(tenantId, undefined, keyId), ...headers },
      body: JSON.stringify(body),
    });
  const get = async (path: string, tenantId = TENANT, scopes?: string[]) => {
    const res = await fetch(`${h.url}${path}`, { headers: identityHeaders(tenantId, scopes) });
    return {
      status: res.status,
      body: (res.headers.get('content-type') ?? '').includes('json') ? ((await res.json()) as any) : await res.text(),
    };
  };

  beforeAll(async () => {
    credits = await startRealCredits('ai_usage');
    h = await startHarness({
      label: 'ai_usage',
      credits: credits.client('ai-proxy'),
      routing: {
        defaults: FAST_DEFAULTS,
        models: {
          small: {
            price: { input_per_1k: 1_000, output_per_1k: 3_000 },
            max_output_tokens: 50,
            targets: [{ provider: 'mock', model: 'small' }],
          },
          big: {
            price: { input_per_1k: 7_000, output_per_1k: 11_000 },
            max_output_tokens: 50,
            targets: [{ provider: 'mock', model: 'big' }],
          },
          emb: { type: 'embedding', price: { input_per_1k: 500 }, targets: [{ provider: 'mock', model: 'emb' }] },
        },
      },
    });
    db = h.env.db as Kysely<AiDatabase>;
    await credits.topUp(TENANT, 50_000_000);
    await credits.topUp(OTHER, 50_000_000);
    const msg = (content: string) => [{ role: 'user', content }];
    const calls = [
      call(
        '/v1/chat/completions',
        TENANT,
        { model: 'small', messages: msg('hello there'), user: 'alice', metadata: { ticket: 'T-1' } },
        { 'x-tollgate-tags': 'team=search,feature=summary' },
      ),
      call(
        '/v1/chat/completions',
        TENANT,
        { model: 'big', messages: msg('a longer question for the big model') },
        { 'x-tollgate-tags': 'team=search' },
        'key_b',
      ),
      call('/v1/chat/completions', TENANT, { model: 'small', messages: msg('stream me'), stream: true }, { 'x-tollgate-tags': 'team=ads' }),
      call('/v1/embeddings', TENANT, { model: 'emb', input: ['one', 'two'] }, { 'x-tollgate-tags': 'team=ads,feature=index' }, 'key_b'),
      call('/v1/chat/completions', OTHER, { model: 'big', messages: msg('someone else') }),
    ];
    for (const res of await Promise.all(calls)) await res.text();
    await h.app.usage.flush();
  });
  afterAll(async () => {
    await h?.close();
    await credits?.close();
  });

  it('refuses a malformed X-Tollgate-Tags header with a 400, before anything is held', async () => {
    for (const tags of [
      'team',
      'team=search,team=ads',
      'bad name=x',
      'a=' + 'x'.repeat(200),
      Array.from({ length: 11 }, (_, i) => `t${i}=v`).join(','),
    ]) {
      const res = await call(
        '/v1/chat/completions',
        TENANT,
        { model: 'small', messages: [{ role: 'user', content: 'x' }] },
        { 'x-tollgate-tags': tags },
      );
      expect(res.status).toBe(400);
      expect(((await res.json()) as any).error.message).toMatch(/tag/i);
    }
    const async = await call(
      '/v1/async/chat/completions',
      TENANT,
      { model: 'small', messages: [{ role: 'user', content: 'x' }] },
      { 'x-tollgate-tags': 'x' },
    );
    expect(async.status).toBe(400);
    expect(((await async.json()) as any).error.code).toBe('VALIDATION_FAILED');
  });

  it('totals.cost equals the ledger to the micro-credit, whatever the grouping', async () => {
    const paid = await ledgerPaid(TENANT);
    expect(paid).toBeGreaterThan(0);
    for (const groupBy of ['model', 'key', 'day', 'tag:team', 'tag:feature']) {
      const { status, body } = await get(`/v1/usage?group_by=${groupBy}`);
      expect(status).toBe(200);
      expect(body.totals.cost).toBe(paid);
      expect(body.data.reduce((n: number, g: any) => n + g.cost, 0)).toBe(paid);
    }
    const byModel = (await get('/v1/usage?group_by=model')).body;
    expect(byModel.data.map((g: any) => g.group)).toEqual(['big', 'emb', 'small']);
    expect(byModel.data.find((g: any) => g.group === 'small').requests).toBe(2);
    const byTeam = (await get('/v1/usage?group_by=tag:team')).body;
    expect(byTeam.data.map((g: any) => [g.group, g.requests])).toEqual([
      ['ads', 2],
      ['search', 2],
    ]);
    // Calls without the tag form one group (null).
    const byFeature = (await get('/v1/usage?group_by=tag:feature')).body;
    expect(byFeature.data.map((g: any) => [g.group, g.requests])).toEqual([
      ['index', 1],
      ['summary', 1],
      [null, 2],
    ]);
    const byKey = (await get('/v1/usage?group_by=key')).body;
    expect(byKey.data.map((g: any) => g.group)).toEqual(['key_a', 'key_b']);
    // The other tenant's call is not in this tenant's report.
    expect(byModel.totals.requests).toBe(4);
    expect((await get('/v1/usage', OTHER)).body.totals.cost).toBe(await ledgerPaid(OTHER));
  });

  it('checks the query and the scope', async () => {
    expect((await get('/v1/usage?group_by=tenant')).status).toBe(400);
    expect((await get('/v1/usage?group_by=tag:bad%20name')).status).toBe(400);
    expect((await get('/v1/usage?from=2026-02-01&to=2026-01-01')).status).toBe(400);
    expect((await get('/v1/usage?from=yesterday')).status).toBe(400);
    expect((await get('/v1/usage?extra=1')).status).toBe(400);
    expect((await get('/v1/usage', TENANT, ['completion'])).status).toBe(403);
    expect((await get('/v1/admin/usage', TENANT)).status).toBe(403);
  });

  it('lists one row per call with attribution, paginated by cursor, only the tenant’s own', async () => {
    const seen: any[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: any } = await get(`/v1/usage/requests?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      seen.push(...page.body.data);
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toHaveLength(4);
    expect(new Set(seen.map((r) => r.id)).size).toBe(4);
    const tagged = seen.find((r) => r.user === 'alice');
    expect(tagged).toEqual(
      expect.objectContaining({
        model: 'small',
        key_id: 'key_a',
        status: 'success',
        tags: { team: 'search', feature: 'summary' },
        metadata: { ticket: 'T-1' },
      }),
    );
    expect(tagged.cost).toBeGreaterThan(0);
    expect((await get('/v1/usage/requests?status=success')).body.data).toHaveLength(4);
    expect((await get('/v1/usage/requests?status=error')).body.data).toEqual([]);
    expect((await get('/v1/usage/requests?status=bogus')).status).toBe(400);
    const byKeyB = (await get('/v1/usage/requests?key_id=key_b')).body.data;
    expect(byKeyB.map((r: any) => r.model).sort()).toEqual(['big', 'emb']);
    expect((await get('/v1/usage/requests?cursor=garbage')).status).toBe(400);
  });

  it('exports the same rows as CSV', async () => {
    const res = await fetch(`${h.url}/v1/usage/export?format=csv`, { headers: identityHeaders(TENANT) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await res.text()).trim().split('\n');
    expect(lines[0]).toBe('id,created_at,kind,model,key_id,status,input_tokens,output_tokens,cost,latency_ms,request_id,cached,user,tags');
    expect(lines).toHaveLength(5);
    const costColumn = lines[0]!.split(',').indexOf('cost');
    // Tags are quoted JSON (commas inside), so read cost from the left, before any quoted field.
    expect(lines.slice(1).reduce((n, l) => n + Number(l.split(',')[costColumn]), 0)).toBe(await ledgerPaid(TENANT));
    expect(lines.some((l) => l.includes('"{""team"":""search"",""feature"":""summary""}"'))).toBe(true);
    expect((await get('/v1/usage/export?format=json')).status).toBe(400);
  });

  it('operators see every tenant (admin scope)', async () => {
    const { status, body } = await get('/v1/admin/usage?group_by=tenant', 'admin', ['admin']);
    expect(status).toBe(200);
    const tenants = Object.fromEntries(body.data.map((g: any) => [g.group, g.cost]));
    expect(tenants[TENANT]).toBe(await ledgerPaid(TENANT));
    expect(tenants[OTHER]).toBe(await ledgerPaid(OTHER));
  });

  it('the rollup is idempotent, and reports read it plus the raw tail, still equal to the ledger', async () => {
    const paid = await ledgerPaid(TENANT);
    const before = (await get('/v1/usage?group_by=tag:team')).body;
    // A clock one day ahead: today's rows form a complete day, rolled up.
    const tomorrow = new Date(Date.now() + 86_400_000);
    const first = await rollUpUsage(db, { now: tomorrow, retentionDays: 90 });
    expect(first.days).toHaveLength(1);
    const rolledUp = async () =>
      (
        await sql<{
          plain: string;
          tagged: string;
        }>`select (select sum(requests) from usage_daily)::text as plain, (select sum(requests) from usage_daily_tags)::text as tagged`.execute(
          db,
        )
      ).rows;
    const rolled = await rolledUp();
    await rollUpUsage(db, { now: tomorrow, retentionDays: 90 });
    expect(await rolledUp()).toEqual(rolled);
    expect(rolled).toEqual([{ plain: '5', tagged: '5' }]);

    // A whole-day range reads the rollup; the report is unchanged.
    const today = new Date().toISOString().slice(0, 10);
    const next = tomorrow.toISOString().slice(0, 10);
    const wholeDay = (await get(`/v1/usage?group_by=tag:team&from=${today}&to=${next}`)).body;
    expect(wholeDay.totals.cost).toBe(paid);
    expect(wholeDay.data).toEqual(before.data);

    // Raw rows past retention are purged; the whole-day report still answers from the rollup.
    const later = new Date(Date.now() + 200 * 86_400_000);
    const purge = await rollUpUsage(db, { now: later, retentionDays: 90 });
    expect(purge.purged).toBe(5);
    expect((await get(`/v1/usage?group_by=model&from=${today}&to=${next}`)).body.totals.cost).toBe(paid);
    expect((await get(`/v1/admin/usage?group_by=day&from=${today}&to=${next}`, 'admin', ['admin'])).body.data).toEqual([
      expect.objectContaining({ group: today, requests: 5, cost: paid + (await ledgerPaid(OTHER)) }),
    ]);
  });

  it("a billed call's row is written before the recorder resolves; unbilled rows wait for the batch", async () => {
    const writer = createUsageWriter({ db, logger: silentLogger('ai-proxy'), intervalMs: 3_600_000 });
    const record = createCallRecorder(
      writer,
      createAiMetrics(createMetrics('ai-proxy', { collectDefault: false }), () => []),
    );
    const base = {
      caller: { tenantId: 'usage_durable', keyId: 'key_d', requestId: 'req_d', tags: { team: 'x' } },
      route: { alias: 'small' } as never,
      kind: 'chat' as const,
      stream: false,
      started: performance.now(),
      target: undefined,
      attempts: [],
    };
    await record({ ...base, id: 'durable-billed', outcome: 'success', cost: 42, promptTokens: 1, completionTokens: 1 });
    await record({ ...base, id: 'durable-free', outcome: 'error', errorCode: 'UPSTREAM_FAILED' });
    const ids = async () =>
      (await sql<{ id: string }>`select id from usage where tenant_id = 'usage_durable' order by id`.execute(db)).rows.map((r) => r.id);
    expect(await ids()).toEqual(['durable-billed']);
    await writer.close();
    expect(await ids()).toEqual(['durable-billed', 'durable-free']);
  });

  it('concurrent billed rows are group-committed: each resolves only once its own row is stored, in fewer INSERTs than rows', async () => {
    let inserts = 0;
    const counted = db.withPlugin({
      transformQuery: (args) => {
        if (args.node.kind === 'InsertQueryNode') inserts++;
        return args.node;
      },
      transformResult: async (args) => args.result,
    });
    const writer = createUsageWriter({ db: counted, logger: silentLogger('ai-proxy'), intervalMs: 3_600_000 });
    const row = (i: number): NewUsageRow => ({
      id: `grouped-${String(i).padStart(3, '0')}`,
      tenant_id: 'usage_grouped',
      key_id: 'key_g',
      request_id: `req_g${i}`,
      kind: 'chat',
      model: 'small',
      target: null,
      provider: null,
      upstream_model: null,
      stream: false,
      cached: false,
      prompt_tokens: 1,
      completion_tokens: 1,
      cost: 1,
      hold_id: null,
      outcome: 'success',
      error_code: null,
      attempts: 1,
      latency_ms: 1,
      ttft_ms: null,
      created_at: new Date(),
      user: null,
      metadata: null,
    });
    const stored = async (id: string) =>
      (await sql<{ n: number }>`select count(*)::int as n from usage where id = ${id}`.execute(db)).rows[0]!.n === 1;
    const results = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        await writer.writeNow(row(i));
        return stored(row(i).id);
      }),
    );
    expect(results.every(Boolean)).toBe(true);
    expect(inserts).toBeGreaterThan(0);
    expect(inserts).toBeLessThan(50);
    await writer.close();
  });

  it('a queued completion keeps its tags until its usage row is written', async () => {
    const res = await call(
      '/v1/async/chat/completions',
      'usage_async',
      { model: 'small', messages: [{ role: 'user', content: 'later' }], user: 'bob' },
      { 'x-tollgate-tags': 'team=batch' },
    );
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    await credits.topUp('usage_async', 1_000_000);
    await h.app.asyncService.run(id, { attemptsMade: 0, opts: { attempts: 1 } });
    const rows = (await get('/v1/usage/requests', 'usage_async')).body.data;
    expect(rows).toEqual([expect.objectContaining({ kind: 'async_chat', tags: { team: 'batch' }, user: 'bob' })]);
    expect((await get('/v1/usage?group_by=tag:team', 'usage_async')).body.totals.cost).toBe(await ledgerPaid('usage_async'));
  });
});
