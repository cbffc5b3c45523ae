import request from 'supertest';
import { createTestEnv, silentLogger, startTcpProxy, TEST_DATABASE_URL, TEST_REDIS_URL, type TcpProxy, type TestEnv } from '@tollgate/testkit';
import { createDb, pingDb } from '../src/db';
import { createService } from '../src/http/create-service';
import { Readiness } from '../src/http/readiness';
import { createMetrics } from '../src/metrics';
import { createRedis, pingRedis, type Redis } from '../src/redis';
import type { Kysely } from 'kysely';

/** Readiness against the real Postgres and Redis, reached through proxies the test can cut. */
describe('readiness follows its dependencies', () => {
  let env: TestEnv;
  let pgProxy: TcpProxy;
  let redisProxy: TcpProxy;
  let db: Kysely<any>;
  let redis: Redis;

  beforeAll(async () => {
    env = await createTestEnv('readiness');
    pgProxy = await startTcpProxy(Number(new URL(TEST_DATABASE_URL).port || 5432));
    redisProxy = await startTcpProxy(Number(new URL(TEST_REDIS_URL).port || 6379));
    const pgUrl = new URL(TEST_DATABASE_URL);
    pgUrl.host = `127.0.0.1:${pgProxy.port}`;
    db = createDb({ connectionString: pgUrl.toString(), schema: env.schema, poolMax: 2 });
    redis = createRedis(`redis://127.0.0.1:${redisProxy.port}`, 'request');
    redis.on('error', () => undefined);
  });

  afterAll(async () => {
    redis.disconnect();
    await db.destroy();
    await pgProxy.close();
    await redisProxy.close();
    await env.cleanup();
  });

  const app = () => {
    const readiness = new Readiness(1000);
    readiness.register('postgres', () => pingDb(db)).register('redis', () => pingRedis(redis));
    return createService({ name: 't', logger: silentLogger(), metrics: createMetrics('t', { collectDefault: false }), readiness, routes: () => undefined }).app;
  };

  async function waitForStatus(a: ReturnType<typeof app>, status: number, timeoutMs = 10_000) {
    const until = Date.now() + timeoutMs;
    let last: request.Response | undefined;
    while (Date.now() < until) {
      last = await request(a).get('/readyz');
      if (last.status === status) return last;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`readyz stayed ${last?.status}: ${JSON.stringify(last?.body)}`);
  }

  it('turns 503 naming Redis when Redis stops, and 200 when it returns', async () => {
    const a = app();
    await waitForStatus(a, 200);
    await redisProxy.stop();
    const down = await waitForStatus(a, 503);
    expect(down.body.error.details.failed).toEqual(['redis']);
    expect(down.body.checks.postgres.ok).toBe(true);
    await redisProxy.start();
    await waitForStatus(a, 200);
  });

  it('turns 503 naming Postgres when Postgres stops, and 200 when it returns', async () => {
    const a = app();
    await waitForStatus(a, 200);
    await pgProxy.stop();
    const down = await waitForStatus(a, 503);
    expect(down.body.error.details.failed).toEqual(['postgres']);
    await pgProxy.start();
    await waitForStatus(a, 200);
  });
});
