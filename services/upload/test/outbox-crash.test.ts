// The process dies between the commit that records `file.uploaded` and its publish (the real
// entry point, killed by the outbox's failpoint): the event is in the outbox, not yet in the
// queue, and the maintenance sweep's relay delivers it to `webhook-events` once.
import { createEventPublisher, createQueue, createRedis, WEBHOOK_EVENTS_QUEUE } from '@tollgate/common';
import { spawnServiceProcess, TEST_REDIS_URL } from '@tollgate/testkit';
import type { Queue } from 'bullmq';
import { type Harness, pngBytes, startHarness, uploadFile } from './helpers';

const queueRedis = createRedis(TEST_REDIS_URL, 'queue');
let h: Harness;
let events: Queue;

beforeAll(async () => {
  h = await startHarness('upload_outbox_crash', { publisher: (env) => createEventPublisher({ connection: queueRedis, prefix: env.prefix }) });
});
afterAll(async () => {
  await events?.close();
  await h.close();
  queueRedis.disconnect();
});

it('a kill after the commit and before the publish loses no event: the relay delivers it', async () => {
  events = createQueue(WEBHOOK_EVENTS_QUEUE, { connection: queueRedis, prefix: h.env.prefix });

  const upload = await spawnServiceProcess('upload', {
    DATABASE_URL: h.env.databaseUrl,
    DB_SCHEMA: h.env.schema,
    REDIS_URL: h.env.redisUrl,
    REDIS_PREFIX: h.env.prefix,
    DATA_DIR: h.dataDir,
    UPLOAD_MAX_BYTES: String(64 * 1024),
    TOLLGATE_FAILPOINT: 'outbox.before_publish',
  });
  await expect(uploadFile(upload.url, 'ten_crash', { content: pngBytes(), filename: 'x.png' })).rejects.toThrow();
  expect((await upload.exited).signal).toBe('SIGKILL');

  const [row] = await h.db.selectFrom('outbox_events').selectAll().execute();
  expect(row).toMatchObject({ type: 'file.uploaded', tenant_id: 'ten_crash', published_at: null });
  expect(await events.getJob(row!.id)).toBeUndefined(); // committed, never published

  h.clock.advance(60_000); // the relay leaves fresh events to their request
  expect((await h.app.sweeper.run()).eventsRelayed).toBe(1);
  const job = await events.getJob(row!.id);
  expect(job?.data).toMatchObject({ id: row!.id, type: 'file.uploaded', tenant_id: 'ten_crash' });
  const file = await h.db.selectFrom('files').select(['id', 'status']).executeTakeFirstOrThrow();
  expect((job!.data.data as { file: { id: string } }).file.id).toBe(file.id);
  expect(await h.db.selectFrom('outbox_events').select('id').where('published_at', 'is', null).execute()).toEqual([]);
  expect((await h.app.sweeper.run()).eventsRelayed).toBe(0); // once
});
