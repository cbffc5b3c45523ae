// The process dies between the commit that approves an image (recording `image.approved`) and
// the publish (the real entry point, killed by the outbox's failpoint): the approval holds, the
// event waits in the outbox, and the recovery sweep's relay delivers it to `webhook-events` once.
import { spawnServiceProcess, identityHeaders } from '@tollgate/testkit';
import { findImageById } from '../src/images/repository';
import { recoverStuckImages } from '../src/jobs/recovery';
import { createHarness, type Harness, processEnv } from './support/harness';
import { seedImage } from './support/seed';

jest.setTimeout(60_000);

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ label: 'img_outbox_crash', worker: false });
});
afterAll(() => h.close());

it('a kill after the approval commits and before its event is published loses no event: the relay delivers it once', async () => {
  const tenant = 'ten_outbox_crash';
  const image = await seedImage(h, tenant, 'pending_review');
  const api = await spawnServiceProcess(
    'image-pipeline',
    { ...processEnv(h), RECOVERY_INTERVAL_MS: '0', TOLLGATE_FAILPOINT: 'outbox.before_publish' },
    { args: ['--role=api'] },
  );
  await expect(
    fetch(`${api.url}/v1/images/${image.id}/approve`, { method: 'POST', headers: identityHeaders(tenant, ['read', 'write']) }),
  ).rejects.toThrow();
  expect((await api.exited).signal).toBe('SIGKILL');

  expect((await findImageById(h.db, image.id))?.status).toBe('approved');
  const [row] = await h.db.selectFrom('outbox_events').selectAll().execute();
  expect(row).toMatchObject({ id: `evt_${image.id}_approved`, type: 'image.approved', tenant_id: tenant, published_at: null });
  expect(await h.events()).toEqual([]); // committed, never published

  // The relay leaves fresh events to whoever recorded them; age this one past that.
  await h.db
    .updateTable('outbox_events')
    .set({ created_at: new Date(Date.now() - 60_000) })
    .execute();
  expect((await recoverStuckImages(h.deps)).eventsRelayed).toBe(1);
  const events = await h.events();
  expect(events).toHaveLength(1);
  expect(events[0]).toMatchObject({
    id: `evt_${image.id}_approved`,
    type: 'image.approved',
    tenant_id: tenant,
    data: { image_id: image.id, status: 'approved' },
  });
  expect((await recoverStuckImages(h.deps)).eventsRelayed).toBe(0); // once
});
