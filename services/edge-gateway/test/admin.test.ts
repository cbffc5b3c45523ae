import request from 'supertest';
import { createTestEnv, type TestEnv } from '@tollgate/testkit';
import { hashKey, isWellFormedKey } from '../src/keys/format';
import { migrations } from '../src/migrations';
import { admin, bearer, createTenantWithKey, type FakeUpstream, type RunningGateway, startFakeUpstream, startGateway } from './helpers';

let env: TestEnv;
let upstream: FakeUpstream;
let gw: RunningGateway;

beforeAll(async () => {
  env = await createTestEnv('gw_admin');
  await env.migrate(migrations);
  upstream = await startFakeUpstream();
  gw = await startGateway(env, upstream.url);
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
  await env?.cleanup();
});

describe('tenants', () => {
  it('creates a tenant with a ten_ id and optional rate limits', async () => {
    const res = await request(gw.url).post('/v1/admin/tenants').set(admin).send({ name: 'acme', rate_limits: { completion: 5 } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ object: 'tenant', name: 'acme', rate_limits: { completion: 5 } });
    expect(res.body.id).toMatch(/^ten_[A-Za-z0-9]{24}$/);
    expect(Date.parse(res.body.created_at)).not.toBeNaN();
    const fetched = await request(gw.url).get(`/v1/admin/tenants/${res.body.id}`).set(admin);
    expect(fetched.status).toBe(200);
    expect(fetched.body.id).toBe(res.body.id);
  });

  it('rejects bad input with 400 in the envelope', async () => {
    for (const body of [{}, { name: '' }, { name: 'x', rate_limits: { completion: -1 } }, { name: 'x', extra: true }]) {
      const res = await request(gw.url).post('/v1/admin/tenants').set(admin).send(body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(res.body.error.request_id).toEqual(expect.any(String));
    }
    const notJson = await request(gw.url).post('/v1/admin/tenants').set(admin).set('content-type', 'application/json').send('{"name":');
    expect(notJson.status).toBe(400);
  });

  it('refuses non-admin credentials: 401 without, 403 with a tenant key', async () => {
    expect((await request(gw.url).post('/v1/admin/tenants').send({ name: 'x' })).status).toBe(401);
    const { key } = await createTenantWithKey(gw.url);
    const res = await request(gw.url).post('/v1/admin/tenants').set(bearer(key)).send({ name: 'x' });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('FORBIDDEN');
  });

  it('lists tenants with a cursor', async () => {
    for (let i = 0; i < 3; i++) await request(gw.url).post('/v1/admin/tenants').set(admin).send({ name: `page-${i}` });
    const first = await request(gw.url).get('/v1/admin/tenants?limit=2').set(admin);
    expect(first.status).toBe(200);
    expect(first.body.data).toHaveLength(2);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await request(gw.url).get(`/v1/admin/tenants?limit=2&cursor=${first.body.next_cursor}`).set(admin);
    expect(second.body.data[0].id).not.toBe(first.body.data[1].id);
    expect((await request(gw.url).get('/v1/admin/tenants?cursor=garbage').set(admin)).status).toBe(400);
  });

  it('404s an unknown tenant', async () => {
    const res = await request(gw.url).get('/v1/admin/tenants/ten_doesnotexist000000000000').set(admin);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('NOT_FOUND');
  });
});

describe('api keys', () => {
  it('shows the key once, stores only its SHA-256 and prefix, default scopes', async () => {
    const tenant = await request(gw.url).post('/v1/admin/tenants').set(admin).send({ name: 'keys' });
    const res = await request(gw.url).post(`/v1/admin/tenants/${tenant.body.id}/keys`).set(admin).send({ name: 'ci' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ object: 'api_key', tenant_id: tenant.body.id, name: 'ci', scopes: ['read', 'write', 'completion', 'generation'], revoked_at: null, expires_at: null });
    expect(res.body.key).toMatch(/^tg_[0-9A-Za-z]{38}$/);
    expect(isWellFormedKey(res.body.key)).toBe(true);
    expect(res.body.key.startsWith(res.body.prefix)).toBe(true);

    const row = await env.db.selectFrom('api_keys').selectAll().where('id', '=', res.body.id).executeTakeFirstOrThrow();
    expect(row.key_hash).toBe(hashKey(res.body.key));
    expect(JSON.stringify(row)).not.toContain(res.body.key);

    const list = await request(gw.url).get(`/v1/admin/tenants/${tenant.body.id}/keys`).set(admin);
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(1);
    expect(list.body.data[0].key).toBeUndefined();
    expect(JSON.stringify(list.body)).not.toContain(row.key_hash);
    expect(JSON.stringify(list.body)).not.toContain(res.body.key);
  });

  it('a single changed character fails the checksum', async () => {
    const { key } = await createTenantWithKey(gw.url);
    const last = key.at(-1) === 'A' ? 'B' : 'A';
    expect(isWellFormedKey(`${key.slice(0, -1)}${last}`)).toBe(false);
  });

  it('validates scopes and expiry; 404 for an unknown tenant', async () => {
    const tenant = await request(gw.url).post('/v1/admin/tenants').set(admin).send({ name: 'v' });
    const url = `/v1/admin/tenants/${tenant.body.id}/keys`;
    expect((await request(gw.url).post(url).set(admin).send({ scopes: ['admin'] })).status).toBe(400);
    expect((await request(gw.url).post(url).set(admin).send({ scopes: [] })).status).toBe(400);
    expect((await request(gw.url).post(url).set(admin).send({ expires_at: 'tomorrow' })).status).toBe(400);
    expect((await request(gw.url).post(url).set(admin).send({ expires_at: new Date(Date.now() - 1000).toISOString() })).status).toBe(400);
    const scoped = await request(gw.url).post(url).set(admin).send({ scopes: ['read'] });
    expect(scoped.status).toBe(201);
    expect(scoped.body.scopes).toEqual(['read']);
    expect((await request(gw.url).post('/v1/admin/tenants/ten_nope00000000000000000000/keys').set(admin).send({})).status).toBe(404);
  });

  it('revokes with DELETE (idempotent), 404 for an unknown key', async () => {
    const { keyId, key } = await createTenantWithKey(gw.url);
    expect((await request(gw.url).get('/v1/models').set(bearer(key))).status).toBe(200);
    const res = await request(gw.url).delete(`/v1/admin/keys/${keyId}`).set(admin);
    expect(res.status).toBe(200);
    expect(res.body.revoked_at).toEqual(expect.any(String));
    const again = await request(gw.url).delete(`/v1/admin/keys/${keyId}`).set(admin);
    expect(again.status).toBe(200);
    expect(again.body.revoked_at).toBe(res.body.revoked_at);
    expect((await request(gw.url).delete('/v1/admin/keys/key_nope00000000000000000000').set(admin)).status).toBe(404);
    expect((await request(gw.url).delete('/v1/admin/keys/not-a-key').set(admin)).status).toBe(400);
  });

  it('key creation with an Idempotency-Key replays without ever storing the secret', async () => {
    const tenant = await request(gw.url).post('/v1/admin/tenants').set(admin).send({ name: 'idem' });
    const url = `/v1/admin/tenants/${tenant.body.id}/keys`;
    const first = await request(gw.url).post(url).set(admin).set('Idempotency-Key', 'create-key-1').send({ name: 'a' });
    expect(first.status).toBe(201);
    const replay = await request(gw.url).post(url).set(admin).set('Idempotency-Key', 'create-key-1').send({ name: 'a' });
    expect(replay.status).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body.id).toBe(first.body.id);
    expect(replay.body.key).toBeNull();
    const stored = await gw.redis.keys(`${env.prefix}:gw:idem:*`);
    for (const k of stored) expect(await gw.redis.get(k)).not.toContain(first.body.key);
    const list = await request(gw.url).get(url).set(admin);
    expect(list.body.data).toHaveLength(1);
  });
});
