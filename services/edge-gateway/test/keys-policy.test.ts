import { verifyIdentity } from '@tollgate/common';
import { TEST_INTERNAL_SECRET, type TestEnv } from '@tollgate/testkit';
import { sql } from 'kysely';
import request from 'supertest';
import { admin, bearer, createTenantWithKey, type FakeUpstream, type RunningGateway, startTwoReplicas, type TwoReplicas } from './helpers';

let env: TestEnv;
let upstream: FakeUpstream;
let a: RunningGateway;
let b: RunningGateway;

// Ten-minute key caches: only the cross-replica invalidation (or the grace end kept in the entry) explains a change.
const REPLICA = { KEY_CACHE_TTL_MS: '600000' };

let replicas: TwoReplicas | undefined;

beforeAll(async () => {
  replicas = await startTwoReplicas('gw_keys_policy', REPLICA);
  ({ env, upstream, a, b } = replicas);
});

afterAll(async () => {
  await replicas?.close();
});

/** The identity the upstream received for a GET /v1/models with this credential. */
async function identitySeen(url: string, key: string) {
  const res = await request(url).get('/v1/models').set(bearer(key));
  expect(res.status).toBe(200);
  return verifyIdentity(res.body.identity as string, TEST_INTERNAL_SECRET);
}

/** Polls until the gateway refuses the key (bounded, so a broken invalidation fails rather than hangs). */
async function refusedEventually(url: string, key: string): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if ((await request(url).get('/v1/models').set(bearer(key))).status === 401) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

const patch = (url: string, keyId: string, body: unknown, headers: Record<string, string> = admin) =>
  request(url)
    .patch(`/v1/admin/keys/${keyId}`)
    .set(headers)
    .send(body as object);

describe('PATCH /v1/admin/keys/{id}', () => {
  it('changes the policy; every replica sends the new allow-list and token limit on at once', async () => {
    const { key, keyId } = await createTenantWithKey(a.url, { scopes: ['read', 'completion'] });
    expect((await identitySeen(a.url, key)).models).toBeUndefined();
    expect((await identitySeen(b.url, key)).models).toBeUndefined();

    const res = await patch(a.url, keyId, {
      name: 'search bot',
      allowed_models: ['small', 'openai/gpt-4o'],
      tokens_per_minute: 5000,
      rate_limits: { read: 1000 },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: keyId,
      name: 'search bot',
      allowed_models: ['small', 'openai/gpt-4o'],
      tokens_per_minute: 5000,
      rate_limits: { read: 1000 },
    });
    expect(res.body.key_hash).toBeUndefined();
    for (const url of [a.url, b.url]) {
      // b learns through the invalidation bus (its cache would keep the old entry ten minutes).
      let seen = await identitySeen(url, key);
      for (let i = 0; i < 50 && seen.models === undefined; i++) {
        await new Promise((r) => setTimeout(r, 20));
        seen = await identitySeen(url, key);
      }
      expect(seen).toMatchObject({ keyId, models: ['small', 'openai/gpt-4o'], tokensPerMinute: 5000 });
    }
    // null clears the allow-list again.
    expect((await patch(a.url, keyId, { allowed_models: null, tokens_per_minute: null })).body).toMatchObject({
      allowed_models: null,
      tokens_per_minute: null,
    });
    expect((await identitySeen(a.url, key)).models).toBeUndefined();
  });

  it("applies the key's own rate-limit tiers over its tenant's", async () => {
    const { key, keyId } = await createTenantWithKey(a.url, {}, { rate_limits: { read: 1000 } });
    await patch(a.url, keyId, { rate_limits: { read: 2 } }).expect(200);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await request(a.url).get('/v1/models').set(bearer(key))).status);
    expect(statuses).toEqual([200, 200, 429]);
  });

  it('refuses bad input, unknown keys, revoked keys and non-admins, changing nothing', async () => {
    const { key, keyId } = await createTenantWithKey(a.url, { scopes: ['read'] });
    for (const body of [
      {},
      { allowed_models: 'small' },
      { allowed_models: ['a', 'a'] },
      { allowed_models: ['has space'] },
      { tokens_per_minute: 0 },
      { rate_limits: { bogus: 1 } },
      { scopes: ['service'] },
      { expires_at: '2000-01-01T00:00:00Z' },
      { budget: { amount: 0, period: 'day' } },
      { budget: { amount: 10, period: 'year' } },
      { budget: { amount: 1.5, period: 'day' } },
      { budget: 5 },
    ]) {
      const res = await patch(a.url, keyId, body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
    expect((await patch(a.url, 'key_0000000000000000nope', { name: 'x' })).status).toBe(404);
    expect((await patch(a.url, keyId, { name: 'x' }, bearer(key))).status).toBe(403);
    await request(a.url).delete(`/v1/admin/keys/${keyId}`).set(admin).expect(200);
    expect((await patch(a.url, keyId, { name: 'x' })).status).toBe(409);
    const row = await sql<{ name: string | null }>`select name from api_keys where id = ${keyId}`.execute(env.db);
    expect(row.rows[0]!.name).toBeNull();
  });
});

describe('POST /v1/admin/keys/{id}/rotate', () => {
  it('shows a new secret once; the old one works on every replica until the grace ends, then is refused', async () => {
    const { key: old, keyId } = await createTenantWithKey(a.url);
    await identitySeen(a.url, old);
    await identitySeen(b.url, old);
    const res = await request(a.url).post(`/v1/admin/keys/${keyId}/rotate`).set(admin).set('Idempotency-Key', 'rot-1').send({ grace_s: 1 });
    expect(res.status).toBe(200);
    const fresh = res.body.key as string;
    expect(fresh).toMatch(/^tg_/);
    expect(fresh).not.toBe(old);
    expect(res.body.previous_key_expires_at).toEqual(expect.any(String));
    // A replay never shows the secret again.
    const replay = await request(a.url)
      .post(`/v1/admin/keys/${keyId}/rotate`)
      .set(admin)
      .set('Idempotency-Key', 'rot-1')
      .send({ grace_s: 1 });
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body.key).toBeNull();

    for (const url of [a.url, b.url]) {
      expect((await identitySeen(url, fresh)).keyId).toBe(keyId);
      expect((await identitySeen(url, old)).keyId).toBe(keyId);
    }
    const graceEnd = Date.parse(res.body.previous_key_expires_at as string);
    await new Promise((r) => setTimeout(r, Math.max(0, graceEnd - Date.now()) + 50));
    for (const url of [a.url, b.url]) {
      expect((await request(url).get('/v1/models').set(bearer(old))).status).toBe(401);
      expect((await request(url).get('/v1/models').set(bearer(fresh))).status).toBe(200);
    }
  });

  it('revoking during the grace kills both secrets on every replica', async () => {
    const { key: old, keyId } = await createTenantWithKey(a.url);
    const fresh = (await request(a.url).post(`/v1/admin/keys/${keyId}/rotate`).set(admin).send({ grace_s: 3600 }).expect(200)).body
      .key as string;
    for (const url of [a.url, b.url]) for (const k of [old, fresh]) await identitySeen(url, k);
    await request(b.url).delete(`/v1/admin/keys/${keyId}`).set(admin).expect(200);
    for (const url of [a.url, b.url]) for (const k of [old, fresh]) expect(await refusedEventually(url, k)).toBe(true);
  });

  it('refuses a bad grace, an unknown or revoked key, and non-admins', async () => {
    const { key, keyId } = await createTenantWithKey(a.url);
    for (const body of [{ grace_s: -1 }, { grace_s: 10_000_000 }, { grace_s: 'soon' }, { other: 1 }])
      expect((await request(a.url).post(`/v1/admin/keys/${keyId}/rotate`).set(admin).send(body)).status).toBe(400);
    expect((await request(a.url).post(`/v1/admin/keys/${keyId}/rotate`).set(bearer(key)).send({})).status).toBe(403);
    expect((await request(a.url).post('/v1/admin/keys/key_0000000000000000nope/rotate').set(admin).send({})).status).toBe(404);
    await request(a.url).delete(`/v1/admin/keys/${keyId}`).set(admin).expect(200);
    expect((await request(a.url).post(`/v1/admin/keys/${keyId}/rotate`).set(admin).send({})).status).toBe(409);
    // Without a body the grace is 0: the old secret stops at once.
    const other = await createTenantWithKey(a.url);
    const rotated = await request(a.url).post(`/v1/admin/keys/${other.keyId}/rotate`).set(admin).expect(200);
    expect((await request(a.url).get('/v1/models').set(bearer(other.key))).status).toBe(401);
    expect(
      (
        await request(a.url)
          .get('/v1/models')
          .set(bearer(rotated.body.key as string))
      ).status,
    ).toBe(200);
  });
});

describe('GET /v1/admin/audit-log', () => {
  const auditOf = async (query: string) => (await request(a.url).get(`/v1/admin/audit-log?${query}`).set(admin).expect(200)).body;

  it('records every admin action once, with actor, time, request id, target and what changed', async () => {
    const { tenantId, keyId } = await createTenantWithKey(a.url, { name: 'audited' });
    await request(a.url)
      .patch(`/v1/admin/tenants/${tenantId}`)
      .set(admin)
      .send({ rate_limits: { read: 50 } })
      .expect(200);
    await patch(a.url, keyId, { allowed_models: ['small'] })
      .set('X-Request-ID', 'req-audit-patch')
      .expect(200);
    await request(a.url).post(`/v1/admin/keys/${keyId}/rotate`).set(admin).send({ grace_s: 0 }).expect(200);
    await request(a.url).delete(`/v1/admin/keys/${keyId}`).set(admin).expect(200);
    await request(a.url).delete(`/v1/admin/keys/${keyId}`).set(admin).expect(200); // a repeat changes nothing
    // Proxied to credits (the fake upstream answers 200): recorded at the edge with its body;
    // its idempotent replay is the same action, not recorded again.
    for (let i = 0; i < 2; i++) {
      await request(a.url)
        .post(`/v1/admin/tenants/${tenantId}/credits`)
        .set(admin)
        .set('Idempotency-Key', `top-up-${tenantId}`)
        .send({ amount: 5_000_000, reason: 'welcome' })
        .expect(200);
    }
    upstream.handle((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end('{"error":{"code":"VALIDATION_FAILED","message":"no"}}');
    });
    await request(a.url).post(`/v1/admin/tenants/${tenantId}/credits`).set(admin).send({ amount: -1 }).expect(400); // refused: not an action
    upstream.handle((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, url: req.url, identity: req.headers['x-tollgate-identity'] ?? null }));
    });

    let events: any[] = [];
    for (let i = 0; i < 50; i++) {
      events = [...(await auditOf(`target=tenant:${tenantId}`)).data, ...(await auditOf(`target=key:${keyId}`)).data];
      if (events.some((e) => e.action.startsWith('POST /v1/admin/tenants/:id/credits'))) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const actions = events.map((e) => e.action).sort();
    expect(actions).toEqual([
      'POST /v1/admin/tenants/:id/credits',
      'key.create',
      'key.revoke',
      'key.rotate',
      'key.update',
      'tenant.create',
      'tenant.update',
    ]);
    const update = events.find((e) => e.action === 'key.update');
    expect(update).toMatchObject({
      actor: 'admin_token',
      request_id: 'req-audit-patch',
      target: `key:${keyId}`,
      tenant_id: tenantId,
      changes: { allowed_models: { from: null, to: ['small'] } },
    });
    expect(Date.parse(update.at)).toBeGreaterThan(Date.now() - 60_000);
    expect(events.find((e) => e.action === 'tenant.update').changes).toEqual({ rate_limits: { from: {}, to: { read: 50 } } });
    expect(events.find((e) => e.action.startsWith('POST')).changes).toEqual({ amount: 5_000_000, reason: 'welcome' });
    // Secrets never reach the log.
    expect(JSON.stringify(events)).not.toMatch(/tg_[A-Za-z0-9]{20}/);
  });

  it('pages with a cursor, filters by actor, and is admin-only', async () => {
    for (let i = 0; i < 3; i++) await createTenantWithKey(a.url);
    const first = await auditOf('limit=2&actor=admin_token');
    expect(first.data).toHaveLength(2);
    const second = await auditOf(`limit=2&actor=admin_token&cursor=${first.next_cursor}`);
    expect(Number(second.data[0].id.slice(4))).toBeLessThan(Number(first.data[1].id.slice(4)));
    expect((await auditOf('actor=nobody')).data).toEqual([]);
    const { key } = await createTenantWithKey(a.url, { scopes: ['read'] });
    expect((await request(a.url).get('/v1/admin/audit-log').set(bearer(key))).status).toBe(403);
    expect((await request(a.url).get('/v1/admin/audit-log?cursor=bogus').set(admin)).status).toBe(400);
    expect((await request(a.url).get('/v1/admin/audit-log?unknown=1').set(admin)).status).toBe(400);
  });

  it('is append-only in the database: updates, deletes and truncation are refused', async () => {
    const before = await sql<{ n: string }>`select count(*)::text as n from audit_log`.execute(env.db);
    await expect(sql`update audit_log set actor = 'someone else'`.execute(env.db)).rejects.toThrow(/append-only/);
    await expect(sql`delete from audit_log`.execute(env.db)).rejects.toThrow(/append-only/);
    await expect(sql`truncate audit_log`.execute(env.db)).rejects.toThrow(/append-only/);
    expect((await sql<{ n: string }>`select count(*)::text as n from audit_log`.execute(env.db)).rows).toEqual(before.rows);
  });
});
