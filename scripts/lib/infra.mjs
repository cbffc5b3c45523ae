// Finds PostgreSQL and Redis for `npm start` / `npm test`: the configured ones when they answer,
// else private instances under .data/ when the binaries are on this machine.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ROOT } from './pnpm.mjs';

export const DATA_DIR = path.join(ROOT, '.data');

export function canConnect(host, port, timeoutMs = 1500) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port: Number(port) });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function hostPort(url, defaultPort) {
  const u = new URL(url);
  return { host: u.hostname === 'localhost' ? '127.0.0.1' : u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || defaultPort) };
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

function which(bin) {
  const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function postgresBinDir() {
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (existsSync(path.join(base, v, 'bin', 'initdb'))) return path.join(base, v, 'bin');
  }
  const initdb = which('initdb');
  return initdb ? path.dirname(initdb) : undefined;
}

async function waitFor(host, port, timeoutMs) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await canConnect(host, port, 500)) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

const children = [];
export function stopPrivateInstances() {
  for (const child of children) child.kill('SIGTERM');
}

async function startPrivatePostgres() {
  const bin = postgresBinDir();
  if (!bin) return undefined;
  const dir = path.join(DATA_DIR, 'postgres');
  const runAs = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--'] : [];
  if (!existsSync(path.join(dir, 'PG_VERSION'))) {
    mkdirSync(dir, { recursive: true });
    if (runAs.length) spawnSync('chown', ['-R', 'postgres', dir]);
    const init = spawnSync(runAs[0] ?? path.join(bin, 'initdb'), [...runAs.slice(1), ...(runAs.length ? [path.join(bin, 'initdb')] : []), '-D', dir, '-A', 'trust', '-U', 'postgres'], { encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr.trim().split('\n').pop()}`);
  }
  const port = await freePort();
  const args = ['-D', dir, '-p', String(port), '-h', '127.0.0.1', '-k', dir];
  const child = spawn(runAs[0] ?? path.join(bin, 'postgres'), [...runAs.slice(1), ...(runAs.length ? [path.join(bin, 'postgres')] : []), ...args], { stdio: 'ignore' });
  children.push(child);
  if (!(await waitFor('127.0.0.1', port, 20_000))) throw new Error('the private PostgreSQL did not start');
  return `postgres://postgres@127.0.0.1:${port}/tollgate`;
}

async function startPrivateRedis() {
  const bin = which('redis-server');
  if (!bin) return undefined;
  const port = await freePort();
  mkdirSync(path.join(DATA_DIR, 'redis'), { recursive: true });
  const child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', path.join(DATA_DIR, 'redis')], { stdio: 'ignore' });
  children.push(child);
  if (!(await waitFor('127.0.0.1', port, 10_000))) throw new Error('the private Redis did not start');
  return `redis://127.0.0.1:${port}`;
}

/**
 * Returns {databaseUrl, redisUrl} that answer, starting private instances if needed; exits with
 * one clear line when neither the configured server nor a local binary is available.
 */
export async function ensureInfra({ databaseUrl, redisUrl }) {
  const out = { databaseUrl, redisUrl };
  const pg = hostPort(databaseUrl, 5432);
  if (!(await canConnect(pg.host, pg.port))) {
    const url = await startPrivatePostgres().catch((err) => {
      console.error(`PostgreSQL is not reachable at ${pg.host}:${pg.port} and a private one could not start: ${err.message}`);
      process.exit(1);
    });
    if (!url) {
      console.error(`PostgreSQL is not reachable at ${pg.host}:${pg.port}. Start one, or set DATABASE_URL=postgres://user@host:port/tollgate.`);
      process.exit(1);
    }
    console.log(`PostgreSQL was not reachable at ${pg.host}:${pg.port}; started a private one under .data/postgres (${url}).`);
    out.databaseUrl = url;
  }
  const rd = hostPort(redisUrl, 6379);
  if (!(await canConnect(rd.host, rd.port))) {
    const url = await startPrivateRedis().catch((err) => {
      console.error(`Redis is not reachable at ${rd.host}:${rd.port} and a private one could not start: ${err.message}`);
      process.exit(1);
    });
    if (!url) {
      console.error(`Redis is not reachable at ${rd.host}:${rd.port}. Start one, or set REDIS_URL=redis://host:port.`);
      process.exit(1);
    }
    console.log(`Redis was not reachable at ${rd.host}:${rd.port}; started a private one (${url}).`);
    out.redisUrl = url;
  }
  return out;
}

export function writePrivateFile(file, content) {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content, { mode: 0o600 });
}
