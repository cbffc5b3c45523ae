import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { startMesh, type Mesh } from '@tollgate/testkit';
import { apiClient, createTenant } from '../src/api';

/** The mesh as `npm start` runs it: six processes, only the gateway called. */
describe('the mesh', () => {
  let mesh: Mesh;
  beforeAll(async () => {
    mesh = await startMesh();
  }, 90_000);
  afterAll(async () => {
    await mesh?.stop();
  });

  it('brings every service to ready and the gateway reports each upstream', async () => {
    const res = await fetch(`${mesh.gatewayUrl}/readyz`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { checks: Record<string, { ok: boolean }> };
    for (const upstream of ['ai-proxy', 'credits', 'upload', 'image-pipeline', 'webhook']) {
      expect(body.checks[`upstream:${upstream}`]).toMatchObject({ ok: true });
    }
  });

  // npm test runs on the .nvmrc Node (fetched from the npm registry where the machine's Node is
  // older); every service process must run on that same binary, not fall back to the old one.
  (process.platform === 'linux' ? it : it.skip)('runs every service on Node 24 or later: the Node this test runs on', () => {
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(24);
    for (const [name, child] of Object.entries(mesh.processes)) {
      const exe = realpathSync(`/proc/${child.pid}/exe`);
      const version = execFileSync(exe, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
      expect(`${name}: ${version}`).toBe(`${name}: ${process.versions.node}`);
    }
  });

  it('carries the request id and trace from the gateway to a service and back', async () => {
    const requestId = `e2e-req-${Date.now()}`;
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await fetch(`${mesh.gatewayUrl}/v1/credits/balance`, {
      headers: { authorization: `Bearer ${mesh.adminToken}`, 'x-request-id': requestId, traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    expect(res.headers.get('x-request-id')).toBe(requestId);
    await res.arrayBuffer();
    // The service's own log lines for this request carry the same request id and trace id.
    const until = Date.now() + 5_000;
    let lines: Record<string, unknown>[] = [];
    let gatewayLines: Record<string, unknown>[] = [];
    while (Date.now() < until) {
      lines = mesh.logs.credits.filter((l) => l['request_id'] === requestId);
      gatewayLines = mesh.logs['edge-gateway'].filter((l) => l['request_id'] === requestId);
      if (lines.length && gatewayLines.length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((l) => l['trace_id'] === traceId)).toBe(true);
    expect(gatewayLines.length).toBeGreaterThan(0);
    expect(gatewayLines.every((l) => l['trace_id'] === traceId)).toBe(true);
  });

  it('x-tollgate-cache: on, sent by a client, reaches ai-proxy through the gateway: the repeat is a cache hit', async () => {
    const api = apiClient(mesh.gatewayUrl);
    const tenant = await createTenant(api, mesh.adminToken, 'cache-user');
    const topUp = await api('POST', `/v1/admin/tenants/${tenant.tenantId}/credits`, { token: mesh.adminToken, json: { amount: 1_000_000, reason: 'trial' } });
    expect(topUp.status).toBe(201);
    const ask = () =>
      api('POST', '/v1/chat/completions', {
        token: tenant.key,
        headers: { 'x-tollgate-cache': 'on' },
        json: { model: 'mock-1', messages: [{ role: 'user', content: 'cache me' }], max_tokens: 16 },
      });
    const first = await ask();
    expect(first.status).toBe(200);
    expect(first.headers.get('x-tollgate-cache')).toBe('miss');
    const second = await ask();
    expect(second.status).toBe(200);
    expect(second.headers.get('x-tollgate-cache')).toBe('hit');
    expect(second.body.choices).toEqual(first.body.choices);
  });

  it('refuses an unauthenticated call at the gateway with the error envelope', async () => {
    const res = await fetch(`${mesh.gatewayUrl}/v1/credits/balance`);
    expect(res.status).toBe(401);
    const body = (await res.json()) as { error: { code: string; request_id: string } };
    expect(body.error.code).toBe('UNAUTHENTICATED');
    expect(body.error.request_id).toBe(res.headers.get('x-request-id'));
  });
});
