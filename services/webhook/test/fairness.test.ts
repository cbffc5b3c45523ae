import { createEventPublisher, type EventPublisher } from '@tollgate/common';
import { listen, type Listening, startWebhookReceiver, type WebhookReceiver } from '@tollgate/testkit';
import request from 'supertest';
import { asTenant, eventually, type Harness, startHarness } from './support/harness';

let h: Harness;
let publisher: EventPublisher;
let hanging: Listening;
let healthy: WebhookReceiver;
let open = 0;
let maxOpen = 0;
let arrived = 0;
/** Hanging attempts that have ended (only the request timeout ends them). */
let closed = 0;

beforeAll(async () => {
  h = await startHarness('wh_fairness', {
    config: {
      WEBHOOK_DELIVERY_CONCURRENCY: '4',
      WEBHOOK_ENDPOINT_MAX_IN_FLIGHT: '2',
      WEBHOOK_REQUEST_TIMEOUT_MS: '4000',
      WEBHOOK_LOCK_DURATION_MS: '8000',
      WEBHOOK_RETRY_SCHEDULE: '0',
      WEBHOOK_BUSY_RETRY_MS: '100',
    },
  });
  publisher = createEventPublisher({ connection: h.queueRedis, prefix: h.config.REDIS_PREFIX });
  // An endpoint that accepts the request and never answers.
  hanging = await listen((req) => {
    open++;
    arrived++;
    maxOpen = Math.max(maxOpen, open);
    req.resume();
    req.socket.once('close', () => {
      open--;
      closed++;
    });
  });
  healthy = await startWebhookReceiver();
});
afterAll(async () => {
  await publisher.close();
  await hanging.close();
  await healthy.close();
  await h.close();
});

it('one hanging endpoint does not delay deliveries to another, and is cut off at the request timeout', async () => {
  const tenant = 'tenant_fair';
  const slow = (
    await request(h.app)
      .post('/v1/webhooks/endpoints')
      .set(asTenant(tenant))
      .send({ url: hanging.url, event_types: ['image.*'] })
  ).body;
  await request(h.app)
    .post('/v1/webhooks/endpoints')
    .set(asTenant(tenant))
    .send({ url: healthy.url, event_types: ['credits.*'] });

  // A backlog for the hanging endpoint, larger than the worker's concurrency.
  for (let i = 0; i < 12; i++) await publisher.publish({ type: 'image.approved', tenant_id: tenant, data: { i } });
  await eventually(async () => open >= 2);

  for (let i = 0; i < 5; i++) await publisher.publish({ type: 'credits.topped_up', tenant_id: tenant, data: { i } });
  await healthy.waitFor(5, 15_000);
  // Without per-endpoint limits every worker slot would sit on the hanging endpoint until its
  // request timeout; with them, the other endpoint is served while the first hanging attempts
  // are still open — an order of events, not a stopwatch, so a loaded machine cannot fake it.
  expect(closed).toBe(0);
  expect(maxOpen).toBeLessThanOrEqual(2);

  // The hanging attempts end at the deadline, logged as timeouts.
  const attempt = await eventually(
    async () =>
      h.env.db
        .selectFrom('attempts')
        .select(['error_class', 'latency_ms', 'status_code'])
        .where('endpoint_id', '=', slow.id)
        .executeTakeFirst(),
    15_000,
  );
  expect(attempt.error_class).toBe('timeout');
  expect(attempt.status_code).toBeNull();
  expect(attempt.latency_ms).toBeGreaterThanOrEqual(3_900); // ended by the 4 s request timeout, not before
  expect(maxOpen).toBeLessThanOrEqual(2);
  expect(arrived).toBeGreaterThanOrEqual(2);
});
