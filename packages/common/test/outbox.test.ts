import { createTestEnv, silentLogger, type TestEnv } from '@tollgate/testkit';
import { sql } from 'kysely';
import { type EventPublisher, memoryEventPublisher } from '../src/events';
import { createOutboxTable, OutboxRelay, recordEvent } from '../src/outbox';

let env: TestEnv;
let now = new Date('2026-12-03T10:00:00Z');
const clock = () => now;

/** The in-memory publisher, made to fail on demand (the queue is down). */
function switchablePublisher() {
  const inner = memoryEventPublisher();
  const publisher: EventPublisher & { down: boolean } = {
    down: false,
    publish: (event) => (publisher.down ? Promise.reject(new Error('queue down')) : inner.publish(event)),
    close: async () => undefined,
  };
  return { publisher, published: inner.events };
}

beforeAll(async () => {
  env = await createTestEnv('outbox');
  await env.migrate({ '0001_outbox': { up: createOutboxTable } });
});
afterAll(() => env.cleanup());
beforeEach(async () => {
  await sql`truncate outbox_events`.execute(env.db);
});

const pending = () => env.db.selectFrom('outbox_events').select('id').where('published_at', 'is', null).execute();
const event = (id: string, at = now) => ({ id, type: 'file.uploaded' as const, tenant_id: 'ten_a', data: { id }, created_at: at });

describe('the outbox', () => {
  it('records only what commits, once per id', async () => {
    await env.db
      .transaction()
      .execute(async (trx) => {
        await recordEvent(trx, event('evt_rolled_back_0000000001'));
        throw new Error('the change fails');
      })
      .catch(() => undefined);
    await env.db.transaction().execute(async (trx) => {
      await recordEvent(trx, event('evt_committed_000000000001'));
      await recordEvent(trx, event('evt_committed_000000000001')); // a retried step
    });
    expect((await pending()).map((r) => r.id)).toEqual(['evt_committed_000000000001']);
  });

  it('publishes after commit and marks it; a failed publish stays for the relay, which leaves fresh events to their request', async () => {
    const { publisher, published } = switchablePublisher();
    const relay = new OutboxRelay({ db: env.db, publisher, logger: silentLogger('outbox'), now: clock });
    const first = await recordEvent(env.db, event('evt_first_0000000000000001'));
    await relay.publishNow([first]);
    expect(published.map((e) => e.id)).toEqual(['evt_first_0000000000000001']);
    expect(await pending()).toEqual([]);

    publisher.down = true;
    const second = await recordEvent(env.db, event('evt_second_000000000000001'));
    await relay.publishNow([second]); // never throws
    expect((await pending()).map((r) => r.id)).toEqual(['evt_second_000000000000001']);

    publisher.down = false;
    expect(await relay.relayPending(5_000)).toBe(0); // still fresh: its request may yet publish it
    now = new Date(now.getTime() + 6_000);
    expect(await relay.relayPending(5_000)).toBe(1);
    expect(await relay.relayPending(5_000)).toBe(0);
    expect(published.map((e) => e.id)).toEqual(['evt_first_0000000000000001', 'evt_second_000000000000001']);
    expect(published[1]).toMatchObject({ type: 'file.uploaded', tenant_id: 'ten_a', data: { id: 'evt_second_000000000000001' } });
  });

  it('the relay stops at the first failure and prunes published events past retention only', async () => {
    const { publisher, published } = switchablePublisher();
    const relay = new OutboxRelay({ db: env.db, publisher, logger: silentLogger('outbox'), now: clock });
    const old = new Date(now.getTime() - 60_000);
    for (const id of ['evt_relay_a_00000000000001', 'evt_relay_b_00000000000001']) await recordEvent(env.db, event(id, old));
    publisher.down = true;
    expect(await relay.relayPending(5_000)).toBe(0);
    expect(await pending()).toHaveLength(2);
    publisher.down = false;
    expect(await relay.relayPending(5_000)).toBe(2);
    expect(published.map((e) => e.id)).toEqual(['evt_relay_a_00000000000001', 'evt_relay_b_00000000000001']);

    expect(await relay.prunePublished(60_000)).toBe(0); // published just now: kept
    now = new Date(now.getTime() + 61_000);
    expect(await relay.prunePublished(60_000)).toBe(2);
    expect(await env.db.selectFrom('outbox_events').select('id').execute()).toEqual([]);
  });
});
