import { createMetrics, parseConfig } from '@tollgate/common';
import { createApp } from '@tollgate/credits/app';
import { configSchema } from '@tollgate/credits/config';
import { migrations } from '@tollgate/credits/migrations';
import {
  createTestEnv,
  identityHeaders,
  listen,
  type Listening,
  serviceHeaders,
  silentLogger,
  TEST_INTERNAL_SECRET,
  type TestEnv,
} from '@tollgate/testkit';
import request from 'supertest';

export interface RealCredits {
  url: string;
  server: Listening;
  env: TestEnv;
  topUp(tenantId: string, amount: number): Promise<void>;
  balance(tenantId: string): Promise<{ available: number; held: number }>;
  /** The tenant's ledger transactions, newest first. */
  transactions(tenantId: string): Promise<{ type: string; amount: number }[]>;
  close(): Promise<void>;
}

/** The real credits service, in-process, on its own schema (its ledger is what "charged once" means). */
export async function startRealCredits(label: string): Promise<RealCredits> {
  const env = await createTestEnv(`${label}_credits`);
  await env.migrate(migrations);
  const config = parseConfig(configSchema, {
    NODE_ENV: 'test',
    INTERNAL_JWT_SECRET: TEST_INTERNAL_SECRET,
    DB_SCHEMA: env.schema,
    LOG_LEVEL: 'error',
  });
  const { app } = createApp({
    config,
    logger: silentLogger('credits'),
    metrics: createMetrics('credits', { collectDefault: false }),
    db: env.db,
  });
  const server = await listen(app);
  return {
    url: server.url,
    server,
    env,
    async topUp(tenantId, amount) {
      const res = await request(app)
        .post(`/v1/admin/tenants/${tenantId}/credits`)
        .set(identityHeaders('admin', ['admin'], 'admin'))
        .send({ amount, reason: 'test' });
      if (res.status !== 201) throw new Error(`top-up failed: ${res.status} ${JSON.stringify(res.body)}`);
    },
    async balance(tenantId) {
      const res = await request(app).get(`/internal/v1/accounts/${tenantId}/balance`).set(serviceHeaders('test'));
      if (res.status !== 200) throw new Error(`balance failed: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body as { available: number; held: number };
    },
    async transactions(tenantId) {
      const res = await request(app)
        .get('/v1/credits/transactions?limit=100')
        .set(identityHeaders(tenantId, ['read']));
      if (res.status !== 200) throw new Error(`transactions failed: ${res.status}`);
      return (res.body as { data: { type: string; amount: number }[] }).data;
    },
    async close() {
      await server.close();
      await env.cleanup();
    },
  };
}
