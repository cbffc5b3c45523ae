import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { closeAll, createMetrics, createRedis, type Redis } from '@tollgate/common';
import { consoleDir as builtConsoleDir } from '@tollgate/console';
import { createTestEnv, silentLogger, type TestEnv } from '@tollgate/testkit';
import { createApp } from '../src/app';
import { buildDeps, type GatewayDeps } from '../src/deps';
import { migrations } from '../src/migrations';
import { testConfig } from './helpers';

/**
 * /console: the console's static files, served before authentication with the gateway's strict
 * CSP; nothing else under /console answers, and no spelling of a path reaches a file outside the
 * build. A fixture build here; the real build's page is checked for what the CSP would refuse.
 */

let env: TestEnv;
let redis: Redis;
let root: string;
let dir: string;
const gateways: GatewayDeps[] = [];

const gatewayWith = async (consoleDir: string) => {
  const gateway = buildDeps({ config: testConfig(env, 'http://127.0.0.1:9'), logger: silentLogger('edge-gateway'), metrics: createMetrics('edge-gateway', { collectDefault: false }), db: env.db, redis, consoleDir });
  gateways.push(gateway);
  await gateway.ready;
  return createApp(gateway).app;
};

beforeAll(async () => {
  env = await createTestEnv('gw_console');
  await env.migrate(migrations);
  redis = createRedis(env.redisUrl, 'request');
  redis.on('error', () => undefined);
  root = mkdtempSync(path.join(os.tmpdir(), 'gw-console-'));
  dir = path.join(root, 'dist');
  mkdirSync(path.join(dir, 'assets'), { recursive: true });
  writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>console</title><script type="module" src="/console/assets/app-abc123.js"></script>');
  writeFileSync(path.join(dir, 'assets', 'app-abc123.js'), 'console.log("app")');
  writeFileSync(path.join(dir, 'assets', '.env'), 'SECRET=dotfile');
  writeFileSync(path.join(root, 'secret.txt'), 'SECRET=outside');
});

afterAll(async () => {
  for (const g of gateways) await closeAll(g.closers);
  redis.disconnect();
  await env.cleanup();
  rmSync(root, { recursive: true, force: true });
});

test('/console redirects to /console/, which is the page, unauthenticated, never cached, under the strict CSP', async () => {
  const app = await gatewayWith(dir);
  const redirect = await request(app).get('/console');
  expect(redirect.status).toBe(301);
  expect(redirect.headers['location']).toBe('/console/');

  const page = await request(app).get('/console/');
  expect(page.status).toBe(200);
  expect(page.headers['content-type']).toMatch(/^text\/html/);
  expect(page.text).toContain('/console/assets/app-abc123.js');
  expect(page.headers['cache-control']).toBe('no-cache');
  const csp = String(page.headers['content-security-policy']);
  expect(csp).toMatch(/default-src 'self'/);
  expect(csp).toMatch(/script-src 'self'(;|$)/);
  expect(csp).toMatch(/script-src-attr 'none'/);
  expect(csp).toMatch(/img-src 'self' data:(;|$)/);
  expect(page.headers['x-frame-options']).toBe('DENY');
  expect((await request(app).head('/console/index.html')).status).toBe(200);
});

test('hashed assets are served with a long immutable cache; a missing one is a 404 envelope', async () => {
  const app = await gatewayWith(dir);
  const js = await request(app).get('/console/assets/app-abc123.js');
  expect(js.status).toBe(200);
  expect(js.headers['content-type']).toMatch(/javascript/);
  expect(js.headers['cache-control']).toMatch(/immutable/);
  expect(js.headers['content-security-policy']).toBeDefined();
  const missing = await request(app).get('/console/assets/nope.js');
  expect(missing.status).toBe(404);
  expect(missing.body.error).toMatchObject({ code: 'NOT_FOUND', request_id: expect.any(String) });
});

test.each([
  '/console/assets/../../secret.txt',
  '/console/assets/%2e%2e/%2e%2e/secret.txt',
  '/console/assets/..%2f..%2fsecret.txt',
  '/console/assets/%2e%2e%2f%2e%2e%2fsecret.txt',
  '/console/assets/..%5c..%5csecret.txt',
  '/console/assets//..//..//secret.txt',
  '/console/assets/.env',
  '/console/assets/%2eenv',
  '/console/../secret.txt',
  '/console/dist/index.html',
  '/console/secret.txt',
])('%s reaches no file outside the build (and no dotfile)', async (target) => {
  const app = await gatewayWith(dir);
  const res = await request(app).get(target);
  expect(res.status).toBeGreaterThanOrEqual(400);
  expect(res.status).toBeLessThan(500);
  expect(res.text).not.toContain('SECRET=');
});

test('the case of the literal /console is one spelling, as for /v1 (the files keep their own case)', async () => {
  const app = await gatewayWith(dir);
  expect((await request(app).get('/CONSOLE/')).text).toContain('/console/assets/app-abc123.js');
  expect((await request(app).get('/Console/assets/app-abc123.js')).status).toBe(200);
  expect((await request(app).get('/console/assets/APP-abc123.js')).status).toBe(404);
});

test('only GET and HEAD: other methods are 405 with Allow; /v1 still needs a credential', async () => {
  const app = await gatewayWith(dir);
  const post = await request(app).post('/console/').send({ a: 1 });
  expect(post.status).toBe(405);
  expect(post.headers['allow']).toBe('GET, HEAD');
  expect((await request(app).get('/v1/admin/tenants')).status).toBe(401);
});

test('a gateway without a console build answers 404 under /console and keeps working', async () => {
  const app = await gatewayWith(path.join(root, 'not-built'));
  const res = await request(app).get('/console/');
  expect(res.status).toBe(404);
  expect(res.body.error.code).toBe('NOT_FOUND');
  expect((await request(app).get('/healthz')).status).toBe(200);
});

test('the real build (packages/console/dist) has nothing the CSP would refuse: no inline script, style or handler', async () => {
  const html = readFileSync(path.join(builtConsoleDir, 'index.html'), 'utf8');
  const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
  expect(scripts.length).toBeGreaterThan(0);
  for (const [, attrs, body] of scripts) {
    expect(attrs).toMatch(/\bsrc="\/console\/assets\/[^"]+\.js"/);
    expect(body!.trim()).toBe('');
  }
  expect(html).not.toMatch(/<style\b/);
  expect(html).not.toMatch(/\sstyle=/);
  expect(html).not.toMatch(/\son[a-z]+=/i);
  // And the gateway serves it as built.
  const app = await gatewayWith(builtConsoleDir);
  const page = await request(app).get('/console/');
  expect(page.status).toBe(200);
  const asset = /src="(\/console\/assets\/[^"]+\.js)"/.exec(html)![1]!;
  expect((await request(app).get(asset)).status).toBe(200);
});
