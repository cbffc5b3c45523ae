import { serviceHeaders, startWebhookReceiver, type WebhookReceiver } from '@tollgate/testkit';
import { sql } from 'kysely';
import request from 'supertest';
import { pruneExpired } from '../src/deliveries/retention';
import { asTenant, eventually, type Harness, publishEvents, startHarness } from './support/harness';

let h: Harness;
let up: WebhookReceiver;
let down: WebhookReceiver;

beforeAll(async () => {
  // The failing endpoint's next attempt is an hour away, so its delivery is still unfinished when pruned.
  h = await startHarness('wh_retention', {
    config: { WEBHOOK_RETENTION_DAYS: '30', WEBHOOK_RETENTION_INTERVAL_MS: '0', WEBHOOK_RETRY_SCHEDULE: '0,1h,2h' },
  });
  up = await startWebhookReceiver();
  down = await startWebhookReceiver();
  down.setStatus(503);
});
afterAll(async () => {
  await up.close();
  await down.close();
  await h.close();
});

const count = async (table: 'events' | 'deliveries' | 'attempts') =>
  Number((await sql<{ n: string }>`select count(*) as n from ${sql.table(table)}`.execute(h.env.db)).rows[0]!.n);

it('deletes finished deliveries, their attempts and orphaned events past retention; keeps pending and recent ones', async () => {
  const tenant = 'tenant_retention';
  await request(h.app).post('/v1/webhooks/endpoints').set(asTenant(tenant)).send({ url: up.url }).expect(201);
  const publish = (n: number) => publishEvents(h, tenant, n);
  const old = await publish(3);
  await eventually(async () => new Set(up.received.map((r) => r.headers['webhook-id'])).size === 3);
  await eventually(async () =>
    (await h.env.db.selectFrom('deliveries').select('status').where('event_id', 'in', old).execute()).every(
      (d) => d.status === 'succeeded',
    ),
  );

  // An event whose endpoint keeps failing: its delivery stays pending (retrying).
  const failing = await request(h.app)
    .post('/v1/webhooks/endpoints')
    .set(asTenant('tenant_retention_b'))
    .send({ url: down.url })
    .expect(201);
  const stuckRes = await request(h.app)
    .post('/internal/v1/events')
    .set(serviceHeaders())
    .send({ type: 'image.approved', tenant_id: 'tenant_retention_b', data: {} });
  const stuck = stuckRes.body.id as string;
  await eventually(async () => down.received.length > 0);

  // All of that happened 40 days ago.
  await sql`update deliveries set updated_at = now() - interval '40 days', created_at = now() - interval '40 days'`.execute(h.env.db);
  await sql`update events set received_at = now() - interval '40 days'`.execute(h.env.db);
  // And one event arrived today.
  const recent = await publish(1);
  await eventually(async () =>
    (await h.env.db.selectFrom('deliveries').select('status').where('event_id', 'in', recent).execute()).every(
      (d) => d.status === 'succeeded',
    ),
  );

  const attemptsBefore = await count('attempts');
  expect(attemptsBefore).toBeGreaterThanOrEqual(5);
  const pruned = await pruneExpired(h.runtime, { batch: 2 });
  expect(pruned).toEqual({ deliveries: 3, events: 3 });

  const events = (await h.env.db.selectFrom('events').select('id').execute()).map((e) => e.id).sort();
  expect(events).toEqual([stuck, ...recent].sort());
  const deliveries = await h.env.db.selectFrom('deliveries').select(['event_id', 'status', 'endpoint_id']).execute();
  expect(deliveries.map((d) => d.event_id).sort()).toEqual([stuck, ...recent].sort());
  // Unfinished: waiting for its next attempt, or in one right now.
  const kept = deliveries.find((d) => d.event_id === stuck);
  expect(kept).toMatchObject({ endpoint_id: failing.body.id });
  expect(['pending', 'sending']).toContain(kept!.status);
  // The deleted deliveries' attempts went with them; the others' stayed.
  // One statement, so an attempt the failing endpoint makes meanwhile cannot skew it.
  const { rows: left } = await sql<{ orphans: number; deleted_ones: number }>`
    select
      (select count(*) from attempts a where not exists (select 1 from deliveries d where d.id = a.delivery_id)) as orphans,
      (select count(*) from attempts a join deliveries d on d.id = a.delivery_id where d.event_id = any(${old})) as deleted_ones`.execute(
    h.env.db,
  );
  expect(left[0]).toEqual({ orphans: 0, deleted_ones: 0 });

  // A second pass has nothing left to do.
  expect(await pruneExpired(h.runtime)).toEqual({ deliveries: 0, events: 0 });
});
