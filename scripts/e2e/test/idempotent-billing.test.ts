import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startMesh, type Mesh } from '@tollgate/testkit';
import { type Api, apiClient, createTenant, eventually } from '../src/api';

/**
 * Issue 14: a client that hangs up and retries with the same Idempotency-Key pays once — through
 * the real gateway, ai-proxy and credits ledger.
 */
describe('a retry under the same Idempotency-Key pays once', () => {
  let mesh: Mesh;
  let api: Api;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-idem-'));
    const routing = path.join(dir, 'routing.json');
    // Slow enough that the client hangs up while the call is still running.
    writeFileSync(
      routing,
      JSON.stringify({
        models: {
          slow: {
            price: { input_per_1k: 1_000, output_per_1k: 1_000 },
            targets: [{ provider: 'mock', model: 'mock-slow', mock: { latency_ms: 5_000 } }],
          },
        },
      }),
    );
    mesh = await startMesh({ env: { ROUTING_CONFIG_PATH: routing } });
    api = apiClient(mesh.gatewayUrl);
  }, 90_000);
  afterAll(async () => {
    await mesh?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('a client that hangs up mid-call and retries gets the first answer, charged once', async () => {
    const tenant = await createTenant(api, mesh.adminToken, 'hangup');
    expect((await api('POST', `/v1/admin/tenants/${tenant.tenantId}/credits`, { token: mesh.adminToken, json: { amount: 1_000_000 } })).status).toBe(201);
    const body = { model: 'slow', messages: [{ role: 'user', content: 'bill me once' }] };
    const headers = { 'idempotency-key': 'hangup-1' };

    const client = new AbortController();
    const first = fetch(`${mesh.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tenant.key}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
      signal: client.signal,
    }).catch((err: Error) => err);
    // The call is running once its hold is taken: then the client hangs up.
    await eventually(async () => (await api('GET', '/v1/credits/balance', { token: tenant.key })).body.held > 0, 'the hold');
    client.abort();
    expect(((await first) as Error).name).toBe('AbortError');

    // The retry waits (409) while the first call finishes, then gets its answer.
    const retry = await eventually(async () => {
      const res = await api('POST', '/v1/chat/completions', { token: tenant.key, json: body, headers });
      return res.status === 409 ? undefined : res;
    }, 'the retry to be answered');
    expect(retry.status).toBe(200);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.body.choices[0].message.content).toBe('Echo: bill me once');

    const settled = await eventually(async () => {
      const balance = (await api('GET', '/v1/credits/balance', { token: tenant.key })).body;
      return balance.held === 0 ? balance : undefined;
    }, 'every hold settled');
    const transactions = (await api('GET', '/v1/credits/transactions', { token: tenant.key })).body.data as { type: string; amount: number }[];
    const charged = transactions.filter((t) => t.type !== 'top_up');
    expect(charged).toEqual([expect.objectContaining({ type: 'capture', amount: Number(retry.headers.get('x-tollgate-cost')) })]);
    expect(settled.available).toBe(1_000_000 - charged[0]!.amount);
  });
});
