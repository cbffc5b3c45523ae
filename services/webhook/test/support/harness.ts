import type { IncomingHttpHeaders } from 'node:http';
import { createMetrics, createRedis, parseConfig, type Redis } from '@tollgate/common';
import {
  createTestEnv,
  identityHeaders,
  serviceHeaders,
  silentLogger,
  TEST_INTERNAL_SECRET,
  TEST_REDIS_URL,
  type TestEnv,
} from '@tollgate/testkit';
import type { Express } from 'express';
import { Webhook } from 'standardwebhooks';
import request from 'supertest';
import { createApp } from '../../src/app';
import { type Config, configSchema } from '../../src/config';
import { migrations } from '../../src/migrations';
import { buildDeps, type WebhookDeps } from '../../src/deps';
import type { Resolver } from '../../src/ssrf/safe-http-client';
import { startWorkers, type WebhookWorkers } from '../../src/workers';

/** Fast settings: a three-step schedule in milliseconds, short leases and sweeps. */
export const FAST_CONFIG: Record<string, string> = {
  NODE_ENV: 'test',
  INTERNAL_JWT_SECRET: TEST_INTERNAL_SECRET,
  WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
  WEBHOOK_RETRY_SCHEDULE: '0,50,100',
  WEBHOOK_RETRY_JITTER: '0',
  WEBHOOK_REQUEST_TIMEOUT_MS: '2000',
  WEBHOOK_LOCK_DURATION_MS: '4000',
  WEBHOOK_STALLED_INTERVAL_MS: '1000',
  WEBHOOK_SWEEP_INTERVAL_MS: '1000',
  WEBHOOK_SWEEP_GRACE_MS: '3000',
  WEBHOOK_BUSY_RETRY_MS: '100',
  WEBHOOK_DELIVERY_CONCURRENCY: '10',
};

export interface Harness {
  env: TestEnv;
  config: Config;
  runtime: WebhookDeps;
  app: Express;
  workers: WebhookWorkers | undefined;
  queueRedis: Redis;
  close(): Promise<void>;
}

export function testConfig(env: TestEnv, overrides: Record<string, string> = {}): Config {
  return parseConfig(configSchema, {
    ...FAST_CONFIG,
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    DB_SCHEMA: env.schema,
    REDIS_PREFIX: env.prefix,
    ...overrides,
  });
}

/** The real app and workers on this file's own schema and Redis prefix. */
export async function startHarness(
  label: string,
  options: { config?: Record<string, string>; workers?: boolean; resolver?: Resolver } = {},
): Promise<Harness> {
  const env = await createTestEnv(label);
  await env.migrate(migrations);
  const config = testConfig(env, options.config);
  const queueRedis = createRedis(TEST_REDIS_URL, 'queue');
  const metrics = createMetrics('webhook', { collectDefault: false });
  const runtime = buildDeps({ config, logger: silentLogger('webhook'), metrics, db: env.db, redis: env.redis, queueRedis });
  const { app } = createApp(runtime);
  const workers = options.workers === false ? undefined : startWorkers(runtime, options.resolver ? { resolver: options.resolver } : {});
  return {
    env,
    config,
    runtime,
    app,
    workers,
    queueRedis,
    async close() {
      await workers?.close();
      for (const closer of runtime.closers) await closer.close();
      await queueRedis.quit();
      await env.cleanup();
    },
  };
}

export const asTenant = identityHeaders;
export const asService = serviceHeaders;

/** Header map for standardwebhooks' verify (node gives string | string[]). */
export function flatHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/** Verifies with the independent `standardwebhooks` implementation; throws if the signature is wrong. */
export function verifyWith(secret: string, raw: string, headers: IncomingHttpHeaders): unknown {
  return new Webhook(secret).verify(raw, flatHeaders(headers));
}

export async function eventually<T>(probe: () => Promise<T | undefined | null | false>, timeoutMs = 10_000, intervalMs = 25): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Publishes `n` image.approved events for the tenant through the internal route; returns their ids. */
export async function publishEvents(h: Harness, tenant: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await request(h.app)
      .post('/internal/v1/events')
      .set(serviceHeaders())
      .send({ type: 'image.approved', tenant_id: tenant, data: { i } });
    expect(res.status).toBe(202);
    ids.push(res.body.id as string);
  }
  return ids;
}
