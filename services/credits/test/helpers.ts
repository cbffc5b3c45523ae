import { type Clock, createLogger, createMetrics, type EventPublisher, memoryEventPublisher, parseConfig, type PlatformEvent } from '@tollgate/common';
import { createTestEnv, identityHeaders, listen, type Listening, serviceHeaders, silentLogger, TEST_INTERNAL_SECRET, type TestEnv } from '@tollgate/testkit';
import { sql } from 'kysely';
import { createApp } from '../src/app';
import { type Config, configSchema } from '../src/config';
import { buildLedger, type LedgerDeps } from '../src/deps';
import { migrations } from '../src/migrations';

/** A clock tests move forward instead of sleeping. */
export class TestClock implements Clock {
  offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

export function testConfig(env: TestEnv, overrides: Record<string, string> = {}): Config {
  return parseConfig(configSchema, { NODE_ENV: 'test', INTERNAL_JWT_SECRET: TEST_INTERNAL_SECRET, DB_SCHEMA: env.schema, LOG_LEVEL: 'error', ...overrides });
}

export interface CreditsHarness {
  env: TestEnv;
  config: Config;
  clock: TestClock;
  ledger: LedgerDeps;
  /** Events published so far (in-memory publisher unless one was passed in). */
  events: PlatformEvent[];
  server: Listening;
  url: string;
  /** Starts another app instance on the same schema (a restart, or a second replica). */
  startApp(): Promise<{ ledger: LedgerDeps; server: Listening; url: string; app: unknown }>;
  /** The first app's express instance (its routes are listed by the route-scope test). */
  app: unknown;
  close(): Promise<void>;
}

export async function startCredits(label: string, options: { env?: Record<string, string>; events?: EventPublisher; testEnv?: TestEnv } = {}): Promise<CreditsHarness> {
  const env = options.testEnv ?? (await createTestEnv(label));
  try {
    await migrateTolerantly(env);
  } catch (err) {
    if (!options.testEnv) await env.cleanup();
    throw err;
  }
  const config = testConfig(env, options.env);
  const clock = new TestClock();
  const memory = memoryEventPublisher();
  const events = options.events ?? memory;
  const servers: Listening[] = [];
  // CREDITS_TEST_LOG=1 shows the service's logs while debugging a test.
  const logger = process.env['CREDITS_TEST_LOG'] ? createLogger({ service: 'credits', level: 'debug', pretty: true }) : silentLogger('credits');
  const startApp = async () => {
    const metrics = createMetrics('credits', { collectDefault: false });
    const ledger = buildLedger({ config, db: env.db, logger, events, clock, metrics });
    const { app } = createApp({ config, logger, metrics, ledger });
    const server = await listen(app);
    servers.push(server);
    return { ledger, server, url: server.url, app };
  };
  const first = await startApp();
  return {
    env,
    config,
    clock,
    ledger: first.ledger,
    events: memory.events,
    server: first.server,
    url: first.url,
    app: first.app,
    startApp,
    async close() {
      for (const s of servers) await s.close();
    },
  };
}

/**
 * kysely's Migrator looks for its table by listing every table of every schema; when another
 * test file drops its schema at that moment, the listing fails with `schema "t_…" does not
 * exist`. That is a race with a neighbour, not a problem of ours: try again.
 */
async function migrateTolerantly(env: TestEnv, attempts = 4): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await env.migrate(migrations);
      return;
    } catch (err) {
      const neighbourVanished = /schema "t_[a-z0-9_]+" does not exist/.test(String((err as Error)?.message)) && !String((err as Error).message).includes(`"${env.schema}" does not exist`);
      if (!neighbourVanished || attempt >= attempts) throw err;
    }
  }
}

export const service = () => serviceHeaders('ai-proxy');
export const admin = () => identityHeaders('admin', ['admin'], 'admin');
export const tenant = (tenantId: string) => identityHeaders(tenantId);

let counter = 0;
/** A fresh tenant id per test, so tests never share balances. */
export function newTenant(prefix = 'ten'): string {
  counter += 1;
  return `${prefix}_${process.pid}_${counter}_${Math.random().toString(36).slice(2, 8)}`;
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  body: any;
}

/** fetch with JSON in and out; used where many requests must truly run at once. */
export async function call(url: string, method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<JsonResponse> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

export async function topUp(url: string, tenantId: string, amount: number, idempotencyKey?: string): Promise<JsonResponse> {
  return call(url, 'POST', `/v1/admin/tenants/${tenantId}/credits`, { ...admin(), ...(idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {}) }, { amount, reason: 'test top-up' });
}

export async function balanceOf(url: string, tenantId: string): Promise<{ available: number; held: number }> {
  const res = await call(url, 'GET', `/internal/v1/accounts/${tenantId}/balance`, service());
  if (res.status !== 200) throw new Error(`balance ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Row counts of the ledger tables for one tenant: "nothing written" assertions. */
export async function ledgerCounts(env: TestEnv, tenantId: string): Promise<{ accounts: number; transactions: number; holds: number; entries: number; outbox: number }> {
  const row = (
    await sql<{ accounts: number; transactions: number; holds: number; entries: number; outbox: number }>`
      select (select count(*) from accounts where tenant_id = ${tenantId}) as accounts,
             (select count(*) from transactions where tenant_id = ${tenantId}) as transactions,
             (select count(*) from holds where tenant_id = ${tenantId}) as holds,
             (select count(*) from entries e join transactions t on t.id = e.transaction_id where t.tenant_id = ${tenantId}) as entries,
             (select count(*) from outbox_events where tenant_id = ${tenantId}) as outbox`.execute(env.db)
  ).rows[0]!;
  return row;
}
