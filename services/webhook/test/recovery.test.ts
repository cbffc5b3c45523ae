import { enqueue } from '@tollgate/common';
import { startWebhookReceiver, type WebhookReceiver } from '@tollgate/testkit';
import request from 'supertest';
import { deliveryAttemptJob } from '../src/deliveries/jobs';
import { startWorkers, type WebhookWorkers } from '../src/workers';
import { asTenant, eventually, type Harness, publishEvents, startHarness } from './support/harness';

let h: Harness;
let receiver: WebhookReceiver;
let workers: WebhookWorkers | undefined;

beforeAll(async () => {
  h = await startHarness('wh_recovery', { workers: false, config: { WEBHOOK_SWEEP_INTERVAL_MS: '200', WEBHOOK_SWEEP_GRACE_MS: '100' } });
  receiver = await startWebhookReceiver();
});
afterAll(async () => {
  await workers?.close();
  await receiver.close();
  await h.close();
});

it('re-enqueues deliveries whose jobs Redis lost, and never sends one attempt twice when jobs are duplicated', async () => {
  const tenant = 'tenant_recovery';
  const ep = (await request(h.app).post('/v1/webhooks/endpoints').set(asTenant(tenant)).send({ url: receiver.url })).body;
  const ids = await publishEvents(h, tenant, 5);
  // Redis loses every queued delivery job (a failover without persistence, a flush).
  await h.runtime.deliveryQueue.obliterate({ force: true });
  expect(await h.runtime.deliveryQueue.count()).toBe(0);

  // And the one left is duplicated under other job ids (a retried publish, a second sweeper).
  const dup = await h.env.db
    .selectFrom('deliveries')
    .select(['id', 'endpoint_id', 'round'])
    .where('event_id', '=', ids[0]!)
    .executeTakeFirstOrThrow();
  for (let i = 0; i < 4; i++)
    await enqueue(
      h.runtime.deliveryQueue,
      deliveryAttemptJob,
      { delivery_id: dup.id, endpoint_id: dup.endpoint_id, round: dup.round, attempt: 1 },
      { jobId: `dup-${i}` },
    );

  workers = startWorkers(h.runtime);
  await eventually(async () => new Set(receiver.received.map((r) => r.headers['webhook-id'])).size === ids.length, 8_000);
  await new Promise((r) => setTimeout(r, 500));
  const perId = new Map<string, number>();
  for (const r of receiver.received) perId.set(String(r.headers['webhook-id']), (perId.get(String(r.headers['webhook-id'])) ?? 0) + 1);
  expect([...perId.keys()].sort()).toEqual([...ids].sort());
  expect([...perId.values()]).toEqual([1, 1, 1, 1, 1]);
  const rows = await h.env.db.selectFrom('deliveries').select(['status', 'attempt_count']).where('endpoint_id', '=', ep.id).execute();
  expect(rows.every((r) => r.status === 'succeeded' && r.attempt_count === 1)).toBe(true);
});
