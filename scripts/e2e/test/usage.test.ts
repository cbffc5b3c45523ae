import { startMesh, type Mesh } from '@tollgate/testkit';
import { type Api, apiClient, createTenant, eventually } from '../src/api';

/**
 * Issue 17 on the real six-process mesh, through the gateway: tagged calls of every kind, then
 * usage by model / key / day / tag equals what the credits ledger took, to the micro-credit; a
 * key's model allow-list and rotation; every admin action in the audit log once.
 */
describe('usage, key policy and audit through the gateway', () => {
  let mesh: Mesh;
  let api: Api;
  let tenant: { tenantId: string; key: string; keyId: string };

  beforeAll(async () => {
    mesh = await startMesh();
    api = apiClient(mesh.gatewayUrl);
    tenant = await createTenant(api, mesh.adminToken, 'usage-e2e');
    const topUp = await api('POST', `/v1/admin/tenants/${tenant.tenantId}/credits`, {
      token: mesh.adminToken,
      json: { amount: 5_000_000, reason: 'usage e2e' },
    });
    expect(topUp.status).toBe(201);
  }, 90_000);
  afterAll(async () => {
    await mesh?.stop();
  }, 60_000);

  /** Every micro-credit the ledger took from the tenant for calls (everything but top-ups). */
  async function ledgerPaid(key = tenant.key): Promise<number> {
    let paid = 0;
    let cursor: string | null = null;
    do {
      const page: { body: { data: { type: string; amount: number }[]; next_cursor: string | null } } = await api(
        'GET',
        `/v1/credits/transactions?limit=100${cursor ? `&cursor=${cursor}` : ''}`,
        { token: key },
      );
      paid += page.body.data.filter((t) => t.type !== 'top_up').reduce((n, t) => n + Math.abs(t.amount), 0);
      cursor = page.body.next_cursor;
    } while (cursor);
    return paid;
  }

  it('tagged chat, stream, embeddings and async calls: every grouping of /v1/usage equals the ledger', async () => {
    const chat = { model: 'mock-1', messages: [{ role: 'user', content: 'count my spend' }], max_tokens: 32 };
    const tags = (t: string) => ({ 'x-tollgate-tags': t });
    expect(
      (
        await api('POST', '/v1/chat/completions', {
          token: tenant.key,
          json: { ...chat, user: 'u-1', metadata: { ticket: 'T-9' } },
          headers: tags('team=search,feature=summary'),
        })
      ).status,
    ).toBe(200);
    const stream = await fetch(`${mesh.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tenant.key}`, 'content-type': 'application/json', ...tags('team=ads') },
      body: JSON.stringify({ ...chat, stream: true }),
    });
    expect((await stream.text()).trim().endsWith('data: [DONE]')).toBe(true);
    expect(
      (
        await api('POST', '/v1/embeddings', {
          token: tenant.key,
          json: { model: 'mock-embed-1', input: ['a', 'b'] },
          headers: tags('team=ads'),
        })
      ).status,
    ).toBe(200);
    const queued = await api('POST', '/v1/async/chat/completions', { token: tenant.key, json: chat, headers: tags('team=batch') });
    expect(queued.status).toBe(202);
    await eventually(
      async () => (await api('GET', `/v1/async/jobs/${queued.body.id}`, { token: tenant.key })).body.status === 'succeeded',
      'the queued completion',
    );
    expect((await api('POST', '/v1/chat/completions', { token: tenant.key, json: chat, headers: tags('team') })).status).toBe(400);

    const paid = await ledgerPaid();
    expect(paid).toBeGreaterThan(0);
    // The async row lands when its job settles; unbilled rows are batched: wait for all four.
    await eventually(async () => (await api('GET', '/v1/usage', { token: tenant.key })).body.totals?.requests === 4, 'four usage rows');
    for (const groupBy of ['model', 'key', 'day', 'tag:team', 'tag:feature']) {
      const report = await api('GET', `/v1/usage?group_by=${groupBy}`, { token: tenant.key });
      expect({ groupBy, status: report.status, cost: report.body.totals.cost }).toEqual({ groupBy, status: 200, cost: paid });
    }
    const byTeam = (await api('GET', '/v1/usage?group_by=tag:team', { token: tenant.key })).body.data;
    expect(byTeam.map((g: { group: string }) => g.group)).toEqual(['ads', 'batch', 'search']);
    const rows = (await api('GET', '/v1/usage/requests?limit=10', { token: tenant.key })).body.data;
    expect(rows.find((r: { user: string | null }) => r.user === 'u-1')).toMatchObject({
      tags: { team: 'search', feature: 'summary' },
      metadata: { ticket: 'T-9' },
    });
    const csv = await fetch(`${mesh.gatewayUrl}/v1/usage/export?format=csv`, { headers: { authorization: `Bearer ${tenant.key}` } });
    expect(csv.status).toBe(200);
    expect((await csv.text()).trim().split('\n')).toHaveLength(5);
    const adminReport = await api('GET', `/v1/admin/usage?group_by=tenant&tenant_id=${tenant.tenantId}`, { token: mesh.adminToken });
    expect(adminReport.body.totals.cost).toBe(paid);
    expect((await api('GET', '/v1/admin/usage', { token: tenant.key })).status).toBe(403);
  });

  it("a key's allowed_models and a rotation, then the audit log holds each admin action once", async () => {
    const patched = await api('PATCH', `/v1/admin/keys/${tenant.keyId}`, { token: mesh.adminToken, json: { allowed_models: ['mock-1'] } });
    expect(patched.status).toBe(200);
    const models = await api('GET', '/v1/models', { token: tenant.key });
    expect(models.body.data.map((m: { id: string }) => m.id)).toEqual(['mock-1']);
    const refused = await api('POST', '/v1/embeddings', { token: tenant.key, json: { model: 'mock-embed-1', input: 'x' } });
    expect(refused.status).toBe(404);
    expect(refused.body.error.code).toBe('model_not_found');

    const rotated = await api('POST', `/v1/admin/keys/${tenant.keyId}/rotate`, { token: mesh.adminToken, json: { grace_s: 600 } });
    expect(rotated.status).toBe(200);
    expect((await api('GET', '/v1/models', { token: tenant.key })).status).toBe(200);
    expect((await api('GET', '/v1/models', { token: rotated.body.key })).status).toBe(200);

    const audit = await eventually(async () => {
      const page = await api('GET', `/v1/admin/audit-log?limit=100`, { token: mesh.adminToken });
      const mine = page.body.data.filter((e: { tenant_id: string | null }) => e.tenant_id === tenant.tenantId);
      return mine.length >= 5 ? mine : undefined;
    }, 'the audit entries');
    expect(audit.map((e: { action: string }) => e.action).sort()).toEqual([
      'POST /v1/admin/tenants/:id/credits',
      'key.create',
      'key.rotate',
      'key.update',
      'tenant.create',
    ]);
  });
  it("a key's budget: 50 concurrent calls spend at most the budget; the rest are 402 budget_exceeded with resets_at", async () => {
    const budgeted = await createTenant(api, mesh.adminToken, 'budget-e2e');
    expect(
      (
        await api('POST', `/v1/admin/tenants/${budgeted.tenantId}/credits`, {
          token: mesh.adminToken,
          json: { amount: 50_000_000, reason: 'budget e2e' },
        })
      ).status,
    ).toBe(201);
    const chat = { model: 'mock-1', messages: [{ role: 'user', content: 'spend carefully' }], max_tokens: 32 };
    const setBudget = async (amount: number) => {
      const res = await api('PATCH', `/v1/admin/keys/${budgeted.keyId}`, {
        token: mesh.adminToken,
        json: { budget: { amount, period: 'day' } },
      });
      expect(res.status).toBe(200);
      expect(res.body.budget).toEqual({ amount, period: 'day' });
    };
    // A budget too small for one call: refused, and the answer says what one call reserves (its worst case) and when it resets.
    await setBudget(1);
    const tooSmall = await api('POST', '/v1/chat/completions', { token: budgeted.key, json: chat });
    expect(tooSmall.status).toBe(402);
    expect(tooSmall.body.error.code).toBe('budget_exceeded');
    const [, reserves, resetsAt] = /reserves up to (\d+),.* resets at (\S+)$/.exec(tooSmall.body.error.message) ?? [];
    expect(Number(reserves)).toBeGreaterThan(0);
    expect(new Date(resetsAt!).getTime()).toBeGreaterThan(Date.now());
    // A queued completion reserves from the same budget (its job kept the key's budget).
    const queued = await api('POST', '/v1/async/chat/completions', { token: budgeted.key, json: chat });
    expect(queued.status).toBe(202);
    const failed = await eventually(async () => {
      const job = await api('GET', `/v1/async/jobs/${queued.body.id}`, { token: budgeted.key });
      return job.body.status === 'failed' ? job.body : undefined;
    }, 'the queued completion to fail on the budget');
    expect(failed.error.code).toBe('BUDGET_EXCEEDED');

    // Room for three calls' worst case: 50 at once spend at most that, never more.
    const budget = 3 * Number(reserves);
    await setBudget(budget);
    const results = await Promise.all(
      Array.from({ length: 50 }, () => api('POST', '/v1/chat/completions', { token: budgeted.key, json: chat })),
    );
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status !== 200);
    expect(ok.length).toBeGreaterThanOrEqual(3);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect(r.status).toBe(402);
      expect(r.body.error.code).toBe('budget_exceeded');
    }
    const spent = await ledgerPaid(budgeted.key);
    expect(spent).toBeGreaterThan(0);
    expect(spent).toBeLessThanOrEqual(budget);
  });
});
