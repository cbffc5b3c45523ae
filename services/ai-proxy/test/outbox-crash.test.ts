// The worker process dies between the commit that finishes a queued completion (recording
// `completion.completed`) and the publish (the real entry point, killed by the outbox's
// failpoint): the job stays succeeded and billed once, the event waits in the outbox, and the
// recovery sweep's relay delivers it to `webhook-events` once.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createQueue, WEBHOOK_EVENTS_QUEUE } from '@tollgate/common';
import { type RealCredits, startRealCredits } from '@tollgate/credits/test/support/real-credits';
import { identityHeaders, spawnServiceProcess } from '@tollgate/testkit';
import type { Queue } from 'bullmq';
import { findJob } from '../src/async/repository';
import { startHarness, type Harness } from './support/harness';

jest.setTimeout(60_000);

const TENANT = 'ten_ai_outbox_crash';
const routing = {
  models: { m: { price: { input_per_1k: 1_000, output_per_1k: 1_000 }, targets: [{ provider: 'mock', model: 'mock-async' }] } },
};
let h: Harness;
let credits: RealCredits;
let webhookEvents: Queue;
const dir = mkdtempSync(path.join(os.tmpdir(), 'ai-outbox-'));

beforeAll(async () => {
  h = await startHarness({ label: 'ai_outbox_crash', worker: false, routing });
  credits = await startRealCredits('ai_outbox_crash');
  await credits.topUp(TENANT, 10_000_000);
  webhookEvents = createQueue(WEBHOOK_EVENTS_QUEUE, { connection: h.queueRedis, prefix: h.env.prefix });
});
afterAll(async () => {
  await webhookEvents.close();
  await h.close();
  await credits.close();
  rmSync(dir, { recursive: true, force: true });
});

it('a kill after the finish commits and before completion.completed is published loses no event: the relay delivers it once', async () => {
  const res = await fetch(`${h.url}/v1/async/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...identityHeaders(TENANT) },
    body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'later please' }] }),
  });
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };

  const routingFile = path.join(dir, 'routing.json');
  writeFileSync(routingFile, JSON.stringify(routing));
  const worker = await spawnServiceProcess(
    'ai-proxy',
    {
      DATABASE_URL: h.env.databaseUrl,
      DB_SCHEMA: h.env.schema,
      REDIS_URL: h.env.redisUrl,
      REDIS_PREFIX: h.env.prefix,
      CREDITS_URL: credits.url,
      ROUTING_CONFIG_PATH: routingFile,
      TOLLGATE_FAILPOINT: 'outbox.before_publish',
    },
    { args: ['--role=worker'], waitReady: false },
  );
  expect((await worker.exited).signal).toBe('SIGKILL'); // it took the job, finished it, and died

  const job = await findJob(h.env.db, id);
  expect(job).toMatchObject({ status: 'succeeded' });
  const eventId = `evt_${id}_completed`;
  const [row] = await h.env.db.selectFrom('outbox_events').selectAll().execute();
  expect(row).toMatchObject({ id: eventId, type: 'completion.completed', tenant_id: TENANT, published_at: null });
  expect(await webhookEvents.getJob(eventId)).toBeUndefined(); // committed, never published
  expect(await credits.balance(TENANT)).toMatchObject({ available: 10_000_000 - job!.cost!, held: 0 }); // billed once

  // The relay leaves fresh events to the worker that recorded them; age this one past that.
  await h.env.db
    .updateTable('outbox_events')
    .set({ created_at: new Date(Date.now() - 60_000) })
    .execute();
  expect((await h.app.asyncService.recoverStuck(3600)).eventsRelayed).toBe(1);
  const published = await webhookEvents.getJob(eventId);
  expect(published?.data).toMatchObject({ type: 'completion.completed', tenant_id: TENANT, data: { id, status: 'succeeded' } });
  expect((await h.app.asyncService.recoverStuck(3600)).eventsRelayed).toBe(0); // once
});
