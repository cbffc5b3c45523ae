import { createRedis, randomIds } from '@tollgate/common';
import { Worker } from 'bullmq';
import { sql } from 'kysely';
import { json } from '../src/db';
import { findImageById, insertImages } from '../src/images/repository';
import type { ImageStatus } from '../src/images/states';
import { IMAGE_JOBS_QUEUE } from '../src/jobs/catalogue';
import { recoverStuckImages, scheduleRecovery } from '../src/jobs/recovery';
import { createHarness, type Harness } from './support/harness';

// Image work under a loaded CI box: the root jest config (projects) keeps jest's 5 s default.
jest.setTimeout(60_000);

describe('recovery sweep for images whose job went missing', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness({ label: 'img_recover', worker: false, env: { GENERATION_PRICE: '0', RECOVERY_AFTER_S: '60' } });
  });
  afterAll(async () => {
    await h?.close();
  });

  /** A generation image as a crashed API process would leave it: row written, job never queued. */
  async function orphan(status: ImageStatus, minutesAgo: number) {
    const id = randomIds.next('img');
    await insertImages(h.db, [
      {
        id,
        tenant_id: 'ten_recover',
        source: 'generation',
        job_id: null,
        job_index: 0,
        file_id: null,
        prompt: 'an orphaned prompt',
        model: 'tollgate-render-1',
        seed: 3,
        profile: 'sticker',
        requested_width: 1200,
        requested_height: 1200,
        status,
        failure_code: null,
        failure_message: null,
        variants: json({}),
        charge_amount: 0,
        hold_id: null,
        charge_status: 'none',
        rejection_reason: null,
      },
    ]);
    await h.db
      .updateTable('images')
      .set({ updated_at: sql`now() - make_interval(mins => ${minutesAgo})` })
      .where('id', '=', id)
      .execute();
    return id;
  }

  it('queues the missing job again, leaves recent images and live jobs alone, and records failures nobody recorded', async () => {
    const lost = await orphan('queued', 30);
    const recent = await orphan('queued', 0);
    const waiting = await orphan('queued', 30);

    // A job that failed for good while its worker died before marking the image.
    const dead = await orphan('generating', 30);
    const connection = createRedis(h.env.redisUrl, 'queue');
    const failing = new Worker(
      IMAGE_JOBS_QUEUE,
      async () => {
        throw new Error('the worker crashed');
      },
      { connection, prefix: h.env.prefix },
    );
    const failed = new Promise<void>((resolve) => failing.on('failed', (job) => job?.id === `generate-${dead}` && resolve()));
    await h.queue.add('generate', { image_id: dead }, { jobId: `generate-${dead}`, attempts: 1 });
    await failed;
    await failing.close();
    await connection.quit();
    // A job that is simply waiting its turn.
    await h.queue.add('generate', { image_id: waiting }, { jobId: `generate-${waiting}` });

    const result = await recoverStuckImages(h.deps);
    expect(result.requeued).toEqual([lost]);
    expect(result.failed).toEqual([dead]);
    expect(result.checked).toBe(3);
    expect(await findImageById(h.db, dead)).toMatchObject({ status: 'failed', failure_code: 'PROCESSING_FAILED' });
    expect(await h.queue.getJob(`generate-${lost}`)).toBeDefined();

    // A second sweep right away finds nothing new to do.
    expect((await recoverStuckImages(h.deps)).requeued).toEqual([]);

    await h.startWorker();
    for (const id of [lost, waiting])
      expect((await h.waitForStatus(id, ['pending_review', 'failed'], 30_000)).status).toBe('pending_review');
    // `recent` never had a job but is not old enough to be swept: still queued.
    expect((await findImageById(h.db, recent))!.status).toBe('queued');
  });

  it('installs one repeating sweep job', async () => {
    await scheduleRecovery(h.queue, h.config);
    await scheduleRecovery(h.queue, h.config);
    const schedulers = await h.queue.getJobSchedulers();
    expect(schedulers.map((s) => [s.key, s.every])).toEqual([['recover-stuck-images', h.config.RECOVERY_INTERVAL_MS]]);
    await scheduleRecovery(h.queue, { ...h.config, RECOVERY_INTERVAL_MS: 0 });
    expect(await h.queue.getJobSchedulers()).toEqual([]);
  });
});
