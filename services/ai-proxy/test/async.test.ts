import { createQueue, enqueue, WEBHOOK_EVENTS_QUEUE } from '@tollgate/common';
import { identityHeaders } from '@tollgate/testkit';
import type { Queue } from 'bullmq';
import { recoverAsyncJobsJob } from '../src/async/jobs';
import { finishJob, insertJob } from '../src/async/repository';
import { startHarness, type Harness } from './support/harness';
import type { FakeCredits } from '@tollgate/testkit';

/** Queued completions: 202 now, the worker runs them with the same billing, events announce the end. */
describe('async completions', () => {
  let h: Harness & { fakeCredits: FakeCredits | undefined };
  let webhookEvents: Queue;

  const submit = (tenant: string, body: Record<string, unknown>) =>
    fetch(`${h.url}/v1/async/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...identityHeaders(tenant) },
      body: JSON.stringify(body),
    });
  const status = (tenant: string, url: string) => fetch(`${h.url}${url}`, { headers: identityHeaders(tenant) });
  async function waitFor(tenant: string, url: string, done: (s: string) => boolean) {
    for (let i = 0; i < 200; i++) {
      const body = (await (await status(tenant, url)).json()) as { status: string } & Record<string, unknown>;
      if (done(body.status)) return body;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('job did not finish');
  }

  /** The event is published right after the job row is finished, so it may trail the status by a moment. */
  async function eventJob(id: string) {
    for (let i = 0; i < 100; i++) {
      const job = await webhookEvents.getJob(id);
      if (job) return job;
      await new Promise((r) => setTimeout(r, 20));
    }
    return undefined;
  }

  beforeAll(async () => {
    h = await startHarness({
      label: 'ai_async',
      worker: true,
      routing: {
        models: { m: { price: { input_per_1k: 1_000, output_per_1k: 1_000 }, targets: [{ provider: 'mock', model: 'mock-async' }] } },
      },
    });
    h.fakeCredits!.topUp('async_rich', 10_000_000);
    webhookEvents = createQueue(WEBHOOK_EVENTS_QUEUE, { connection: h.queueRedis, prefix: h.env.prefix });
  });
  afterAll(async () => {
    await webhookEvents.close();
    await h.close();
  });

  it('accepts with 202, runs on the worker with billing, and publishes completion.completed', async () => {
    const res = await submit('async_rich', { model: 'm', messages: [{ role: 'user', content: 'later please' }] });
    expect(res.status).toBe(202);
    const accepted = (await res.json()) as { id: string; status: string; status_url: string };
    expect(accepted).toMatchObject({ status: 'queued', status_url: `/v1/async/jobs/${accepted.id}` });
    expect(res.headers.get('location')).toBe(accepted.status_url);

    const done = await waitFor('async_rich', accepted.status_url, (s) => s === 'succeeded' || s === 'failed');
    expect(done.status).toBe('succeeded');
    const result = done['result'] as {
      object: string;
      choices: { message: { content: string } }[];
      usage: { prompt_tokens: number; completion_tokens: number };
    };
    expect(result.object).toBe('chat.completion');
    expect(result.choices[0]!.message.content).toBe('Echo: later please');
    const cost = Math.ceil((result.usage.prompt_tokens * 1_000 + result.usage.completion_tokens * 1_000) / 1_000);
    expect(done['cost']).toBe(cost);
    expect(h.fakeCredits!.captures.at(-1)!.amount).toBe(cost);

    const event = await eventJob(`evt_${accepted.id}_completed`);
    expect(event?.data).toMatchObject({
      type: 'completion.completed',
      tenant_id: 'async_rich',
      data: { id: accepted.id, status: 'succeeded', model: 'm', cost },
    });
  });

  it('fails a job the tenant cannot pay for and publishes completion.failed', async () => {
    const res = await submit('async_broke', { model: 'm', messages: [{ role: 'user', content: 'no money' }] });
    expect(res.status).toBe(202);
    const { id, status_url } = (await res.json()) as { id: string; status_url: string };
    const done = await waitFor('async_broke', status_url, (s) => s === 'succeeded' || s === 'failed');
    expect(done).toMatchObject({ status: 'failed', result: null, error: { code: 'INSUFFICIENT_CREDITS' } });
    const event = await eventJob(`evt_${id}_failed`);
    expect(event?.data).toMatchObject({
      type: 'completion.failed',
      tenant_id: 'async_broke',
      data: { id, status: 'failed', error: { code: 'INSUFFICIENT_CREDITS' } },
    });
  });

  it("refuses what it could never run, and hides other tenants' jobs", async () => {
    expect((await submit('async_rich', { model: 'm', stream: true, messages: [{ role: 'user', content: 'x' }] })).status).toBe(400);
    expect((await submit('async_rich', { model: 'nope', messages: [{ role: 'user', content: 'x' }] })).status).toBe(404);
    const { status_url } = (await (await submit('async_rich', { model: 'm', messages: [{ role: 'user', content: 'mine' }] })).json()) as {
      status_url: string;
    };
    expect((await status('async_other', status_url)).status).toBe(404);
    expect((await status('async_rich', '/v1/async/jobs/not-an-id')).status).toBe(404);
    const noIdentity = await fetch(`${h.url}${status_url}`);
    expect(noIdentity.status).toBe(401);
    // /v1/async is Tollgate's own API: its errors come in the envelope, as through the gateway.
    expect(((await noIdentity.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
  });

  it('the recovery sweep queues again a completion whose job never reached Redis, and it runs to its webhook', async () => {
    // What a process killed between the insert and the add leaves behind: a queued row, no job.
    const id = 'acmpl_recoveryorphan000001';
    await insertJob(h.env.db, {
      id,
      tenant_id: 'async_rich',
      key_id: 'key_orphan',
      request_id: 'req_orphan',
      model: 'm',
      request: { model: 'm', messages: [{ role: 'user', content: 'lost and found' }] },
      now: new Date(Date.now() - 10 * 60_000),
    });
    expect(await h.queue.getJob(id)).toBeUndefined();
    // The repeating scheduler's job, run by the worker as it would be every ASYNC_RECOVERY_INTERVAL_MS.
    await enqueue(h.queue, recoverAsyncJobsJob, {});
    const done = await waitFor('async_rich', `/v1/async/jobs/${id}`, (s) => s === 'succeeded' || s === 'failed');
    expect(done).toMatchObject({ status: 'succeeded', result: { choices: [{ message: { content: 'Echo: lost and found' } }] } });
    const event = await eventJob(`evt_${id}_completed`);
    expect(event?.data).toMatchObject({ type: 'completion.completed', tenant_id: 'async_rich', data: { id, status: 'succeeded' } });
    // A second sweep finds nothing left to do.
    expect(await h.app.asyncService.recoverStuck(1)).toMatchObject({ requeued: [], failed: [] });
  });

  it('the same sweep deletes finished jobs past retention and keeps the rest', async () => {
    const day = 86_400_000;
    const base = { tenant_id: 'async_rich', key_id: 'key_r', request_id: 'req_r', model: 'm', request: { model: 'm', messages: [] } };
    const ids = {
      oldDone: 'acmpl_retentionolddone00001',
      oldQueued: 'acmpl_retentionoldqueued001',
      recentDone: 'acmpl_retentionrecentdone01',
    };
    await insertJob(h.env.db, { ...base, id: ids.oldDone, now: new Date(Date.now() - 40 * day) });
    await insertJob(h.env.db, { ...base, id: ids.oldQueued, now: new Date(Date.now() - 40 * day) });
    await insertJob(h.env.db, { ...base, id: ids.recentDone, now: new Date(Date.now() - 2 * day) });
    await finishJob(h.env.db, ids.oldDone, { status: 'succeeded', result: {}, cost: 1 }, new Date(Date.now() - 39 * day));
    await finishJob(h.env.db, ids.recentDone, { status: 'failed', error: { code: 'X', message: 'x' } }, new Date(Date.now() - day));
    // A queued row untouched for 40 days is the recovery sweep's business, never deleted.

    expect(await h.app.asyncService.pruneFinished(30)).toBe(1);
    const left = await h.env.db.selectFrom('async_jobs').select('id').where('id', 'in', Object.values(ids)).execute();
    expect(left.map((r: { id: string }) => r.id).sort()).toEqual([ids.oldQueued, ids.recentDone].sort());
    expect(await h.app.asyncService.pruneFinished(30)).toBe(0);
  });
});
