import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createRedis, deleteByPrefix, withDefaultUser } from '@tollgate/common';
import { ensureTestDatabase, TEST_DATABASE_URL, TEST_REDIS_URL } from './env';
import { startTcpProxy, type TcpProxy } from './tcp-proxy';

export const MESH_SERVICES = [
  { name: 'credits', schema: 'credits', urlEnv: 'CREDITS_URL' },
  { name: 'upload', schema: 'uploads', urlEnv: 'UPLOAD_URL' },
  { name: 'ai-proxy', schema: 'ai', urlEnv: 'AI_PROXY_URL' },
  { name: 'image-pipeline', schema: 'images', urlEnv: 'IMAGE_PIPELINE_URL' },
  { name: 'webhook', schema: 'webhooks', urlEnv: 'WEBHOOK_URL' },
  { name: 'edge-gateway', schema: 'gateway', urlEnv: 'GATEWAY_URL' },
] as const;

export type MeshServiceName = (typeof MESH_SERVICES)[number]['name'];

const ROOT = path.resolve(__dirname, '../../..');

export interface Mesh {
  gatewayUrl: string;
  urls: Record<MeshServiceName, string>;
  adminToken: string;
  internalSecret: string;
  /** Every JSON log line each service printed, in order. */
  logs: Record<MeshServiceName, Record<string, unknown>[]>;
  processes: Record<MeshServiceName, ChildProcess>;
  env: Record<string, string>;
  /** With `proxyInfra`: the TCP proxies every service reaches Postgres and Redis through. */
  proxies?: { postgres: TcpProxy; redis: TcpProxy };
  /** Starts a service again with the same env and port (after a crash or a kill) and waits until it is ready. */
  restart(name: MeshServiceName, readyTimeoutMs?: number): Promise<ChildProcess>;
  stop(): Promise<void>;
}

/** `url` with its host and port replaced by 127.0.0.1:<port>. */
function throughPort(url: string, port: number): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return u.toString();
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

export async function waitReady(url: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return;
      last = `${res.status} ${await res.text()}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms: ${last}`);
}

/**
 * Starts the six built services (services/<name>/dist/main.js) as separate processes on free
 * ports, isolated in their own schemas and Redis prefix, exactly as `npm start` runs them.
 */
export async function startMesh(
  options: {
    env?: Record<string, string>;
    readyTimeoutMs?: number;
    /** Route DATABASE_URL and REDIS_URL through TCP proxies the caller can stop and start (fault tests). */
    proxyInfra?: boolean;
  } = {},
): Promise<Mesh> {
  for (const s of MESH_SERVICES) {
    const main = path.join(ROOT, 'services', s.name, 'dist', 'main.js');
    if (!existsSync(main)) throw new Error(`${main} is missing: build first (npm test builds every service)`);
  }
  await ensureTestDatabase();
  const suffix = randomBytes(4).toString('hex');
  const ports = Object.fromEntries(await Promise.all(MESH_SERVICES.map(async (s) => [s.name, await freePort()]))) as Record<MeshServiceName, number>;
  const urls = Object.fromEntries(MESH_SERVICES.map((s) => [s.name, `http://127.0.0.1:${ports[s.name]}`])) as Record<MeshServiceName, string>;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-mesh-'));
  const adminToken = `tgadmin_${randomBytes(24).toString('base64url')}`;
  const internalSecret = randomBytes(32).toString('base64url');
  const prefix = `e2e:${suffix}`;
  let proxies: Mesh['proxies'];
  if (options.proxyInfra) {
    const pgUrl = new URL(TEST_DATABASE_URL);
    const redisUrl = new URL(TEST_REDIS_URL);
    proxies = {
      postgres: await startTcpProxy(Number(pgUrl.port || 5432), pgUrl.hostname === 'localhost' ? '127.0.0.1' : pgUrl.hostname),
      redis: await startTcpProxy(Number(redisUrl.port || 6379), redisUrl.hostname === 'localhost' ? '127.0.0.1' : redisUrl.hostname),
    };
  }
  const baseEnv: Record<string, string> = {
    PATH: process.env['PATH'] ?? '',
    NODE_ENV: 'test',
    DATABASE_URL: proxies ? throughPort(TEST_DATABASE_URL, proxies.postgres.port) : TEST_DATABASE_URL,
    REDIS_URL: proxies ? throughPort(TEST_REDIS_URL, proxies.redis.port) : TEST_REDIS_URL,
    REDIS_PREFIX: prefix,
    INTERNAL_JWT_SECRET: internalSecret,
    ADMIN_TOKEN: adminToken,
    LOG_LEVEL: 'info',
    LOG_PRETTY: 'false',
    DATA_DIR: dataDir,
    WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
    HOST: '127.0.0.1',
    SHUTDOWN_TIMEOUT_MS: '10000',
    ...Object.fromEntries(MESH_SERVICES.map((s) => [s.urlEnv, urls[s.name]])),
    ...options.env,
  };
  const logs = Object.fromEntries(MESH_SERVICES.map((s) => [s.name, []])) as unknown as Mesh['logs'];
  const processes = {} as Record<MeshServiceName, ChildProcess>;
  const stderr: Record<string, string> = {};
  const spawnService = (s: (typeof MESH_SERVICES)[number]): ChildProcess => {
    const child = spawn(process.execPath, [path.join(ROOT, 'services', s.name, 'dist', 'main.js')], {
      cwd: path.join(ROOT, 'services', s.name),
      env: { ...baseEnv, PORT: String(ports[s.name]), DB_SCHEMA: `e2e_${suffix}_${s.schema}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        try {
          logs[s.name].push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          logs[s.name].push({ raw: line });
        }
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (stderr[s.name] += chunk.toString('utf8')));
    processes[s.name] = child;
    return child;
  };
  for (const s of MESH_SERVICES) {
    stderr[s.name] = '';
    spawnService(s);
  }

  const restart = async (name: MeshServiceName, readyTimeoutMs = 60_000): Promise<ChildProcess> => {
    const s = MESH_SERVICES.find((x) => x.name === name)!;
    const old = processes[name];
    if (old.exitCode === null && old.signalCode === null) {
      await new Promise<void>((resolve) => {
        old.once('exit', () => resolve());
        old.kill('SIGKILL');
      });
    }
    const child = spawnService(s);
    await waitReady(urls[name], readyTimeoutMs);
    return child;
  };

  const stop = async () => {
    await Promise.all(
      Object.values(processes).map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
            child.once('exit', () => {
              clearTimeout(force);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
    const client = new pg.Client({ connectionString: withDefaultUser(TEST_DATABASE_URL) });
    await client.connect();
    try {
      for (const s of MESH_SERVICES) await client.query(`drop schema if exists "e2e_${suffix}_${s.schema}" cascade`);
    } finally {
      await client.end();
    }
    const redis = createRedis(TEST_REDIS_URL);
    try {
      await deleteByPrefix(redis, prefix);
    } finally {
      redis.disconnect();
    }
    rmSync(dataDir, { recursive: true, force: true });
    if (proxies) {
      await proxies.postgres.close();
      await proxies.redis.close();
    }
  };

  try {
    await Promise.all(MESH_SERVICES.map((s) => waitReady(urls[s.name], options.readyTimeoutMs ?? 60_000)));
  } catch (err) {
    const exited = MESH_SERVICES.filter((s) => processes[s.name].exitCode !== null).map((s) => `${s.name}: ${stderr[s.name]?.trim()}`);
    await stop().catch(() => undefined);
    throw new Error(`${(err as Error).message}${exited.length ? `\n${exited.join('\n')}` : ''}`);
  }
  return { gatewayUrl: urls['edge-gateway'], urls, adminToken, internalSecret, logs, processes, env: baseEnv, proxies, restart, stop };
}
