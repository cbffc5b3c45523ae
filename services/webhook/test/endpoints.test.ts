import { createMetrics, createRedis, signIdentity } from '@tollgate/common';
import { identityHeaders, silentLogger, TEST_REDIS_URL } from '@tollgate/testkit';
import request from 'supertest';
import { createApp } from '../src/app';
import { buildDeps } from '../src/deps';
import { asService, asTenant, type Harness, startHarness, testConfig } from './support/harness';

let h: Harness;
const A = 'tenant_a';
const B = 'tenant_b';

beforeAll(async () => {
  // No workers: these tests are about the API; deliveries are covered in delivery.test.ts.
  h = await startHarness('wh_endpoints', { workers: false, config: { WEBHOOK_MAX_ENDPOINTS_PER_TENANT: '8' } });
});
afterAll(async () => {
  await h.close();
});

const create = (tenant: string, body: Record<string, unknown>) =>
  request(h.app).post('/v1/webhooks/endpoints').set(asTenant(tenant)).send(body);

describe('POST /v1/webhooks/endpoints', () => {
  it('creates an endpoint and shows a whsec_ secret of 32 random bytes once', async () => {
    const res = await create(A, { url: 'https://example.com/hooks', description: 'orders', event_types: ['image.*', 'credits.topped_up'] });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      object: 'webhook.endpoint',
      url: 'https://example.com/hooks',
      description: 'orders',
      event_types: ['image.*', 'credits.topped_up'],
      enabled: true,
      disabled_reason: null,
    });
    expect(res.body.id).toMatch(/^ep_[A-Za-z0-9]{24}$/);
    expect(res.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(res.body.secret.slice(6), 'base64')).toHaveLength(32);

    const got = await request(h.app).get(`/v1/webhooks/endpoints/${res.body.id}`).set(asTenant(A));
    expect(got.status).toBe(200);
    expect(got.body.secret).toBeUndefined();

    // Stored sealed, never in the clear.
    const row = await h.env.db.selectFrom('endpoints').select(['secret_sealed']).where('id', '=', res.body.id).executeTakeFirstOrThrow();
    expect(row.secret_sealed).not.toContain(res.body.secret.slice(6));
    expect(h.runtime.secretBox.open(row.secret_sealed)).toBe(res.body.secret);
  });

  it('defaults to every event type and accepts a caller-chosen secret', async () => {
    const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    const res = await create(A, { url: 'https://example.com/all', secret });
    expect(res.status).toBe(201);
    expect(res.body.event_types).toEqual(['*']);
    expect(res.body.secret).toBe(secret);
  });

  it.each([
    [{ url: 'not a url' }, 'url'],
    [{ url: 'ftp://example.com/x' }, 'url'],
    [{ url: 'https://user:pass@example.com/x' }, 'url'],
    [{ url: 'https://example.com/x', event_types: ['image'] }, 'event_types'],
    [{ url: 'https://example.com/x', event_types: ['nothing.*'] }, 'event_types'],
    [{ url: 'https://example.com/x', event_types: [] }, 'event_types'],
    [{ url: 'https://example.com/x', secret: 'whsec_short' }, 'secret'],
    [{ url: 'https://example.com/x', unknown_field: 1 }, '(root)'],
  ])('refuses %j with a 400 naming %s', async (body, param) => {
    const res = await create(A, body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    expect(JSON.stringify(res.body.error.details)).toContain(param === '(root)' ? 'unknown_field' : param);
  });

  it('requires https in production unless http is allowed', async () => {
    const config = testConfig(h.env, {
      NODE_ENV: 'production',
      WEBHOOK_SECRETS_KEY: 'a-production-grade-secrets-key-0123456789',
      INTERNAL_JWT_SECRET: 'x'.repeat(40),
    });
    const queueRedis = createRedis(TEST_REDIS_URL, 'queue');
    const metrics = createMetrics('webhook', { collectDefault: false });
    const runtime = buildDeps({ config, logger: silentLogger(), metrics, db: h.env.db, redis: h.env.redis, queueRedis });
    try {
      const { app } = createApp(runtime);
      const headers = { 'X-Tollgate-Identity': signIdentity({ tenantId: 'prod', keyId: 'k', scopes: ['write'] }, 'x'.repeat(40)) };
      const http = await request(app).post('/v1/webhooks/endpoints').set(headers).send({ url: 'http://example.com/x' });
      expect(http.status).toBe(400);
      expect(http.body.error.message).toContain('https');
      const https = await request(app).post('/v1/webhooks/endpoints').set(headers).send({ url: 'https://example.com/x' });
      expect(https.status).toBe(201);
    } finally {
      for (const closer of runtime.closers) await closer.close();
      await queueRedis.quit();
    }
  });

  it('caps endpoints per tenant', async () => {
    const tenant = 'tenant_capped';
    for (let i = 0; i < 8; i++) expect((await create(tenant, { url: `https://example.com/${i}` })).status).toBe(201);
    const res = await create(tenant, { url: 'https://example.com/6' });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('CONFLICT');
  });

  it('needs an identity and the write scope', async () => {
    expect((await request(h.app).post('/v1/webhooks/endpoints').send({ url: 'https://example.com' })).status).toBe(401);
    const readOnly = await request(h.app)
      .post('/v1/webhooks/endpoints')
      .set(identityHeaders(A, ['read']))
      .send({ url: 'https://example.com' });
    expect(readOnly.status).toBe(403);
    const forged = await request(h.app)
      .post('/v1/webhooks/endpoints')
      .set({ 'X-Tollgate-Identity': 'eyJhbGciOiJub25lIn0.e30.' })
      .send({ url: 'https://example.com' });
    expect(forged.status).toBe(401);
  });
});

describe('list, get, update, delete', () => {
  it('lists only the caller’s endpoints, newest first, with cursor pagination', async () => {
    const tenant = 'tenant_list';
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await create(tenant, { url: `https://example.com/l${i}` })).body.id);
    await create(B, { url: 'https://example.com/other' });
    const first = await request(h.app).get('/v1/webhooks/endpoints?limit=2').set(asTenant(tenant));
    expect(first.status).toBe(200);
    expect(first.body.data.map((e: { id: string }) => e.id)).toEqual([ids[2], ids[1]]);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await request(h.app).get(`/v1/webhooks/endpoints?limit=2&cursor=${first.body.next_cursor}`).set(asTenant(tenant));
    expect(second.body.data.map((e: { id: string }) => e.id)).toEqual([ids[0]]);
    expect(second.body.next_cursor).toBeNull();
    expect((await request(h.app).get('/v1/webhooks/endpoints?cursor=garbage').set(asTenant(tenant))).status).toBe(400);
    expect((await request(h.app).get('/v1/webhooks/endpoints?limit=1000').set(asTenant(tenant))).status).toBe(400);
  });

  it('hides other tenants’ endpoints behind 404', async () => {
    const { body } = await create(A, { url: 'https://example.com/private' });
    for (const call of [
      request(h.app).get(`/v1/webhooks/endpoints/${body.id}`),
      request(h.app).patch(`/v1/webhooks/endpoints/${body.id}`).send({ description: 'x' }),
      request(h.app).delete(`/v1/webhooks/endpoints/${body.id}`),
      request(h.app).post(`/v1/webhooks/endpoints/${body.id}/rotate-secret`).send({}),
      request(h.app).post(`/v1/webhooks/endpoints/${body.id}/test`),
      request(h.app).get(`/v1/webhooks/endpoints/${body.id}/deliveries`),
    ]) {
      const res = await call.set(asTenant(B));
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('NOT_FOUND');
    }
    expect((await request(h.app).get(`/v1/webhooks/endpoints/${body.id}`).set(asTenant(A))).status).toBe(200);
  });

  it('updates fields, disables by hand and re-enables explicitly', async () => {
    const { body } = await create(A, { url: 'https://example.com/u' });
    const patched = await request(h.app)
      .patch(`/v1/webhooks/endpoints/${body.id}`)
      .set(asTenant(A))
      .send({ url: 'https://example.org/new', event_types: ['file.*'], description: 'files' });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ url: 'https://example.org/new', event_types: ['file.*'], description: 'files' });

    const disabled = await request(h.app).patch(`/v1/webhooks/endpoints/${body.id}`).set(asTenant(A)).send({ enabled: false });
    expect(disabled.body).toMatchObject({ enabled: false, disabled_reason: 'manual' });
    expect(disabled.body.disabled_at).toEqual(expect.any(String));

    const enabled = await request(h.app).patch(`/v1/webhooks/endpoints/${body.id}`).set(asTenant(A)).send({ enabled: true });
    expect(enabled.body).toMatchObject({ enabled: true, disabled_reason: null, disabled_at: null, failing_since: null });

    expect((await request(h.app).patch(`/v1/webhooks/endpoints/${body.id}`).set(asTenant(A)).send({ url: 'gopher://x' })).status).toBe(400);
    expect((await request(h.app).patch(`/v1/webhooks/endpoints/${body.id}`).set(asTenant(A)).send({ secret: 'whsec_x' })).status).toBe(400);
  });

  it('deletes', async () => {
    const { body } = await create(A, { url: 'https://example.com/d' });
    const del = await request(h.app).delete(`/v1/webhooks/endpoints/${body.id}`).set(asTenant(A));
    expect(del.status).toBe(200);
    expect(del.body).toEqual({ id: body.id, object: 'webhook.endpoint', deleted: true });
    expect((await request(h.app).get(`/v1/webhooks/endpoints/${body.id}`).set(asTenant(A))).status).toBe(404);
    expect((await request(h.app).delete(`/v1/webhooks/endpoints/${body.id}`).set(asTenant(A))).status).toBe(404);
  });
});

describe('secret rotation and test events', () => {
  it('rotates to a new secret and keeps the old one for the overlap', async () => {
    const { body } = await create(A, { url: 'https://example.com/r' });
    const before = Date.now();
    const res = await request(h.app).post(`/v1/webhooks/endpoints/${body.id}/rotate-secret`).set(asTenant(A)).send({});
    expect(res.status).toBe(200);
    expect(res.body.secret).toMatch(/^whsec_/);
    expect(res.body.secret).not.toBe(body.secret);
    const expires = Date.parse(res.body.previous_secret_expires_at);
    expect(expires - before).toBeGreaterThanOrEqual(24 * 3600_000 - 5_000);
    expect(expires - before).toBeLessThanOrEqual(24 * 3600_000 + 5_000);
    const state = await h.env.db
      .selectFrom('endpoints')
      .select(['secret_sealed', 'previous_secret_sealed'])
      .where('id', '=', body.id)
      .executeTakeFirstOrThrow();
    expect(h.runtime.secretBox.open(state.secret_sealed)).toBe(res.body.secret);
    expect(h.runtime.secretBox.open(state.previous_secret_sealed!)).toBe(body.secret);
    expect((await request(h.app).get(`/v1/webhooks/endpoints/${body.id}`).set(asTenant(A))).body.previous_secret_expires_at).toBe(
      res.body.previous_secret_expires_at,
    );

    const bad = await request(h.app).post(`/v1/webhooks/endpoints/${body.id}/rotate-secret`).set(asTenant(A)).send({ secret: 'plain' });
    expect(bad.status).toBe(400);
  });

  it('queues a webhook.test delivery for that endpoint only, and refuses a disabled endpoint', async () => {
    const T = 'tenant_test_event';
    const { body } = await create(T, { url: 'https://example.com/t', event_types: ['image.approved'] });
    await create(T, { url: 'https://example.com/t2' });
    const res = await request(h.app).post(`/v1/webhooks/endpoints/${body.id}/test`).set(asTenant(T));
    expect(res.status).toBe(202);
    expect(res.body.delivery_id).toMatch(/^dlv_/);
    const delivery = await request(h.app).get(`/v1/webhooks/deliveries/${res.body.delivery_id}`).set(asTenant(T));
    expect(delivery.body).toMatchObject({
      endpoint_id: body.id,
      event_type: 'webhook.test',
      status: 'pending',
      event_id: res.body.event_id,
      attempt_log: [],
    });
    // Only the endpoint under test gets it, whatever the filters say.
    expect(await h.env.db.selectFrom('deliveries').select('endpoint_id').where('event_id', '=', res.body.event_id).execute()).toEqual([
      { endpoint_id: body.id },
    ]);
    // Another tenant cannot see the delivery.
    expect((await request(h.app).get(`/v1/webhooks/deliveries/${res.body.delivery_id}`).set(asTenant(B))).status).toBe(404);

    await request(h.app).patch(`/v1/webhooks/endpoints/${body.id}`).set(asTenant(T)).send({ enabled: false });
    const refused = await request(h.app).post(`/v1/webhooks/endpoints/${body.id}/test`).set(asTenant(T));
    expect(refused.status).toBe(409);
  });
});

describe('POST /internal/v1/events', () => {
  const event = (id: string) => ({ id, type: 'file.uploaded', tenant_id: 'tenant_events', data: { file_id: 'file_1' } });

  it('stores and fans out before answering, once per event id', async () => {
    const ep = await create('tenant_events', { url: 'https://example.com/e', event_types: ['file.*'] });
    await create('tenant_events', { url: 'https://example.com/e2', event_types: ['image.*'] });
    const id = 'evt_internal_route_000001';
    const first = await request(h.app).post('/internal/v1/events').set(asService()).send(event(id));
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ id, duplicate: false, deliveries: 1 });
    const again = await request(h.app).post('/internal/v1/events').set(asService()).send(event(id));
    expect(again.body).toMatchObject({ id, duplicate: true });
    const rows = await h.env.db.selectFrom('deliveries').select(['endpoint_id']).where('event_id', '=', id).execute();
    expect(rows).toEqual([{ endpoint_id: ep.body.id }]);
    // The delivery job is in the queue under its attempt id.
    const counts = await h.runtime.deliveryQueue.getJobCounts('waiting', 'delayed', 'prioritized');
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1);
  });

  it('assigns an id when none is given', async () => {
    const res = await request(h.app)
      .post('/internal/v1/events')
      .set(asService())
      .send({ type: 'credits.topped_up', tenant_id: 'tenant_events', data: {} });
    expect(res.status).toBe(202);
    expect(res.body.id).toMatch(/^evt_/);
  });

  it('needs the service scope and a valid event', async () => {
    expect((await request(h.app).post('/internal/v1/events').send(event('evt_internal_route_000002'))).status).toBe(401);
    expect((await request(h.app).post('/internal/v1/events').set(asTenant(A)).send(event('evt_internal_route_000002'))).status).toBe(403);
    const bad = await request(h.app)
      .post('/internal/v1/events')
      .set(asService())
      .send({ ...event('evt_internal_route_000003'), type: 'made.up' });
    expect(bad.status).toBe(400);
  });
});

describe('GET /openapi.json', () => {
  it('documents every public webhook route', async () => {
    const res = await request(h.app).get('/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    expect(Object.keys(res.body.paths)).toEqual(
      expect.arrayContaining([
        '/v1/webhooks/endpoints',
        '/v1/webhooks/endpoints/{id}',
        '/v1/webhooks/endpoints/{id}/rotate-secret',
        '/v1/webhooks/endpoints/{id}/test',
        '/v1/webhooks/endpoints/{id}/replay',
        '/v1/webhooks/endpoints/{id}/deliveries',
        '/v1/webhooks/deliveries/{id}',
        '/v1/webhooks/deliveries/{id}/retry',
      ]),
    );
    expect(res.body.components.schemas.CreateEndpoint.properties.url).toBeDefined();
  });
});
