import type { ChildProcess } from 'node:child_process';
import { createEventPublisher, type PlatformEvent } from '@tollgate/common';
import { type ServiceProcess, spawnServiceProcess } from '@tollgate/testkit';
import request from 'supertest';
import { startWorkers, type WebhookWorkers } from '../src/workers';
import { startGatedReceiver, type GatedReceiver } from './support/gated-receiver';
import { asTenant, eventually, FAST_CONFIG, type Harness, startHarness, verifyWith } from './support/harness';

const EVENTS = 30;
const CONCURRENCY = 5;
const ANSWER_FIRST = 10;

let h: Harness;
let receiver: GatedReceiver;
let child: ChildProcess | undefined;
let restarted: WebhookWorkers | undefined;

const workerSettings = {
  WEBHOOK_DELIVERY_CONCURRENCY: String(CONCURRENCY),
  WEBHOOK_ENDPOINT_MAX_IN_FLIGHT: String(CONCURRENCY),
  WEBHOOK_REQUEST_TIMEOUT_MS: '2000',
  WEBHOOK_LOCK_DURATION_MS: '3000',
  WEBHOOK_STALLED_INTERVAL_MS: '500',
};

beforeAll(async () => {
  h = await startHarness('wh_crash', { workers: false, config: workerSettings });
  receiver = await startGatedReceiver(ANSWER_FIRST);
});
afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await restarted?.close();
  receiver.open();
  await receiver.close();
  await h.close();
});

/** The real entry point (`dist/main.js --role=worker`) in its own process on this file's schema and prefix. */
function spawnWorkerProcess(): Promise<ServiceProcess> {
  return spawnServiceProcess(
    'webhook',
    {
      ...FAST_CONFIG,
      ...workerSettings,
      DATABASE_URL: h.env.databaseUrl,
      DB_SCHEMA: h.env.schema,
      REDIS_URL: h.env.redisUrl,
      REDIS_PREFIX: h.env.prefix,
    },
    { args: ['--role=worker'], waitReady: false },
  );
}

it('SIGKILL of the worker process mid-batch: every event is delivered, none twice to a receiver that answered 2xx', async () => {
  const tenant = 'tenant_crash';
  const ep = (await request(h.app).post('/v1/webhooks/endpoints').set(asTenant(tenant)).send({ url: receiver.url })).body;
  const publisher = createEventPublisher({ connection: h.queueRedis, prefix: h.config.REDIS_PREFIX });
  const events: PlatformEvent[] = [];
  for (let i = 0; i < EVENTS; i++) events.push(await publisher.publish({ type: 'file.uploaded', tenant_id: tenant, data: { i } }));
  await publisher.close();

  const worker = await spawnWorkerProcess();
  child = worker.child;
  const exited = worker.exited.then(({ signal }) => signal);
  // Mid-batch: the first ten were answered, and every worker slot is now waiting on a held request.
  try {
    await eventually(async () => receiver.held() === CONCURRENCY, 20_000);
  } catch (err) {
    throw new Error(`worker never filled its slots; child said:\n${worker.output().slice(-2000)}`, { cause: err });
  }
  const answeredBeforeKill = receiver.requests.filter((r) => r.answered2xx).length;
  expect(answeredBeforeKill).toBe(ANSWER_FIRST);
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  // The held requests lose their client; only now does the receiver answer again.
  await eventually(async () => receiver.requests.filter((r) => r.abandoned).length === CONCURRENCY, 5_000);
  receiver.open();

  restarted = startWorkers(h.runtime);
  const ids = new Set(events.map((e) => e.id));
  await eventually(async () => new Set(receiver.requests.filter((r) => r.answered2xx).map((r) => r.webhookId)).size === EVENTS, 20_000);
  // Give any wrongly duplicated attempt time to show up.
  await new Promise((r) => setTimeout(r, 700));

  const answered = receiver.requests.filter((r) => r.answered2xx);
  const perEvent = new Map<string, number>();
  for (const r of answered) perEvent.set(r.webhookId, (perEvent.get(r.webhookId) ?? 0) + 1);
  expect([...perEvent.keys()].sort()).toEqual([...ids].sort());
  expect([...perEvent.values()].every((n) => n === 1)).toBe(true);
  // The only re-sends are the attempts that were in flight when the process died.
  const abandoned = receiver.requests.filter((r) => r.abandoned).map((r) => r.webhookId);
  expect(receiver.requests).toHaveLength(EVENTS + abandoned.length);
  for (const r of receiver.requests) verifyWith(ep.secret, r.rawBody, r.headers);

  const statuses = await h.env.db
    .selectFrom('deliveries')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .where('endpoint_id', '=', ep.id)
    .groupBy('status')
    .execute();
  expect(statuses.map((s) => [s.status, Number(s.n)])).toEqual([['succeeded', EVENTS]]);
  const attempts = await h.env.db.selectFrom('attempts').select(['outcome']).where('endpoint_id', '=', ep.id).execute();
  expect(attempts.filter((a) => a.outcome === 'succeeded')).toHaveLength(EVENTS);
}, 45_000);
