import { createEventPublisher, type EventPublisher, type PlatformEvent } from '@tollgate/common';
import { listen, startWebhookReceiver, type WebhookReceiver } from '@tollgate/testkit';
import request from 'supertest';
import { asTenant, eventually, type Harness, startHarness, verifyWith } from './support/harness';

let h: Harness;
let publisher: EventPublisher;
let seq = 0;

beforeAll(async () => {
  h = await startHarness('wh_delivery', {
    config: {
      WEBHOOK_RETRY_SCHEDULE: '0,100,1000',
      // Three failed attempts take ~1.1 s; the failure window closes between the second and the
      // third, with room to spare on a loaded machine.
      WEBHOOK_DISABLE_AFTER_MS: '600',
    },
  });
  publisher = createEventPublisher({ connection: h.queueRedis, prefix: h.config.REDIS_PREFIX });
});
afterAll(async () => {
  await publisher.close();
  await h.close();
});

async function endpoint(tenant: string, url: string, eventTypes: string[] = ['*']): Promise<{ id: string; secret: string }> {
  const res = await request(h.app).post('/v1/webhooks/endpoints').set(asTenant(tenant)).send({ url, event_types: eventTypes });
  expect(res.status).toBe(201);
  return res.body;
}

function publish(tenant: string, type: PlatformEvent['type'], data: Record<string, unknown> = {}): Promise<PlatformEvent> {
  seq += 1;
  return publisher.publish({ type, tenant_id: tenant, data: { seq, ...data } });
}

async function deliveryOf(eventId: string, endpointId: string) {
  const row = await h.env.db
    .selectFrom('deliveries')
    .select(['id', 'tenant_id'])
    .where('event_id', '=', eventId)
    .where('endpoint_id', '=', endpointId)
    .executeTakeFirst();
  if (!row) return undefined;
  return (await request(h.app).get(`/v1/webhooks/deliveries/${row.id}`).set(asTenant(row.tenant_id))).body;
}

async function settled(eventId: string, endpointId: string, status: string) {
  return eventually(async () => {
    const d = await deliveryOf(eventId, endpointId);
    return d?.status === status ? d : undefined;
  });
}

describe('delivery per Standard Webhooks', () => {
  let receiver: WebhookReceiver;
  beforeEach(async () => {
    receiver = await startWebhookReceiver();
  });
  afterEach(async () => {
    await receiver.close();
  });

  it('delivers queue events to matching endpoints, signed over the exact bytes sent', async () => {
    const tenant = 'tenant_sig';
    const images = await endpoint(tenant, `${receiver.url}/images`, ['image.*']);
    const all = await endpoint(tenant, `${receiver.url}/all`, ['*']);
    await endpoint('tenant_other', `${receiver.url}/other`, ['*']);
    // Characters a re-serialiser would be tempted to change.
    const approved = await publish(tenant, 'image.approved', { image_id: 'img_1', note: 'café 🙂 <b>"q"</b>\u2028', n: 1.5e-7 });
    const topped = await publish(tenant, 'credits.topped_up', { amount: 5_000_000 });

    const got = await receiver.waitFor(3);
    await new Promise((r) => setTimeout(r, 150));
    expect(receiver.received).toHaveLength(3);
    const byPath = (path: string) => receiver.received.filter((r) => r.path === path);
    expect(byPath('/images').map((r) => r.headers['webhook-id'])).toEqual([approved.id]);
    expect(
      byPath('/all')
        .map((r) => r.headers['webhook-id'])
        .sort(),
    ).toEqual([approved.id, topped.id].sort());
    expect(byPath('/other')).toHaveLength(0);

    const stored = await h.env.db.selectFrom('events').select(['id', 'payload']).where('id', '=', approved.id).executeTakeFirstOrThrow();
    for (const r of got) {
      const secret = r.path === '/images' ? images.secret : all.secret;
      const parsed = verifyWith(secret, r.rawBody, r.headers) as { type: string; timestamp: string; data: Record<string, unknown> };
      expect(r.headers['content-type']).toBe('application/json');
      expect(Number(r.headers['webhook-timestamp'])).toBeGreaterThan(Date.now() / 1000 - 60);
      expect(Object.keys(parsed)).toEqual(['type', 'timestamp', 'data']);
      if (r.headers['webhook-id'] === approved.id) {
        expect(r.rawBody).toBe(stored.payload);
        expect(parsed).toEqual({ type: 'image.approved', timestamp: new Date(approved.created_at).toISOString(), data: approved.data });
      }
      // A signature for another body does not verify.
      expect(() => verifyWith(secret, `${r.rawBody} `, r.headers)).toThrow();
    }
    const d = await settled(approved.id, images.id, 'succeeded');
    expect(d).toMatchObject({
      attempts: 1,
      last_status_code: 200,
      attempt_log: [expect.objectContaining({ outcome: 'succeeded', status_code: 200, attempt: 1 })],
    });
  });

  it('stores an event once however often it is published', async () => {
    const ep = await endpoint('tenant_dup', receiver.url);
    const event = await publish('tenant_dup', 'file.uploaded');
    await publisher.publish({ id: event.id, type: event.type, tenant_id: event.tenant_id, data: event.data });
    await request(h.app)
      .post('/internal/v1/events')
      .set({ ...(await import('@tollgate/testkit')).serviceHeaders() })
      .send({ id: event.id, type: event.type, tenant_id: event.tenant_id, data: event.data });
    await settled(event.id, ep.id, 'succeeded');
    await new Promise((r) => setTimeout(r, 200));
    expect(receiver.received.filter((r) => r.headers['webhook-id'] === event.id)).toHaveLength(1);
  });

  it('signs with the old and the new secret during a rotation; both verify', async () => {
    const ep = await endpoint('tenant_rot', receiver.url);
    const rotated = await request(h.app).post(`/v1/webhooks/endpoints/${ep.id}/rotate-secret`).set(asTenant('tenant_rot')).send({});
    const event = await publish('tenant_rot', 'file.deleted');
    const [r] = await receiver.waitFor(1);
    const signatures = String(r!.headers['webhook-signature']).split(' ');
    expect(signatures).toHaveLength(2);
    expect(signatures.every((s) => s.startsWith('v1,'))).toBe(true);
    expect(r!.headers['webhook-id']).toBe(event.id);
    expect(() => verifyWith(ep.secret, r!.rawBody, r!.headers)).not.toThrow();
    expect(() => verifyWith(rotated.body.secret, r!.rawBody, r!.headers)).not.toThrow();
    expect(() => verifyWith(`whsec_${Buffer.alloc(32, 1).toString('base64')}`, r!.rawBody, r!.headers)).toThrow();

    // Once the overlap is over only the new secret signs.
    await h.env.db
      .updateTable('endpoints')
      .set({ previous_secret_expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', ep.id)
      .execute();
    await publish('tenant_rot', 'file.deleted');
    const [, later] = await receiver.waitFor(2);
    expect(String(later!.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(() => verifyWith(rotated.body.secret, later!.rawBody, later!.headers)).not.toThrow();
    expect(() => verifyWith(ep.secret, later!.rawBody, later!.headers)).toThrow();
  });

  it('retries a receiver that fails twice: three attempts logged, one success, the same webhook-id', async () => {
    const ep = await endpoint('tenant_retry', receiver.url);
    receiver.failNext(2, 500);
    const event = await publish('tenant_retry', 'completion.completed');
    const got = await receiver.waitFor(3);
    expect(got.map((r) => r.answeredStatus)).toEqual([500, 500, 200]);
    expect(new Set(got.map((r) => r.headers['webhook-id']))).toEqual(new Set([event.id]));
    for (const r of got) verifyWith(ep.secret, r.rawBody, r.headers);
    expect(new Set(got.map((r) => r.rawBody)).size).toBe(1);
    const d = await settled(event.id, ep.id, 'succeeded');
    expect(d.attempts).toBe(3);
    expect(
      d.attempt_log.map((a: { outcome: string; status_code: number; attempt: number }) => [a.attempt, a.outcome, a.status_code]),
    ).toEqual([
      [1, 'failed', 500],
      [2, 'failed', 500],
      [3, 'succeeded', 200],
    ]);
    expect(d.attempt_log[0].error_class).toBe('http_status');
    expect(JSON.parse(d.attempt_log[0].response_body)).toEqual({ ok: false });
  });

  it('honours Retry-After on 429 instead of the (100 ms) schedule', async () => {
    const ep = await endpoint('tenant_ra', receiver.url);
    receiver.failNext(1, 429, 1);
    const event = await publish('tenant_ra', 'file.expired');
    const got = await receiver.waitFor(2, 5_000);
    expect(got[1]!.at - got[0]!.at).toBeGreaterThanOrEqual(950);
    await settled(event.id, ep.id, 'succeeded');
  });

  it('treats a redirect as a failure and does not follow it', async () => {
    const target = await startWebhookReceiver();
    const redirecting = await listen((_req, res) => {
      res.writeHead(307, { location: `${target.url}/elsewhere` });
      res.end();
    });
    try {
      const ep = await endpoint('tenant_redirect', redirecting.url);
      const event = await publish('tenant_redirect', 'image.published');
      const d = await settled(event.id, ep.id, 'failed');
      expect(d.attempt_log).toHaveLength(3);
      expect(
        d.attempt_log.every((a: { error_class: string; status_code: number }) => a.error_class === 'redirect' && a.status_code === 307),
      ).toBe(true);
      expect(target.received).toHaveLength(0);
    } finally {
      await redirecting.close();
      await target.close();
    }
  });

  it('keeps the first 16 KB of a response body and marks it truncated', async () => {
    const big = await listen((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('x'.repeat(40_000));
      });
    });
    try {
      const ep = await endpoint('tenant_big', big.url);
      const event = await publish('tenant_big', 'batch.completed');
      const d = await settled(event.id, ep.id, 'failed');
      expect(d.attempt_log[0].response_body).toHaveLength(16 * 1024);
      expect(d.attempt_log[0].response_body_truncated).toBe(true);
    } finally {
      await big.close();
    }
  });

  it('logs a refused connection as connection_refused', async () => {
    const gone = await listen((_req, res) => res.end());
    const url = gone.url;
    await gone.close();
    const ep = await endpoint('tenant_refused', url);
    const event = await publish('tenant_refused', 'file.uploaded');
    const d = await settled(event.id, ep.id, 'failed');
    // Up to three attempts (0, 50, 100 ms apart); on a loaded machine the endpoint may pass this
    // file's 600 ms WEBHOOK_DISABLE_AFTER_MS first and be disabled sooner. Each is a refusal.
    const classes = d.attempt_log.map((a: { error_class: string }) => a.error_class);
    expect(classes.length).toBeGreaterThanOrEqual(1);
    expect(classes).toEqual(classes.map(() => 'connection_refused'));
    expect(d.attempt_log.every((a: { status_code: number | null }) => a.status_code === null)).toBe(true);
  });

  it('disables an endpoint on 410 Gone and tells the tenant’s other endpoints', async () => {
    const watcher = await startWebhookReceiver();
    try {
      const gone = await endpoint('tenant_gone', receiver.url);
      const other = await endpoint('tenant_gone', watcher.url, ['endpoint.disabled']);
      receiver.setStatus(410);
      const event = await publish('tenant_gone', 'image.rejected');
      const d = await settled(event.id, gone.id, 'failed');
      expect(d.attempts).toBe(1);
      const ep = (await request(h.app).get(`/v1/webhooks/endpoints/${gone.id}`).set(asTenant('tenant_gone'))).body;
      expect(ep).toMatchObject({ enabled: false, disabled_reason: 'gone' });
      const [notice] = await watcher.waitFor(1);
      const body = verifyWith(other.secret, notice!.rawBody, notice!.headers) as { type: string; data: Record<string, unknown> };
      expect(body.type).toBe('endpoint.disabled');
      expect(body.data).toMatchObject({ endpoint_id: gone.id, reason: 'gone' });
    } finally {
      await watcher.close();
    }
  });

  it('a receiver down for the whole schedule: failed, endpoint disabled after its window, re-enable and replay delivers', async () => {
    const tenant = 'tenant_down';
    const watcher = await startWebhookReceiver();
    try {
      const down = await endpoint(tenant, receiver.url, ['image.*']);
      const other = await endpoint(tenant, watcher.url, ['endpoint.*']);
      receiver.setStatus(503);
      const since = new Date(Date.now() - 1000).toISOString();
      const event = await publish(tenant, 'image.generation.completed');
      const d = await settled(event.id, down.id, 'failed');
      expect(d.attempt_log).toHaveLength(3);
      expect(d.attempt_log.every((a: { status_code: number }) => a.status_code === 503)).toBe(true);
      const disabled = (await request(h.app).get(`/v1/webhooks/endpoints/${down.id}`).set(asTenant(tenant))).body;
      expect(disabled).toMatchObject({ enabled: false, disabled_reason: 'failing' });
      expect(disabled.failing_since).toEqual(expect.any(String));

      const [notice] = await watcher.waitFor(1);
      expect(verifyWith(other.secret, notice!.rawBody, notice!.headers)).toMatchObject({
        type: 'endpoint.disabled',
        data: { endpoint_id: down.id, reason: 'failing' },
      });

      // A disabled endpoint gets nothing new, and cannot be replayed to until re-enabled.
      const while_disabled = await publish(tenant, 'image.approved');
      await eventually(
        async () => (await h.env.db.selectFrom('events').select('id').where('id', '=', while_disabled.id).executeTakeFirst()) ?? false,
      );
      expect(await deliveryOf(while_disabled.id, down.id)).toBeUndefined();
      const refused = await request(h.app).post(`/v1/webhooks/endpoints/${down.id}/replay`).set(asTenant(tenant)).send({ since });
      expect(refused.status).toBe(409);

      receiver.setStatus(null);
      const before = receiver.received.length;
      const enabled = await request(h.app).patch(`/v1/webhooks/endpoints/${down.id}`).set(asTenant(tenant)).send({ enabled: true });
      expect(enabled.body).toMatchObject({ enabled: true, disabled_reason: null, failing_since: null });
      const replay = await request(h.app).post(`/v1/webhooks/endpoints/${down.id}/replay`).set(asTenant(tenant)).send({ since });
      expect(replay.status).toBe(202);
      expect(replay.body).toEqual({ replayed: 1, truncated: false });
      const got = await receiver.waitFor(before + 1);
      const last = got[got.length - 1]!;
      expect(last.headers['webhook-id']).toBe(event.id);
      expect(last.answeredStatus).toBe(200);
      verifyWith(down.secret, last.rawBody, last.headers);
      const after = await settled(event.id, down.id, 'succeeded');
      expect(after.round).toBe(2);
      expect(after.attempt_log.map((a: { trigger: string; outcome: string }) => `${a.trigger}:${a.outcome}`)).toEqual([
        'event:failed',
        'event:failed',
        'event:failed',
        'replay:succeeded',
      ]);
    } finally {
      await watcher.close();
    }
  });

  it('resends a delivery on manual retry with the same webhook-id and lists deliveries with filters', async () => {
    const tenant = 'tenant_manual';
    const ep = await endpoint(tenant, receiver.url);
    const e1 = await publish(tenant, 'file.uploaded');
    const e2 = await publish(tenant, 'credits.low_balance');
    const e3 = await publish(tenant, 'file.uploaded');
    const d1 = await settled(e1.id, ep.id, 'succeeded');
    await settled(e2.id, ep.id, 'succeeded');
    await settled(e3.id, ep.id, 'succeeded');

    const retry = await request(h.app).post(`/v1/webhooks/deliveries/${d1.id}/retry`).set(asTenant(tenant));
    expect(retry.status).toBe(202);
    expect(retry.body).toMatchObject({ id: d1.id, status: 'pending', round: 2 });
    await eventually(async () => receiver.received.filter((r) => r.headers['webhook-id'] === e1.id).length === 2);
    const again = await eventually(async () => {
      const d = await deliveryOf(e1.id, ep.id);
      return d.status === 'succeeded' && d.round === 2 ? d : undefined;
    });
    expect(again.attempt_log.map((a: { trigger: string }) => a.trigger)).toEqual(['event', 'manual']);
    expect((await request(h.app).post(`/v1/webhooks/deliveries/${d1.id}/retry`).set(asTenant('someone_else'))).status).toBe(404);

    const list = async (query: string) =>
      (await request(h.app).get(`/v1/webhooks/endpoints/${ep.id}/deliveries?${query}`).set(asTenant(tenant))).body;
    const files = await list('event_type=file.uploaded');
    expect(files.data.map((d: { event_id: string }) => d.event_id).sort()).toEqual([e1.id, e3.id].sort());
    expect((await list('status=failed')).data).toEqual([]);
    const page1 = await list('limit=2');
    expect(page1.data).toHaveLength(2);
    const page2 = await list(`limit=2&cursor=${page1.next_cursor}`);
    expect(page2.data).toHaveLength(1);
    expect(page2.next_cursor).toBeNull();
    expect(new Set([...page1.data, ...page2.data].map((d: { id: string }) => d.id)).size).toBe(3);
    expect((await request(h.app).get(`/v1/webhooks/endpoints/${ep.id}/deliveries?status=bogus`).set(asTenant(tenant))).status).toBe(400);
  });

  it('sends a webhook.test event that verifies', async () => {
    const ep = await endpoint('tenant_test', receiver.url, ['image.approved']);
    const res = await request(h.app).post(`/v1/webhooks/endpoints/${ep.id}/test`).set(asTenant('tenant_test'));
    const [r] = await receiver.waitFor(1);
    expect(verifyWith(ep.secret, r!.rawBody, r!.headers)).toMatchObject({ type: 'webhook.test', data: { endpoint_id: ep.id } });
    expect(r!.headers['webhook-id']).toBe(res.body.event_id);
  });

  it('exposes attempt, latency, disabled and queue metrics', async () => {
    const ep = await endpoint('tenant_metrics', receiver.url);
    const event = await publish('tenant_metrics', 'file.uploaded');
    await settled(event.id, ep.id, 'succeeded');
    const text = (await request(h.app).get('/metrics')).text;
    expect(text).toMatch(/webhook_delivery_attempts_total\{outcome="succeeded",error_class="none"[^}]*\} \d+/);
    expect(text).toMatch(/webhook_delivery_latency_seconds_count\{[^}]*\} \d+/);
    expect(text).toMatch(/webhook_endpoints_disabled_total\{reason="(gone|failing)"[^}]*\} \d+/);
    expect(text).toMatch(/webhook_queue_jobs\{queue="webhook-deliveries",state="waiting"[^}]*\} \d+/);
  });
});
