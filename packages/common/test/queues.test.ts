import { createTestEnv, silentLogger, startTcpProxy, type TestEnv } from '@tollgate/testkit';
import { z } from 'zod';
import { currentContext, runWithContext } from '../src/context';
import { createEventPublisher } from '../src/events';
import { createQueue, createWorker, defineJob, enqueue, enqueueWithin, handler } from '../src/queues';
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

  it('enqueueWithin answers "pending" at its deadline while Redis is away, and the add lands when Redis returns', async () => {
    const proxy = await startTcpProxy(Number(new URL(env.redisUrl).port || 6379), new URL(env.redisUrl).hostname);
    const url = new URL(env.redisUrl);
    url.port = String(proxy.port);
    const redis = createRedis(url.toString(), 'queue');
    const queue = createQueue('q-within', { connection: redis, prefix: env.prefix });
    try {
      const normal = await enqueueWithin(queue, greet, { name: 'up' }, { jobId: 'job-up' }, 1_000);
      expect(normal.state).toBe('queued');

      await proxy.stop();
      const started = Date.now();
      const cut = await enqueueWithin(queue, greet, { name: 'down' }, { jobId: 'job-down' }, 200);
      expect(cut.state).toBe('pending');
      expect(Date.now() - started).toBeLessThan(2_000);

      await proxy.start();
      if (cut.state !== 'pending') throw new Error('unreachable');
      expect(await cut.settled).not.toBeInstanceOf(Error);
      const direct = createQueue('q-within', { connection: connection(), prefix: env.prefix });
      open.unshift({ close: () => direct.close() });
      expect((await direct.getJob('job-down'))?.data).toMatchObject({ name: 'down' });
    } finally {
      // disconnect, not quit: a quit would wait on a Redis the proxy may still be hiding.
      redis.disconnect();
      await queue.close().catch(() => undefined);
      await proxy.close();
    }
  });
});
