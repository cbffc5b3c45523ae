import { startMesh, type Mesh } from '@tollgate/testkit';
import { apiClient, createTenant, eventually } from '../src/api';

/**
 * PostgreSQL going away under traffic must not kill a service: a pooled client that is checked
 * out between statements emits 'error' itself, and an unhandled one used to exit the process.
 */
describe('a PostgreSQL outage under traffic', () => {
  let mesh: Mesh;
  afterAll(async () => {
    await mesh?.stop();
  }, 60_000);

  it('leaves every service running and ready once PostgreSQL is back', async () => {
    mesh = await startMesh({ proxyInfra: true });
    const api = apiClient(mesh.gatewayUrl);
    const tenant = await createTenant(api, mesh.adminToken, 'outage');
    await api('POST', `/v1/admin/tenants/${tenant.tenantId}/credits`, { token: mesh.adminToken, json: { amount: 10_000_000, reason: 'outage test' } });
    let stop = false;
    const traffic = async () => {
      while (!stop) {
        const form = new FormData();
        form.append('file', new Blob([Buffer.from('hello world')], { type: 'text/plain' }), 'a.txt');
        await api('POST', '/v1/files', { token: tenant.key, body: form }).catch(() => undefined);
        await api('POST', '/v1/webhooks/endpoints', { token: tenant.key, json: { url: 'http://127.0.0.1:9/hook' } }).catch(() => undefined);
        await api('POST', '/v1/chat/completions', { token: tenant.key, json: { model: 'mock-1', messages: [{ role: 'user', content: 'hi' }] } }).catch(() => undefined);
      }
    };
    const loops = [traffic(), traffic(), traffic(), traffic()];
    await new Promise((r) => setTimeout(r, 1500));
    await mesh.proxies!.postgres.stop();
    await new Promise((r) => setTimeout(r, 5000));
    await mesh.proxies!.postgres.start();
    await new Promise((r) => setTimeout(r, 1000));
    stop = true;
    await Promise.all(loops);

    for (const [name, child] of Object.entries(mesh.processes)) expect({ name, exitCode: child.exitCode }).toEqual({ name, exitCode: null });
    for (const [name, url] of Object.entries(mesh.urls)) {
      await eventually(async () => (await fetch(`${url}/readyz`)).status === 200, `${name} ready again`, 20_000);
    }
    // A fresh tenant: the first one's key has spent its rate limit on the traffic above.
    const after = await createTenant(api, mesh.adminToken, 'after-outage');
    await api('POST', `/v1/admin/tenants/${after.tenantId}/credits`, { token: mesh.adminToken, json: { amount: 1_000_000, reason: 'outage test' } });
    // Breakers opened during the outage half-open within seconds; then calls succeed again.
    await eventually(
      async () => (await api('POST', '/v1/chat/completions', { token: after.key, json: { model: 'mock-1', messages: [{ role: 'user', content: 'back?' }] } })).status === 200,
      'a chat completion to succeed again',
      30_000,
    );
  }, 90_000);
});
