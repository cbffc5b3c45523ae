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

export interface RealCredits {
  url: string;
  server: Listening;
  /** Its own schema: tests read holds and transactions straight from the ledger. */
  env: TestEnv;
  topUp(tenantId: string, amount: number): Promise<void>;
  balance(tenantId: string): Promise<{ available: number; held: number }>;
  close(): Promise<void>;
}

/**
 * The real credits service, in-process on its own schema, for ai-proxy's billing tests: its
 * ledger is what "charged exactly once" means. (image-pipeline's tests keep their own copy: a
 * shared one in testkit would make testkit depend on a service that depends on testkit.)
 */
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
      const res = await fetch(`${server.url}/v1/admin/tenants/${tenantId}/credits`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...identityHeaders('admin', ['admin'], 'admin') },
        body: JSON.stringify({ amount, reason: 'ai-proxy test' }),
      });
      if (res.status !== 201) throw new Error(`top-up failed: ${res.status} ${await res.text()}`);
    },
    async balance(tenantId) {
      const res = await fetch(`${server.url}/internal/v1/accounts/${tenantId}/balance`, { headers: serviceHeaders('ai-proxy') });
      if (res.status !== 200) throw new Error(`balance failed: ${res.status} ${await res.text()}`);
      return (await res.json()) as { available: number; held: number };
    },
    async close() {
      await server.close();
      await env.cleanup();
    },
  };
}
