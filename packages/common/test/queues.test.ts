import { createTestEnv, silentLogger, type TestEnv } from '@tollgate/testkit';
import { z } from 'zod';
import { currentContext, runWithContext } from '../src/context';
import { createEventPublisher } from '../src/events';
import { createQueue, createWorker, defineJob, enqueue, handler } from '../src/queues';
import { createRedis } from '../src/redis';
import type { Job, Queue, Worker } from 'bullmq';

describe('queues on real Redis', () => {
  let env: TestEnv;
  const open: { close: () => Promise<unknown> }[] = [];
  const connection = () => {
    const redis = createRedis(env.redisUrl, 'queue');
    open.push({ close: () => redis.quit() });
    return redis;
  };

  beforeAll(async () => {
    env = await createTestEnv('queues');
  });
  afterAll(async () => {
    for (const o of open.reverse()) await o.close();
    await env.cleanup();
  });

  const greet = defineJob('greet', z.object({ name: z.string() }), { attempts: 3, backoff: { type: 'fixed', delay: 10 } });

  it('carries the request id into the handler and validates payloads', async () => {
    const queue: Queue = createQueue('q-context', { connection: connection(), prefix: env.prefix });
    open.unshift({ close: () => queue.close() });
    const seen: { name: string; requestId: string | undefined }[] = [];
    const done = new Promise<void>((resolve) => {
      const worker: Worker = createWorker(
        'q-context',
        [
          handler(greet, async (data) => {
            seen.push({ name: data.name, requestId: currentContext()?.requestId });
            resolve();
          }),
        ],
        { connection: connection(), prefix: env.prefix, logger: silentLogger() },
      );
      open.unshift({ close: () => worker.close() });
    });
    await runWithContext({ requestId: 'req-from-http-1' }, () => enqueue(queue, greet, { name: 'ada' }));
    await done;
    expect(seen).toEqual([{ name: 'ada', requestId: 'req-from-http-1' }]);
    await expect(enqueue(queue, greet, { name: 42 } as never)).rejects.toThrow();
  });

  it('retries a failing job and reports the final failure once', async () => {
    const queue = createQueue('q-retry', { connection: connection(), prefix: env.prefix });
    open.unshift({ close: () => queue.close() });
    let attempts = 0;
    const finalFailures: string[] = [];
    const failedFinally = new Promise<void>((resolve) => {
      const worker = createWorker(
        'q-retry',
        [
          handler(greet, async () => {
            attempts++;
            throw new Error('downstream unavailable');
          }),
        ],
        {
          connection: connection(),
          prefix: env.prefix,
          logger: silentLogger(),
          onFinalFailure: (job: Job, err: Error) => {
            finalFailures.push(`${job.name}:${err.message}`);
            resolve();
          },
        },
      );
      open.unshift({ close: () => worker.close() });
    });
    await enqueue(queue, greet, { name: 'bob' });
    await failedFinally;
    expect(attempts).toBe(3);
    expect(finalFailures).toEqual(['greet:downstream unavailable']);
  });

  it('publishes each platform event once, however often it is published', async () => {
    const queueRedis = connection();
    const publisher = createEventPublisher({ connection: queueRedis, prefix: env.prefix });
    open.unshift({ close: () => publisher.close() });
    const event = { id: 'evt_txn_0123456789abcdef', type: 'credits.topped_up' as const, tenant_id: 'ten_1', data: { amount: 5 } };
    await publisher.publish(event);
    await publisher.publish(event);
    const queue = createQueue('webhook-events', { connection: queueRedis, prefix: env.prefix });
    open.unshift({ close: () => queue.close() });
    const jobs = await queue.getJobs(['waiting', 'delayed', 'active', 'completed']);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.data).toMatchObject({ id: event.id, type: 'credits.topped_up', tenant_id: 'ten_1', data: { amount: 5 } });
    expect(jobs[0]!.data._meta.request_id).toEqual(expect.any(String));
  });
});
