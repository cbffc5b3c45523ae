import { startMesh, type Mesh } from '@tollgate/testkit';
import { apiClient, createTenant } from '../src/api';
import { runFuzz } from '../src/fuzz';

/** A few hundred malformed requests on every public route of the real mesh (scripts/fuzz runs thousands). */
describe('fuzzing the public API', () => {
  let mesh: Mesh;
  beforeAll(async () => {
    mesh = await startMesh();
  });
  afterAll(async () => {
    await mesh?.stop();
  }, 60_000);

  // `npm run fuzz` sends thousands; `npm test` a few hundred.
  const count = Number(process.env['FUZZ_COUNT'] ?? 400);

  it('never answers 5xx, always answers in the error envelope, and no process exits', async () => {
    // A real tenant's key, with credits, so requests get past auth and billing into each service.
    const api = apiClient(mesh.gatewayUrl);
    const tenant = await createTenant(api, mesh.adminToken, 'fuzz');
    await api('POST', `/v1/admin/tenants/${tenant.tenantId}/credits`, { token: mesh.adminToken, json: { amount: 50_000_000, reason: 'fuzz' } });
    const result = await runFuzz({ baseUrl: mesh.gatewayUrl, credential: tenant.key, count, seed: Number(process.env['FUZZ_SEED'] ?? 20261123) });
    expect(result.sent).toBeGreaterThan(count * 0.9);
    expect(result.findings.map((f) => `${f.case.name} ${f.case.path} → ${f.status}: ${f.problem} ${f.body}`)).toEqual([]);
    for (const [name, child] of Object.entries(mesh.processes)) {
      expect({ name, exitCode: child.exitCode }).toEqual({ name, exitCode: null });
    }
    const ready = await fetch(`${mesh.gatewayUrl}/readyz`);
    expect(ready.status).toBe(200);
  });
});
