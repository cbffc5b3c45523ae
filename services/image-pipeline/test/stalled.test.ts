import type { ChildProcess } from 'node:child_process';
import { identityHeaders, type ServiceProcess, spawnServiceProcess } from '@tollgate/testkit';
import request from 'supertest';
import { findImageById } from '../src/images/repository';
import { runGenerate } from '../src/jobs/pipeline';
import { createHarness, type Harness, processEnv } from './support/harness';
import { type RealCredits, startRealCredits } from '@tollgate/credits/test/support/real-credits';

// Image work under a loaded CI box: the root jest config (projects) keeps jest's 5 s default.
jest.setTimeout(60_000);

const PRICE = 50_000;
const STALL = { WORKER_LOCK_DURATION_MS: '1500', WORKER_STALLED_INTERVAL_MS: '500' };

/** The real entry point (`dist/main.js --role=worker`) as its own process, on this file's schema and prefix. */
function spawnWorkerProcess(h: Harness, creditsUrl: string, extraEnv: Record<string, string>): Promise<ServiceProcess> {
  return spawnServiceProcess(
    'image-pipeline',
    {
      ...processEnv(h),
      CREDITS_URL: creditsUrl,
      GENERATION_PRICE: String(PRICE),
      ...STALL,
      ...extraEnv,
    },
    { args: ['--role=worker'] },
  );
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('a worker killed mid-job (SIGKILL)', () => {
  let h: Harness;
  let credits: RealCredits;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    credits = await startRealCredits('img_stall');
    h = await createHarness({
      label: 'img_stall',
      creditsUrl: credits.url,
      worker: false,
      env: { GENERATION_PRICE: String(PRICE), ...STALL },
    });
  });
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await h?.close();
    await credits?.close();
  });

  it('leaves a job another worker finishes: the image still ends pending_review, charged once, no duplicate', async () => {
    const tenant = `ten_stall_${process.pid}`;
    await credits.topUp(tenant, 1_000_000);

    // The first worker is a separate process whose generator takes 4 s: plenty of time to kill it mid-job.
    const spawned = await spawnWorkerProcess(h, credits.url, { BUILTIN_GENERATOR_LATENCY_MS: '4000' });
    child = spawned.child;

    const res = await request(h.app)
      .post('/v1/images/generations')
      .set(identityHeaders(tenant, ['generation']))
      .send({ prompt: 'a kite over a harbour', profile: 'sticker' });
    expect(res.status).toBe(202);
    const imageId: string = res.body.image_ids[0];

    await waitUntil(
      'the worker process to pick the job up',
      async () => (await findImageById(h.db, imageId))?.status === 'generating',
      10_000,
    );
    child.kill('SIGKILL');
    await new Promise((resolve) => child!.once('exit', resolve));
    expect(child.signalCode).toBe('SIGKILL');
    expect((await findImageById(h.db, imageId))!.status).toBe('generating');

    // Another worker notices the stalled job once its lock lapses, and finishes it.
    await h.startWorker();
    const row = await h.waitForStatus(imageId, ['pending_review', 'failed'], 20_000);
    expect(row).toMatchObject({ status: 'pending_review', charge_status: 'captured' });

    expect(await credits.balance(tenant)).toEqual(expect.objectContaining({ available: 1_000_000 - PRICE, held: 0 }));
    const debits = (await credits.transactions(tenant)).filter((t) => t.type !== 'top_up');
    expect(debits.map((t) => [t.type, t.amount])).toEqual([['capture', PRICE]]);

    const images = await h.db.selectFrom('images').select(['id']).where('job_id', '=', res.body.id).execute();
    expect(images).toHaveLength(1);
    const transitions = await h.db
      .selectFrom('image_transitions')
      .select(['from_status', 'to_status'])
      .where('image_id', '=', imageId)
      .orderBy('id')
      .execute();
    expect(transitions).toEqual([
      { from_status: null, to_status: 'queued' },
      { from_status: 'queued', to_status: 'generating' },
      { from_status: 'generating', to_status: 'processing' },
      { from_status: 'processing', to_status: 'pending_review' },
    ]);
    const completed = (await h.events()).filter((e) => e.type === 'image.generation.completed' && e.data['image_id'] === imageId);
    expect(completed).toHaveLength(1);
  });

  it('a job replayed after a crash between capture and the database update charges nothing more', async () => {
    const tenant = `ten_replay_${process.pid}`;
    await credits.topUp(tenant, 1_000_000);
    const res = await request(h.app)
      .post('/v1/images/generations')
      .set(identityHeaders(tenant, ['generation']))
      .send({ prompt: 'a lantern', profile: 'sticker' });
    const imageId: string = res.body.image_ids[0];
    await h.waitForStatus(imageId, 'pending_review', 20_000);

    // As if the worker died after credits captured but before Postgres recorded it.
    await h.db.updateTable('images').set({ status: 'processing', charge_status: 'held' }).where('id', '=', imageId).execute();
    await runGenerate(h.deps, imageId);
    // And a duplicate delivery of the job once everything is done.
    expect(await runGenerate(h.deps, imageId)).toBe('skipped:pending_review');

    expect(await findImageById(h.db, imageId)).toMatchObject({ status: 'pending_review', charge_status: 'captured' });
    const debits = (await credits.transactions(tenant)).filter((t) => t.type !== 'top_up');
    expect(debits.map((t) => [t.type, t.amount])).toEqual([['capture', PRICE]]);
    expect(await credits.balance(tenant)).toEqual(expect.objectContaining({ available: 1_000_000 - PRICE, held: 0 }));
  });
});
