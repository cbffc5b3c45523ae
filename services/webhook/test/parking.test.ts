import { createEventPublisher } from '@tollgate/common';
import { startWebhookReceiver, type WebhookReceiver } from '@tollgate/testkit';
import request from 'supertest';
import { asTenant, type Harness, startHarness } from './support/harness';

let h: Harness;
let receiver: WebhookReceiver;

beforeAll(async () => {
  h = await startHarness('wh_parking', {
    config: {
      WEBHOOK_DELIVERY_CONCURRENCY: '8',
      WEBHOOK_ENDPOINT_MAX_IN_FLIGHT: '1',
      // The fallback wake-up is far away: only the wake-on-release can deliver in time.
      WEBHOOK_BUSY_RETRY_MS: '20000',
    },
  });
  receiver = await startWebhookReceiver();
});
afterAll(async () => {
  await receiver.close();
  await h.close();
});

it('a backlog for a saturated endpoint drains one at a time, each release waking the next parked delivery', async () => {
  const tenant = 'tenant_parking';
  await request(h.app).post('/v1/webhooks/endpoints').set(asTenant(tenant)).send({ url: receiver.url });
  receiver.setDelay(30);
  let open = 0;
  let maxOpen = 0;
  receiver.server.on('request', (req) => {
    open++;
    maxOpen = Math.max(maxOpen, open);
    req.once('close', () => open--);
  });
  const publisher = createEventPublisher({ connection: h.queueRedis, prefix: h.config.REDIS_PREFIX });
  const start = Date.now();
  for (let i = 0; i < 12; i++) await publisher.publish({ type: 'file.uploaded', tenant_id: tenant, data: { i } });
  await publisher.close();
  const got = await receiver.waitFor(12, 6_000);
  expect(Date.now() - start).toBeLessThan(6_000);
  expect(new Set(got.map((r) => r.headers['webhook-id'])).size).toBe(12);
  expect(maxOpen).toBe(1);
}, 15_000);
