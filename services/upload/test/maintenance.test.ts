import fs from 'node:fs/promises';
import path from 'node:path';
import request from 'supertest';
import {
  createEventPublisher,
  createQueue,
  createRedis,
  type EventPublisher,
  memoryEventPublisher,
  type PlatformEvent,
  WEBHOOK_EVENTS_QUEUE,
} from '@tollgate/common';
import { TEST_REDIS_URL } from '@tollgate/testkit';
import { sql } from 'kysely';
import type { Queue } from 'bullmq';
import { startMaintenance, type Maintenance } from '../src/workers';
import { auth, filesUnder, type Harness, pngBytes, startHarness, uploadFile } from './helpers';

/** A publisher we can make fail, to prove the outbox keeps events until they are out. */
function flakyPublisher(): EventPublisher & { events: PlatformEvent[]; failing: boolean } {
  const inner = memoryEventPublisher();
  const flaky = {
    events: inner.events,
    failing: false,
    async publish(input: Parameters<EventPublisher['publish']>[0]) {
      if (flaky.failing) throw new Error('redis down');
      return inner.publish(input);
    },
    close: () => inner.close(),
  };
  return flaky;
}

const publisher = flakyPublisher();
let h: Harness;
beforeAll(async () => {
  h = await startHarness('upload_maint', { env: { ORPHAN_GRACE_S: '60', RESERVATION_TTL_S: '60' }, publisher });
});
afterAll(async () => {
  await h.close();
});

const old = new Date(Date.now() - 3600_000);

describe('upload-maintenance sweep', () => {
  it('expires files past expires_at: hidden at once, then object, row and quota removed with file.expired', async () => {
    const res = await uploadFile(h.url, 'ten_exp', { content: pngBytes(1000), filename: 'soon.png' }, { expires_in: '60' });
    const id = res.json().id as string;
    const keep = (await uploadFile(h.url, 'ten_exp', { content: pngBytes(500), filename: 'stays.png' })).json().id as string;
    const { storage_key: key } = await h.db.selectFrom('files').select('storage_key').where('id', '=', id).executeTakeFirstOrThrow();

    h.clock.advance(61_000);
    // Past expiry the file is gone for readers even before the sweep ran.
    expect((await request(h.url).get(`/v1/files/${id}`).set(auth('ten_exp'))).status).toBe(404);
    expect((await request(h.url).get(`/v1/files/${id}/content`).set(auth('ten_exp'))).status).toBe(404);

    const report = await h.app.sweeper.run();
    expect(report.expired).toBe(1);
    expect(await h.db.selectFrom('files').select('id').where('id', '=', id).execute()).toEqual([]);
    await expect(fs.stat(path.join(h.dataDir, 'objects', key.slice(0, 2), key))).rejects.toThrow();
    expect(await h.db.selectFrom('tenant_usage').select(['bytes', 'files']).where('tenant_id', '=', 'ten_exp').executeTakeFirst()).toEqual({
      bytes: 500,
      files: 1,
    });
    expect(publisher.events.find((e) => e.type === 'file.expired')).toMatchObject({ tenant_id: 'ten_exp', data: { file_id: id } });
    expect((await request(h.url).get(`/v1/files/${keep}`).set(auth('ten_exp'))).status).toBe(200);
    // A second run finds nothing more to do, and announces nothing twice.
    expect((await h.app.sweeper.run()).expired).toBe(0);
    expect(publisher.events.filter((e) => e.type === 'file.expired')).toHaveLength(1);
  });

  it('removes orphaned objects, temporary files and staged uploads older than the grace period', async () => {
    // Ages are judged by the service clock (which other tests move), so files are dated by it.
    const old = new Date(h.clock.now().getTime() - 3600_000);
    const now = h.clock.now();
    const kept = (await uploadFile(h.url, 'ten_orphan', { content: pngBytes(700), filename: 'kept.png' })).json().id as string;
    const { storage_key: keptKey } = await h.db.selectFrom('files').select('storage_key').where('id', '=', kept).executeTakeFirstOrThrow();
    const keptPath = path.join(h.dataDir, 'objects', keptKey.slice(0, 2), keptKey);
    await fs.utimes(keptPath, old, old);

    // What a crash leaves: an object renamed into place whose row never committed, a half-written temp file, staged tus bytes without a row.
    const orphanKey = 'Zz' + 'a'.repeat(30);
    const orphanPath = path.join(h.dataDir, 'objects', 'Zz', orphanKey);
    await fs.mkdir(path.dirname(orphanPath), { recursive: true });
    await fs.writeFile(orphanPath, 'orphan');
    await fs.utimes(orphanPath, old, old);
    const tmpPath = path.join(h.dataDir, 'tmp', 'crashed.part');
    await fs.writeFile(tmpPath, 'half');
    await fs.utimes(tmpPath, old, old);
    const stagedPath = path.join(h.dataDir, 'tus', 'upl_' + 'b'.repeat(24));
    await fs.writeFile(stagedPath, 'staged');
    await fs.utimes(stagedPath, old, old);
    // Fresh leftovers may belong to uploads in flight: they stay.
    const freshTmp = path.join(h.dataDir, 'tmp', 'inflight.part');
    await fs.writeFile(freshTmp, 'writing');
    await fs.utimes(freshTmp, now, now);

    const report = await h.app.sweeper.run();
    expect(report).toMatchObject({ orphanObjects: 1, orphanTemporary: 1, orphanStaged: 1 });
    const left = await filesUnder(h.dataDir);
    expect(left).toContain(path.relative(h.dataDir, keptPath));
    expect(left).toContain(path.join('tmp', 'inflight.part'));
    expect(left).not.toContain(path.relative(h.dataDir, orphanPath));
    expect(left).not.toContain(path.join('tmp', 'crashed.part'));
    expect(left).not.toContain(path.relative(h.dataDir, stagedPath));
    await fs.rm(freshTmp);
  });

  it('releases reservations of uploads whose process died, and expires abandoned tus uploads', async () => {
    await h.db.insertInto('tenant_usage').values({ tenant_id: 'ten_dead', bytes: 5000, files: 1 }).execute();
    await h.db
      .insertInto('upload_reservations')
      .values({ id: 'rsv_dead', tenant_id: 'ten_dead', kind: 'multipart', bytes: 5000, files: 1, heartbeat_at: old })
      .execute();

    const created = await request(h.url)
      .post('/v1/uploads')
      .set(auth('ten_dead'))
      .set('Tus-Resumable', '1.0.0')
      .set('Upload-Length', '300');
    expect(created.status).toBe(201);
    expect(await h.db.selectFrom('tenant_usage').select(['bytes', 'files']).where('tenant_id', '=', 'ten_dead').executeTakeFirst()).toEqual(
      { bytes: 5300, files: 2 },
    );

    h.clock.advance(h.config.TUS_UPLOAD_TTL_S * 1000 + 1000);
    const report = await h.app.sweeper.run();
    expect(report).toMatchObject({ reservationsReleased: 1, uploadsExpired: 1 });
    expect(await h.db.selectFrom('tenant_usage').select(['bytes', 'files']).where('tenant_id', '=', 'ten_dead').executeTakeFirst()).toEqual(
      { bytes: 0, files: 0 },
    );
    expect(await fs.readdir(path.join(h.dataDir, 'tus'))).toEqual([]);
  });

  it('keeps events in the outbox while publishing fails and relays them later', async () => {
    publisher.failing = true;
    const res = await uploadFile(h.url, 'ten_outbox', { content: pngBytes(), filename: 'x.png' });
    expect(res.status).toBe(201);
    const id = res.json().id as string;
    const pending = h.db.selectFrom('outbox_events').select('id').where('published_at', 'is', null);
    expect(await pending.execute()).toHaveLength(1);
    publisher.failing = false;
    // The relay only takes events older than a few seconds (fresh ones are published by their request).
    await h.db
      .updateTable('outbox_events')
      .set({ created_at: old } as never)
      .where('published_at', 'is', null)
      .execute();
    expect((await h.app.sweeper.run()).eventsRelayed).toBe(1);
    expect(await pending.execute()).toEqual([]);
    expect(publisher.events.some((e) => e.type === 'file.uploaded' && (e.data['file'] as { id: string }).id === id)).toBe(true);
  });
  it('moves events an old replica wrote to event_outbox during a rolling deploy, and relays them', async () => {
    await sql`
      insert into event_outbox (id, type, tenant_id, data, created_at)
      values ('evt_file_deleted_legacyReplica0001', 'file.deleted', 'ten_legacy', '{"file_id":"file_legacyReplica0001"}', ${old})`.execute(h.db);
    const report = await h.app.sweeper.run();
    expect(report).toMatchObject({ legacyEventsMoved: 1, eventsRelayed: 1 });
    expect((await sql<{ n: number }>`select count(*)::int as n from event_outbox`.execute(h.db)).rows[0]!.n).toBe(0);
    expect(publisher.events.find((e) => e.id === 'evt_file_deleted_legacyReplica0001')).toMatchObject({ type: 'file.deleted', tenant_id: 'ten_legacy' });
  });
});

describe('the repeatable job on upload-maintenance and the webhook-events queue', () => {
  let maintenance: Maintenance | undefined;
  let events: Queue | undefined;
  const queueRedis = createRedis(TEST_REDIS_URL, 'queue');

  afterAll(async () => {
    for (const closer of maintenance?.closers ?? []) await closer.close();
    await events?.close();
    await queueRedis.quit();
  });

  it('runs the sweep on schedule and publishes file.expired to webhook-events with a deterministic id', async () => {
    const publisherToQueue = createEventPublisher({ connection: queueRedis, prefix: h.env.prefix });
    const harness = await startHarness('upload_maint_job', { publisher: publisherToQueue });
    try {
      const id = (await uploadFile(harness.url, 'ten_job', { content: pngBytes(), filename: 'x.png' }, { expires_in: '1' })).json()
        .id as string;
      harness.clock.advance(2000);
      maintenance = await startMaintenance({
        sweeper: harness.app.sweeper,
        connection: queueRedis,
        prefix: h.env.prefix,
        logger: (await import('@tollgate/testkit')).silentLogger(),
        intervalMs: 200,
      });
      expect(await maintenance.queue.getJobSchedulersCount()).toBe(1);
      const deadline = Date.now() + 10_000;
      while ((await harness.db.selectFrom('files').select('id').where('id', '=', id).execute()).length > 0) {
        if (Date.now() > deadline) throw new Error('the scheduled sweep did not run');
        await new Promise((r) => setTimeout(r, 50));
      }
      events = createQueue(WEBHOOK_EVENTS_QUEUE, { connection: queueRedis, prefix: h.env.prefix });
      const expired = await events.getJob(`evt_file_expired_${id.slice('file_'.length)}`);
      expect(expired?.data).toMatchObject({ type: 'file.expired', tenant_id: 'ten_job', data: { file_id: id } });
      const uploaded = await events.getJob(`evt_file_uploaded_${id.slice('file_'.length)}`);
      expect(uploaded?.data).toMatchObject({ type: 'file.uploaded', tenant_id: 'ten_job' });
    } finally {
      await publisherToQueue.close();
      await harness.close();
    }
  });
});
