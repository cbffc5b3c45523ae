import http from 'node:http';
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { createTestEnv, type TestEnv } from '@tollgate/testkit';

/**
 * METRICS_PORT, as the Kubernetes and compose manifests set it: /metrics and /readyz only on the
 * operator listener (never on PORT, the one an Ingress publishes); /healthz on both. One built
 * service stands for all six: the split lives in common's runService.
 */
describe('METRICS_PORT', () => {
  let env: TestEnv;
  let child: ChildProcess | undefined;
  beforeAll(async () => {
    env = await createTestEnv('metrics_port');
  });
  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await env.cleanup();
  });

  it('keeps /metrics and /readyz off the public listener', async () => {
    child = spawn(process.execPath, [path.resolve(__dirname, '../../../services/credits/dist/main.js')], {
      env: {
        PATH: process.env['PATH'] ?? '',
        NODE_ENV: 'test',
        HOST: '127.0.0.1',
        PORT: '0',
        METRICS_PORT: '0',
        DATABASE_URL: env.databaseUrl,
        DB_SCHEMA: env.schema,
        REDIS_URL: env.redisUrl,
        REDIS_PREFIX: env.prefix,
        INTERNAL_JWT_SECRET: 'metrics-port-test-secret-0123456789abcdef',
        LOG_PRETTY: 'false',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Each listener logs its port and what it serves.
    const ports = await new Promise<Record<string, number>>((resolve, reject) => {
      const found: Record<string, number> = {};
      let buffered = '';
      let stderr = '';
      child!.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
      child!.once('exit', (code) => reject(new Error(`credits exited ${code}: ${stderr}`)));
      child!.stdout!.on('data', (c: Buffer) => {
        buffered += c.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) {
          const record = JSON.parse(line) as { message?: string; port?: number; serve?: string };
          if (record.message === 'listening' && record.serve) found[record.serve] = record.port!;
        }
        if (found['public'] !== undefined && found['ops'] !== undefined) resolve(found);
      });
    });
    const status = async (port: number, p: string) => (await fetch(`http://127.0.0.1:${port}${p}`)).status;
    for (const p of ['/metrics', '/readyz', '/METRICS/', '/readyz/?verbose=1']) {
      expect([p, await status(ports['public']!, p)]).toEqual([p, 404]);
    }
    // Spelled as targets fetch would normalise: the absolute form and a fragment, sent as they are.
    const raw = (port: number, target: string) =>
      new Promise<number>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, path: target }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    for (const target of ['http://x/metrics', 'http://a:b/readyz', '/metrics#x']) {
      expect([target, await raw(ports['public']!, target)]).toEqual([target, target.includes('#') ? 400 : 404]);
    }
    expect(await status(ports['ops']!, '/metrics')).toBe(200);
    expect(await status(ports['ops']!, '/readyz')).toBe(200);
    expect(await status(ports['public']!, '/healthz')).toBe(200);
    expect(await status(ports['ops']!, '/healthz')).toBe(200);
    // The API is only on the public listener. (Asked with plain http: the ops listener is not the
    // API, so its 404 is not checked against the published document as fetch answers are.)
    expect(await raw(ports['ops']!, '/v1/credits/balance')).toBe(404);
    expect(await status(ports['public']!, '/v1/credits/balance')).toBe(401);
    const body = await (await fetch(`http://127.0.0.1:${ports['public']}/metrics`)).json();
    expect(body).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });
});
