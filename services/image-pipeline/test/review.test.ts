import { identityHeaders } from '@tollgate/testkit';
import request from 'supertest';
import { findImageById } from '../src/images/repository';
import type { ImageStatus } from '../src/images/states';
import { createHarness, type Harness } from './support/harness';
import { seedImage } from './support/seed';

// Image work under a loaded CI box: the root jest config (projects) keeps jest's 5 s default.
jest.setTimeout(60_000);

let counter = 0;
const newTenant = () => `ten_rev_${process.pid}_${++counter}`;
const writer = (tenant: string) => identityHeaders(tenant, ['read', 'write']);

describe('review: state machine, single and batch actions, publishing to the local catalog', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness({ label: 'img_review' });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('approve and reject move pending_review images; an action that does not fit is 409 with the current state', async () => {
    const tenant = newTenant();
    const a = await seedImage(h, tenant, 'pending_review');
    const b = await seedImage(h, tenant, 'pending_review');
    const queued = await seedImage(h, tenant, 'queued');

    const approved = await request(h.app).post(`/v1/images/${a.id}/approve`).set(writer(tenant)).send({});
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ id: a.id, status: 'approved' });

    const again = await request(h.app).post(`/v1/images/${a.id}/approve`).set(writer(tenant)).send({});
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({
      code: 'CONFLICT',
      details: { current_status: 'approved', action: 'approve', image_id: a.id },
    });

    const early = await request(h.app).post(`/v1/images/${queued.id}/approve`).set(writer(tenant)).send({});
    expect(early.status).toBe(409);
    expect(early.body.error.details.current_status).toBe('queued');
    expect((await findImageById(h.db, queued.id))!.status).toBe('queued');

    const noReason = await request(h.app).post(`/v1/images/${b.id}/reject`).set(writer(tenant)).send({});
    expect(noReason.status).toBe(400);
    const rejected = await request(h.app).post(`/v1/images/${b.id}/reject`).set(writer(tenant)).send({ reason: 'text is illegible' });
    expect(rejected.status).toBe(200);
    expect(rejected.body).toMatchObject({ status: 'rejected', rejection_reason: 'text is illegible' });
    const reapprove = await request(h.app).post(`/v1/images/${b.id}/approve`).set(writer(tenant)).send({});
    expect(reapprove.body.error.details.current_status).toBe('rejected');

    const events = (await h.events()).filter((e) => e.tenant_id === tenant);
    expect(events.map((e) => [e.type, e.data['image_id']])).toEqual(
      expect.arrayContaining([
        ['image.approved', a.id],
        ['image.rejected', b.id],
      ]),
    );
    expect(events.find((e) => e.type === 'image.rejected')!.data['reason']).toBe('text is illegible');

    const transitions = await h.db
      .selectFrom('image_transitions')
      .select(['from_status', 'to_status', 'reason'])
      .where('image_id', '=', b.id)
      .orderBy('id')
      .execute();
    expect(transitions).toEqual([{ from_status: 'pending_review', to_status: 'rejected', reason: 'text is illegible' }]);
  });

  it("batch approve of 10 ids, 3 in the wrong state and 1 another tenant's: 6 successful, the rest reported per id, nothing else changed", async () => {
    const tenant = newTenant();
    const other = newTenant();
    const ready = await Promise.all(Array.from({ length: 6 }, () => seedImage(h, tenant, 'pending_review')));
    const wrong = [await seedImage(h, tenant, 'queued'), await seedImage(h, tenant, 'rejected'), await seedImage(h, tenant, 'failed')];
    const foreign = await seedImage(h, other, 'pending_review');
    const bystander = await seedImage(h, tenant, 'pending_review');
    const ids = [
      ready[0]!.id,
      wrong[0]!.id,
      ready[1]!.id,
      foreign.id,
      ready[2]!.id,
      wrong[1]!.id,
      ready[3]!.id,
      ready[4]!.id,
      wrong[2]!.id,
      ready[5]!.id,
    ];

    const res = await request(h.app).post('/v1/images/batch/approve').set(writer(tenant)).send({ image_ids: ids });
    expect(res.status).toBe(200);
    expect(res.body.successful).toEqual(ready.map((r) => r.id));
    expect(res.body.skipped).toEqual([]);
    expect(res.body.counts).toEqual({ requested: 10, successful: 6, failed: 4, skipped: 0 });
    expect(res.body.failed).toEqual([
      { id: wrong[0]!.id, code: 'CONFLICT', message: expect.stringContaining('queued') },
      { id: foreign.id, code: 'NOT_FOUND', message: 'Image not found' },
      { id: wrong[1]!.id, code: 'CONFLICT', message: expect.stringContaining('rejected') },
      { id: wrong[2]!.id, code: 'CONFLICT', message: expect.stringContaining('failed') },
    ]);

    const statusOf = async (id: string) => (await findImageById(h.db, id))!.status;
    for (const r of ready) expect(await statusOf(r.id)).toBe('approved');
    expect(await Promise.all(wrong.map((w) => statusOf(w.id)))).toEqual(['queued', 'rejected', 'failed'] satisfies ImageStatus[]);
    expect(await statusOf(foreign.id)).toBe('pending_review');
    expect(await statusOf(bystander.id)).toBe('pending_review');

    const events = await h.events();
    const batch = events.find((e) => e.type === 'batch.completed' && e.tenant_id === tenant);
    expect(batch?.data).toMatchObject({ action: 'approve', counts: { requested: 10, successful: 6, failed: 4, skipped: 0 } });
    expect(events.filter((e) => e.type === 'image.approved' && e.tenant_id === tenant)).toHaveLength(6);
    // The other tenant hears nothing about it.
    expect(events.filter((e) => e.tenant_id === other)).toEqual([]);
  });

  it('batch: repeats are skipped, reject needs a reason, and more than 100 ids is a 400', async () => {
    const tenant = newTenant();
    const a = await seedImage(h, tenant, 'approved');
    const b = await seedImage(h, tenant, 'pending_review');
    const res = await request(h.app)
      .post('/v1/images/batch/approve')
      .set(writer(tenant))
      .send({ image_ids: [a.id, b.id, b.id] });
    expect(res.body).toMatchObject({
      successful: [b.id],
      failed: [],
      skipped: [
        { id: a.id, reason: 'already approved' },
        { id: b.id, reason: 'duplicate in this batch' },
      ],
      counts: { requested: 3, successful: 1, failed: 0, skipped: 2 },
    });
    expect(
      (
        await request(h.app)
          .post('/v1/images/batch/reject')
          .set(writer(tenant))
          .send({ image_ids: [a.id] })
      ).status,
    ).toBe(400);
    const rejected = await request(h.app)
      .post('/v1/images/batch/reject')
      .set(writer(tenant))
      .send({ image_ids: [a.id], reason: 'off-brand' });
    expect(rejected.body.successful).toEqual([a.id]);
    const tooMany = await request(h.app)
      .post('/v1/images/batch/approve')
      .set(writer(tenant))
      .send({ image_ids: Array.from({ length: 101 }, (_, i) => `img_${i}`) });
    expect(tooMany.status).toBe(400);
    expect((await request(h.app).post('/v1/images/batch/approve').set(writer(tenant)).send({ image_ids: [] })).status).toBe(400);
    expect(
      (
        await request(h.app)
          .post('/v1/images/batch/frobnicate')
          .set(writer(tenant))
          .send({ image_ids: [a.id] })
      ).status,
    ).toBe(400);
    expect(
      (
        await request(h.app)
          .post('/v1/images/batch/approve')
          .set(identityHeaders(tenant, ['read']))
          .send({ image_ids: [a.id] })
      ).status,
    ).toBe(403);
  });

  it('publish: approved → publishing → published in the local catalog, with an event; only approved images publish', async () => {
    const tenant = newTenant();
    const image = await seedImage(h, tenant, 'approved');
    const pending = await seedImage(h, tenant, 'pending_review');
    const res = await request(h.app).post(`/v1/images/${image.id}/publish`).set(writer(tenant)).send({});
    expect(res.status).toBe(202);
    expect(res.body.status).toBe('publishing');
    const row = await h.waitForStatus(image.id, ['published', 'publish_failed']);
    expect(row.status).toBe('published');
    expect(row.publication).toMatchObject({ publisher: 'local', external_id: expect.stringMatching(/^cat_/) });
    const item = await h.db.selectFrom('catalog_items').selectAll().where('image_id', '=', image.id).executeTakeFirstOrThrow();
    expect(item).toMatchObject({ tenant_id: tenant, width: 120, height: 144 });
    expect(await h.deps.storage.exists(item.storage_key)).toBe(true);
    expect((await h.events()).some((e) => e.type === 'image.published' && e.data['image_id'] === image.id)).toBe(true);

    const notYet = await request(h.app).post(`/v1/images/${pending.id}/publish`).set(writer(tenant)).send({});
    expect(notYet.status).toBe(409);
    expect(notYet.body.error.details.current_status).toBe('pending_review');

    const batch = await request(h.app)
      .post('/v1/images/batch/publish')
      .set(writer(tenant))
      .send({ image_ids: [image.id, pending.id] });
    expect(batch.body).toMatchObject({
      successful: [],
      skipped: [{ id: image.id, reason: 'already published' }],
      failed: [{ id: pending.id, code: 'CONFLICT' }],
    });
  });

  it('lists the review queue newest first with status filter and cursor pagination, per tenant', async () => {
    const tenant = newTenant();
    const seeded: string[] = [];
    for (let i = 0; i < 5; i++) seeded.push((await seedImage(h, tenant, 'pending_review')).id);
    await seedImage(h, tenant, 'approved');
    await seedImage(h, newTenant(), 'pending_review');

    const pages: string[] = [];
    let cursor: string | null = null;
    do {
      const res: request.Response = await request(h.app)
        .get(`/v1/images?status=pending_review&limit=2${cursor ? `&cursor=${cursor}` : ''}`)
        .set(identityHeaders(tenant, ['read']));
      expect(res.status).toBe(200);
      pages.push(...res.body.data.map((i: { id: string; status: string }) => i.id));
      cursor = res.body.next_cursor;
    } while (cursor);
    expect(pages).toEqual([...seeded].reverse());

    const all = await request(h.app)
      .get('/v1/images?limit=100')
      .set(identityHeaders(tenant, ['read']));
    expect(all.body.data).toHaveLength(6);
    expect(all.body.data[0]).toMatchObject({
      object: 'image',
      variants: { print: { url: expect.stringContaining('variant=print'), dpi: 300 } },
    });
    expect(JSON.stringify(all.body)).not.toContain(tenant + '/');

    expect(
      (
        await request(h.app)
          .get('/v1/images?status=lost')
          .set(identityHeaders(tenant, ['read']))
      ).status,
    ).toBe(400);
    expect(
      (
        await request(h.app)
          .get('/v1/images?cursor=garbage')
          .set(identityHeaders(tenant, ['read']))
      ).status,
    ).toBe(400);
    expect(
      (
        await request(h.app)
          .get('/v1/images')
          .set(identityHeaders(tenant, ['generation']))
      ).status,
    ).toBe(403);
  });

  it("another tenant's image is 404 everywhere; batch delete removes images and their files, never in-flight ones", async () => {
    const tenant = newTenant();
    const image = await seedImage(h, tenant, 'rejected');
    const busy = await seedImage(h, tenant, 'processing');
    const stranger = identityHeaders(newTenant(), ['read', 'write']);
    expect((await request(h.app).get(`/v1/images/${image.id}`).set(stranger)).status).toBe(404);
    expect((await request(h.app).get(`/v1/images/${image.id}/content?variant=print`).set(stranger)).status).toBe(404);
    expect((await request(h.app).post(`/v1/images/${image.id}/reject`).set(stranger).send({ reason: 'x' })).status).toBe(404);

    const printKey = image.variants.print!.key;
    const res = await request(h.app)
      .post('/v1/images/batch/delete')
      .set(writer(tenant))
      .send({ image_ids: [image.id, busy.id] });
    expect(res.body).toMatchObject({ successful: [image.id], failed: [{ id: busy.id, code: 'CONFLICT' }] });
    expect((await request(h.app).get(`/v1/images/${image.id}`).set(writer(tenant))).status).toBe(404);
    expect(await h.deps.storage.exists(printKey)).toBe(false);
    expect((await findImageById(h.db, busy.id))!.status).toBe('processing');
  });
});
