import { createCreditsClient, type CreditsClient, createMetrics, parseConfig } from '@tollgate/common';
import { createApp } from '../../src/app';
import { configSchema } from '../../src/config';
import { buildLedger } from '../../src/deps';
import { migrations } from '../../src/migrations';
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
  /** The tenant's ledger transactions, newest first. */
  transactions(tenantId: string): Promise<{ type: string; amount: number }[]>;
  /** A credits client for the service under test, pointed at this instance. */
  client(serviceName: string, options?: { timeoutMs?: number; retries?: number }): CreditsClient;
  close(): Promise<void>;
}

/**
 * The real credits service, in-process on its own schema, for the billing tests of the services
 * that spend credits (ai-proxy, image-pipeline): its ledger is what "charged exactly once" means.
 * It lives here rather than in testkit, which would then depend on a service that depends on
 * testkit; siblings import it as `@tollgate/credits/test/support/real-credits`.
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
  const logger = silentLogger('credits');
  const { app } = createApp({ config, logger, metrics: createMetrics('credits', { collectDefault: false }), ledger: buildLedger({ config, db: env.db, logger }) });
  const server = await listen(app);
  return {
    url: server.url,
    server,
    env,
    async topUp(tenantId, amount) {
      const res = await fetch(`${server.url}/v1/admin/tenants/${tenantId}/credits`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...identityHeaders('admin', ['admin'], 'admin') },
        body: JSON.stringify({ amount, reason: `${label} test` }),
      });
      if (res.status !== 201) throw new Error(`top-up failed: ${res.status} ${await res.text()}`);
    },
    async balance(tenantId) {
      const res = await fetch(`${server.url}/internal/v1/accounts/${tenantId}/balance`, { headers: serviceHeaders(label) });
      if (res.status !== 200) throw new Error(`balance failed: ${res.status} ${await res.text()}`);
      return (await res.json()) as { available: number; held: number };
    },
    async transactions(tenantId) {
      const res = await fetch(`${server.url}/v1/credits/transactions?limit=100`, { headers: identityHeaders(tenantId, ['read']) });
      if (res.status !== 200) throw new Error(`transactions failed: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { data: { type: string; amount: number }[] }).data;
    },
    client: (serviceName, options = {}) =>
      createCreditsClient({ baseUrl: server.url, internalSecret: TEST_INTERNAL_SECRET, serviceName, timeoutMs: 10_000, ...options }),
    async close() {
      await server.close();
      await env.cleanup();
    },
  };
}
