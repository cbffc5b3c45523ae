import type { IncomingMessage, ServerResponse } from 'node:http';
import { closeAll, createMetrics, createRedis, parseConfig, type Redis, startServer } from '@tollgate/common';
import { createTestEnv, listen, type Listening, readBody, silentLogger, TEST_INTERNAL_SECRET, type TestEnv } from '@tollgate/testkit';
import { createApp } from '../src/app';
import { type Config, configSchema, serverTimeouts } from '../src/config';
import { buildDeps, type GatewayDeps } from '../src/deps';
import { migrations } from '../src/migrations';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
export const admin = { Authorization: `Bearer ${ADMIN_TOKEN}` };
export const bearer = (credential: string) => ({ Authorization: `Bearer ${credential}` });

export interface RecordedUpstreamRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export interface FakeUpstream extends Listening {
  requests: RecordedUpstreamRequest[];
  /** Replace how the next requests are answered (default: 200 JSON echo of method and path). */
  handle(handler: (req: IncomingMessage, res: ServerResponse, body: Buffer) => unknown): void;
}

/** A small HTTP service standing in for every upstream: records what reached it. */
export async function startFakeUpstream(): Promise<FakeUpstream> {
  const requests: RecordedUpstreamRequest[] = [];
  const echo = (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ method: req.method, url: req.url, identity: req.headers['x-tollgate-identity'] ?? null }));
  };
  let handler: (req: IncomingMessage, res: ServerResponse, body: Buffer) => unknown = echo;
  const server = await listen((req, res) => {
    void (async () => {
      if (req.url === '/healthz') {
        res.end('{"status":"ok"}');
        return;
      }
      const body = await readBody(req);
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      await handler(req, res, body);
    })().catch(() => res.destroy());
  });
  return {
    ...server,
    requests,
    handle(next) {
      handler = next;
    },
  };
}

export function testConfig(env: TestEnv, upstreamUrl: string, overrides: Record<string, string> = {}): Config {
  return parseConfig(configSchema, {
    NODE_ENV: 'test',
    LOG_LEVEL: 'error',
    INTERNAL_JWT_SECRET: TEST_INTERNAL_SECRET,
    ADMIN_TOKEN,
    REDIS_PREFIX: env.prefix,
    REDIS_URL: env.redisUrl,
    DATABASE_URL: env.databaseUrl,
    AI_PROXY_URL: upstreamUrl,
    CREDITS_URL: upstreamUrl,
    UPLOAD_URL: upstreamUrl,
    IMAGE_PIPELINE_URL: upstreamUrl,
    WEBHOOK_URL: upstreamUrl,
    ...overrides,
  });
}

export interface RunningGateway {
  url: string;
  gateway: GatewayDeps;
  config: Config;
  redis: Redis;
  close: () => Promise<void>;
}

/**
 * A real gateway on an ephemeral port (streaming and two-replica tests need real sockets),
 * with its own Redis connection like a separate replica would have.
 */
export async function startGateway(
  env: TestEnv,
  upstreamUrl: string,
  overrides: Record<string, string> = {},
  redis?: Redis,
): Promise<RunningGateway> {
  const config = testConfig(env, upstreamUrl, overrides);
  const ownRedis = redis ?? createRedis(env.redisUrl, 'request');
  ownRedis.on('error', () => undefined);
  const gateway = buildDeps({ config, logger: silentLogger('edge-gateway'), metrics: createMetrics('edge-gateway', { collectDefault: false }), db: env.db, redis: ownRedis });
  await gateway.ready;
  const server = await startServer({ app: createApp(gateway).app, port: 0, host: '127.0.0.1', logger: silentLogger('edge-gateway'), ...serverTimeouts(config) });
  return {
    url: server.url,
    gateway,
    config,
    redis: ownRedis,
    close: async () => {
      server.server.closeAllConnections();
      await server.shutdown('test');
      await closeAll(gateway.closers);
      ownRedis.disconnect();
    },
  };
}

export interface TwoReplicas {
  env: TestEnv;
  upstream: FakeUpstream;
  a: RunningGateway;
  b: RunningGateway;
  close(): Promise<void>;
}

/** Two gateway replicas on one database and one Redis, in front of one fake upstream: the cross-replica tests' setting. */
export async function startTwoReplicas(label: string, overrides: Record<string, string>): Promise<TwoReplicas> {
  const env = await createTestEnv(label);
  await env.migrate(migrations);
  const upstream = await startFakeUpstream();
  const a = await startGateway(env, upstream.url, overrides);
  const b = await startGateway(env, upstream.url, overrides);
  return {
    env,
    upstream,
    a,
    b,
    async close() {
      await a.close();
      await b.close();
      await upstream.close();
      await env.cleanup();
    },
  };
}

/** Creates a tenant and a key through the admin API; returns both ids and the secret. */
export async function createTenantWithKey(
  baseUrl: string,
  key: { scopes?: string[]; expires_at?: string; name?: string } = {},
  tenant: { name?: string; rate_limits?: Record<string, number> } = {},
): Promise<{ tenantId: string; keyId: string; key: string }> {
  const t = await fetch(`${baseUrl}/v1/admin/tenants`, {
    method: 'POST',
    headers: { ...admin, 'content-type': 'application/json' },
    body: JSON.stringify({ name: tenant.name ?? 'acme', ...(tenant.rate_limits ? { rate_limits: tenant.rate_limits } : {}) }),
  });
  if (t.status !== 201) throw new Error(`tenant creation answered ${t.status}: ${await t.text()}`);
  const tenantId = ((await t.json()) as { id: string }).id;
  const k = await fetch(`${baseUrl}/v1/admin/tenants/${tenantId}/keys`, {
    method: 'POST',
    headers: { ...admin, 'content-type': 'application/json' },
    body: JSON.stringify(key),
  });
  if (k.status !== 201) throw new Error(`key creation answered ${k.status}: ${await k.text()}`);
  const created = (await k.json()) as { id: string; key: string };
  return { tenantId, keyId: created.id, key: created.key };
}
