import request from 'supertest';
import { verifyIdentity } from '@tollgate/common';
import { createTestEnv, TEST_INTERNAL_SECRET, type TestEnv } from '@tollgate/testkit';
import { migrations } from '../src/migrations';
import { admin, bearer, createTenantWithKey, type FakeUpstream, type RunningGateway, startFakeUpstream, startGateway } from './helpers';

let env: TestEnv;
let upstream: FakeUpstream;
let gw: RunningGateway;
let alpha: Awaited<ReturnType<typeof createTenantWithKey>>;
let beta: Awaited<ReturnType<typeof createTenantWithKey>>;

beforeAll(async () => {
  env = await createTestEnv('gw_iso');
  await env.migrate(migrations);
  upstream = await startFakeUpstream();
  gw = await startGateway(env, upstream.url);
  alpha = await createTenantWithKey(gw.url, {}, { name: 'alpha' });
  beta = await createTenantWithKey(gw.url, {}, { name: 'beta' });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
  await env?.cleanup();
});

const identitySeenUpstream = () => verifyIdentity(String(upstream.requests.at(-1)!.headers['x-tollgate-identity']), TEST_INTERNAL_SECRET);

describe('tenant isolation', () => {
  // That every public route reaches its service as the key's own tenant, whatever the client
  // claims, is checked for the whole route table in route-security.test.ts.
  it("a tenant's key cannot see or touch tenants and keys (admin only)", async () => {
    for (const [method, path] of [
      ['get', `/v1/admin/tenants/${beta.tenantId}`],
      ['get', `/v1/admin/tenants/${beta.tenantId}/keys`],
      ['post', `/v1/admin/tenants/${beta.tenantId}/keys`],
      ['delete', `/v1/admin/keys/${beta.keyId}`],
      ['patch', `/v1/admin/tenants/${beta.tenantId}`],
      ['post', `/v1/admin/tenants/${beta.tenantId}/credits`],
    ] as const) {
      const res = await request(gw.url)[method](path).set(bearer(alpha.key)).send({});
      expect([method, path, res.status]).toEqual([method, path, 403]);
    }
    // Beta's key still works: nothing was revoked.
    await request(gw.url).get('/v1/models').set(bearer(beta.key)).expect(200);
  });

  it("a tenant's key list holds only its own keys", async () => {
    const list = await request(gw.url).get(`/v1/admin/tenants/${alpha.tenantId}/keys`).set(admin);
    expect(list.body.data.map((k: { id: string }) => k.id)).toEqual([alpha.keyId]);
  });

  it('the admin top-up route reaches credits as admin', async () => {
    await request(gw.url).post(`/v1/admin/tenants/${alpha.tenantId}/credits`).set(admin).send({ amount: 1 }).expect(200);
    expect(identitySeenUpstream().scopes).toEqual(['admin']);
  });
});
