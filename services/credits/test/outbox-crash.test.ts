// The process dies between the commit of a top-up (which records `credits.topped_up`) and the
// publish (the real entry point, killed by the outbox's failpoint): the money is there, the
// event waits in the outbox, and the relay the maintenance loop runs delivers it once.
import { createEventPublisher, createQueue, createRedis, type EventPublisher, WEBHOOK_EVENTS_QUEUE } from '@tollgate/common';
import { createTestEnv, identityHeaders, spawnServiceProcess, TEST_REDIS_URL, type TestEnv } from '@tollgate/testkit';
import type { Queue } from 'bullmq';
import { type CreditsHarness, startCredits } from './helpers';

const queueRedis = createRedis(TEST_REDIS_URL, 'queue');
let env: TestEnv;
let h: CreditsHarness;
let events: Queue;
let publisher: EventPublisher;

beforeAll(async () => {
  env = await createTestEnv('credits_outbox_crash');
  publisher = createEventPublisher({ connection: queueRedis, prefix: env.prefix });
  h = await startCredits('credits_outbox_crash', { testEnv: env, events: publisher });
  events = createQueue(WEBHOOK_EVENTS_QUEUE, { connection: queueRedis, prefix: env.prefix });
});
afterAll(async () => {
  await events?.close();
  await publisher?.close();
  await h?.close();
  await env?.cleanup();
  queueRedis.disconnect();
});

it('a kill after the top-up commits and before its event is published loses no event: the relay delivers it once', async () => {
  const tenant = 'ten_credits_crash';
  const credits = await spawnServiceProcess('credits', {
    DATABASE_URL: env.databaseUrl,
    DB_SCHEMA: env.schema,
    REDIS_URL: env.redisUrl,
    REDIS_PREFIX: env.prefix,
    TOLLGATE_FAILPOINT: 'outbox.before_publish',
  });
  await expect(
    fetch(`${credits.url}/v1/admin/tenants/${tenant}/credits`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...identityHeaders('admin', ['admin'], 'admin') },
      body: JSON.stringify({ amount: 5_000_000, reason: 'crash test' }),
    }),
  ).rejects.toThrow();
  expect((await credits.exited).signal).toBe('SIGKILL');

  const [topUp] = await env.db.selectFrom('transactions').select(['id', 'type', 'amount']).where('type', '=', 'top_up').execute();
  expect(topUp).toMatchObject({ amount: 5_000_000 }); // the money committed
  const [row] = await env.db.selectFrom('outbox_events').selectAll().execute();
  expect(row).toMatchObject({ id: `evt_${topUp!.id}`, type: 'credits.topped_up', tenant_id: tenant, published_at: null });
  expect(await events.getJob(row!.id)).toBeUndefined(); // committed, never published

  h.clock.advance(60_000); // the relay leaves fresh events to the request that recorded them
  expect(await h.ledger.relay.relayPending(5_000)).toBe(1);
  const job = await events.getJob(row!.id);
  expect(job?.data).toMatchObject({ id: row!.id, type: 'credits.topped_up', tenant_id: tenant });
  expect(await h.ledger.relay.relayPending(5_000)).toBe(0); // once
});
