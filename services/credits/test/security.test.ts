import { signIdentity } from '@tollgate/common';
import { admin, balanceOf, call, type CreditsHarness, ledgerCounts, newTenant, service, startCredits, tenant, topUp } from './helpers';

// The root jest config runs packages as `projects`, where the preset's testTimeout does not apply;
// these tests drive hundreds of real requests on a shared machine, so set it here.
jest.setTimeout(60_000);

let h: CreditsHarness;
let alice: string;
let bob: string;
let bobHold: string;

beforeAll(async () => {
  h = await startCredits('credits_security');
  alice = newTenant('alice');
  bob = newTenant('bob');
  await topUp(h.url, alice, 1_000);
  await topUp(h.url, bob, 5_000);
  for (let i = 0; i < 3; i++) await call(h.url, 'POST', '/internal/v1/charges', service(), { tenant_id: bob, amount: 100, idempotency_key: `b${i}` });
  bobHold = (await call(h.url, 'POST', '/internal/v1/holds', service(), { tenant_id: bob, amount: 500, idempotency_key: 'bob-hold' })).body.id;
});

afterAll(async () => {
  await h.close();
  await h.env.cleanup();
});

describe('tenant isolation', () => {
  it('a tenant reads only its own balance, whatever it puts in the request', async () => {
    for (const path of ['/v1/credits/balance', `/v1/credits/balance?tenant_id=${bob}`]) {
      const res = await call(h.url, 'GET', path, { ...tenant(alice), 'X-Tenant-Id': bob });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ tenant_id: alice, available: 1_000, held: 0, currency: 'credits' });
    }
  });

  it("a tenant's history holds only its own transactions, even with another tenant's cursor", async () => {
    const own = await call(h.url, 'GET', `/v1/credits/transactions?tenant_id=${bob}`, tenant(alice));
    expect(own.body.data).toHaveLength(1);
    expect(own.body.data.every((t: { tenant_id: string }) => t.tenant_id === alice)).toBe(true);
    const bobsPage = await call(h.url, 'GET', '/v1/credits/transactions?limit=1', tenant(bob));
    expect(bobsPage.body.next_cursor).toEqual(expect.any(String));
    const withBobsCursor = await call(h.url, 'GET', `/v1/credits/transactions?cursor=${bobsPage.body.next_cursor}`, tenant(alice));
    expect(withBobsCursor.status).toBe(200);
    expect(withBobsCursor.body.data.every((t: { tenant_id: string }) => t.tenant_id === alice)).toBe(true);
  });

  it("a tenant's identity cannot move or read another tenant's credits through any route", async () => {
    const before = await ledgerCounts(h.env, bob);
    const attempts: [string, string, unknown][] = [
      ['POST', '/internal/v1/charges', { tenant_id: bob, amount: 100, idempotency_key: 'steal' }],
      ['POST', '/internal/v1/holds', { tenant_id: bob, amount: 100, idempotency_key: 'steal' }],
      ['POST', `/internal/v1/holds/${bobHold}/capture`, { amount: 500 }],
      ['POST', `/internal/v1/holds/${bobHold}/release`, undefined],
      ['GET', `/internal/v1/accounts/${bob}/balance`, undefined],
      ['POST', '/internal/v1/reconcile', undefined],
      ['POST', `/v1/admin/tenants/${alice}/credits`, { amount: 1_000_000 }],
      ['GET', `/v1/admin/tenants/${bob}/credits`, undefined],
      ['PUT', `/v1/admin/tenants/${bob}/credits/threshold`, { threshold: 1 }],
    ];
    for (const [method, path, body] of attempts) {
      const res = await call(h.url, method, path, tenant(alice), body);
      expect({ path, status: res.status }).toEqual({ path, status: 403 });
      expect(res.body.error.code).toBe('FORBIDDEN');
    }
    expect(await ledgerCounts(h.env, bob)).toEqual(before);
    expect(await balanceOf(h.url, bob)).toMatchObject({ available: 4_200, held: 500 });
    expect(await balanceOf(h.url, alice)).toMatchObject({ available: 1_000, held: 0 });
  });

  it('refuses identities that are forged, signed with another secret, or expired', async () => {
    const forged = signIdentity({ tenantId: bob, keyId: 'k', scopes: ['service', 'admin'] }, 'some-other-secret-0123456789abcdef');
    const expired = signIdentity({ tenantId: alice, keyId: 'k', scopes: ['read'] }, 'test-internal-secret-0123456789abcdef', -60);
    for (const token of [forged, expired, 'garbage', '']) {
      const res = await call(h.url, 'GET', '/v1/credits/balance', token ? { 'X-Tollgate-Identity': token } : {});
      expect(res.status).toBe(401);
      const charge = await call(h.url, 'POST', '/internal/v1/charges', token ? { 'X-Tollgate-Identity': token } : {}, { tenant_id: bob, amount: 1, idempotency_key: 'f' });
      expect(charge.status).toBe(401);
    }
    expect(await balanceOf(h.url, bob)).toMatchObject({ available: 4_200 });
  });

  it('admin may read and top up any tenant; the admin identity has no service powers', async () => {
    const res = await call(h.url, 'GET', `/v1/admin/tenants/${bob}/credits`, admin());
    expect(res.body).toEqual({ tenant_id: bob, available: 4_200, held: 500, currency: 'credits' });
    expect((await call(h.url, 'POST', '/internal/v1/charges', admin(), { tenant_id: bob, amount: 1, idempotency_key: 'adm' })).status).toBe(403);
  });

  it('errors never leak internals and always carry the request id', async () => {
    const res = await call(h.url, 'POST', '/internal/v1/charges', { ...service(), 'X-Request-ID': 'req-credits-123' }, { tenant_id: bob, amount: -1, idempotency_key: 'x' });
    expect(res.status).toBe(400);
    expect(res.body.error.request_id).toBe('req-credits-123');
    expect(JSON.stringify(res.body)).not.toMatch(/stack|at \/|node_modules/);
    const unknown = await call(h.url, 'GET', '/v1/credits/nope', tenant(alice));
    expect(unknown.status).toBe(404);
  });
});

describe('OpenAPI document', () => {
  it('lists every public route and keeps internal ones out of `paths`', async () => {
    const res = await call(h.url, 'GET', '/openapi.json', {});
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    expect(Object.keys(res.body.paths).sort()).toEqual(['/v1/admin/tenants/{id}/credits', '/v1/admin/tenants/{id}/credits/threshold', '/v1/credits/balance', '/v1/credits/transactions']);
    expect(Object.keys(res.body['x-internal-paths'])).toEqual(expect.arrayContaining(['/internal/v1/charges', '/internal/v1/holds', '/internal/v1/holds/{id}/capture', '/internal/v1/holds/{id}/release']));
    expect(res.body.paths['/v1/admin/tenants/{id}/credits'].post.requestBody.content['application/json'].schema.properties.amount.type).toBe('integer');
  });
});
