import request from 'supertest';
import { z } from 'zod';
import { captureLogger } from '@tollgate/testkit';
import { assembleProcess, type ProcessRole, runWorkersInApi, type ServiceDeps, type ServiceConfig } from '../src/bootstrap';
import { baseConfigSchema, ConfigError, envInt, parseConfig } from '../src/config';
import { createService } from '../src/http/create-service';
import { Readiness } from '../src/http/readiness';
import { createMetrics } from '../src/metrics';

const schema = baseConfigSchema.extend({ PORT: envInt(0), DB_SCHEMA: z.string().default('svc') });

/** runService's decisions about one process, with stand-ins for the service's three pieces. */
async function assemble(role: ProcessRole, env: Record<string, string> = {}, options: { name?: string; withWorkers?: boolean } = {}) {
  const { logger, lines } = captureLogger('svc');
  const config = parseConfig(schema, { NODE_ENV: 'test', ...env }) as ServiceConfig;
  const base = { config, role, logger, metrics: createMetrics('svc', { collectDefault: false }), readiness: new Readiness() } as ServiceDeps<ServiceConfig>;
  const calls: string[] = [];
  const deps = { closers: [{ name: 'queues', close: async () => calls.push('queues closed') }] };
  const built = await assembleProcess({
    name: options.name ?? 'svc',
    role,
    base,
    deps,
    env,
    api: () => {
      calls.push('api');
      return createService({ name: 'svc', logger, metrics: base.metrics, readiness: base.readiness, routes: (app) => app.get('/v1/things', (_req, res) => void res.json({ ok: true })) });
    },
    ...(options.withWorkers === false
      ? {}
      : {
          workers: () => {
            calls.push('workers');
            return { closers: [{ name: 'workers', close: async () => calls.push('workers closed') }] };
          },
        }),
  });
  return { built, calls, lines };
}

describe('runService roles', () => {
  it('api: the routes, no workers', async () => {
    const { built, calls } = await assemble('api');
    expect(calls).toEqual(['api']);
    expect(built.workersStarted).toBe(false);
    expect((await request(built.service.app).get('/v1/things')).status).toBe(200);
  });

  it('worker: the workers behind a listener that serves only health, readiness and metrics', async () => {
    const { built, calls } = await assemble('worker');
    expect(calls).toEqual(['workers']);
    const app = built.service.app;
    expect((await request(app).get('/v1/things')).status).toBe(404);
    expect((await request(app).get('/healthz')).body).toEqual({ status: 'ok', service: 'svc-worker' });
    expect((await request(app).get('/readyz')).status).toBe(200);
    expect((await request(app).get('/metrics')).status).toBe(200);
    expect((await request(app).get('/openapi.json')).status).toBe(404);
    // Workers close before the deps they use (queues).
    for (const closer of built.closers) await closer.close();
    expect(calls.slice(1)).toEqual(['workers closed', 'queues closed']);
  });

  it('all: the routes and the workers by default', async () => {
    const { built, calls } = await assemble('all');
    expect(calls).toEqual(['api', 'workers']);
    expect(built.workersStarted).toBe(true);
  });

  it('all with RUN_WORKERS_IN_API=false: the routes, no workers', async () => {
    const { built, calls } = await assemble('all', { RUN_WORKERS_IN_API: 'false' });
    expect(calls).toEqual(['api']);
    expect(built.workersStarted).toBe(false);
  });

  it('worker runs its workers whatever RUN_WORKERS_IN_API says', async () => {
    const { calls } = await assemble('worker', { RUN_WORKERS_IN_API: 'false' });
    expect(calls).toEqual(['workers']);
  });

  it('a worker role for a service without workers is refused with one line', async () => {
    await expect(assemble('worker', {}, { withWorkers: false })).rejects.toThrow(new ConfigError('svc has no workers: run it with --role=api or --role=all'));
    const { calls } = await assemble('all', {}, { withWorkers: false });
    expect(calls).toEqual(['api']);
  });
});

describe('RUN_WORKERS_IN_API and its deprecated names', () => {
  it.each([
    ['credits', 'MAINTENANCE_IN_API'],
    ['webhook', 'WEBHOOK_RUN_WORKERS'],
  ])('%s still honours %s, with a warning', async (name, deprecated) => {
    const { built, calls, lines } = await assemble('all', { [deprecated]: 'false' }, { name });
    expect(calls).toEqual(['api']);
    expect(built.workersStarted).toBe(false);
    expect(lines.some((l) => l['level'] === 'warn' && String(l['message']).includes(`${deprecated} is deprecated`))).toBe(true);
  });

  it('RUN_WORKERS_IN_API wins over a deprecated name', () => {
    const { logger, lines } = captureLogger();
    expect(runWorkersInApi('credits', { RUN_WORKERS_IN_API: true }, logger, { MAINTENANCE_IN_API: 'false' })).toBe(true);
    expect(lines.some((l) => String(l['message']).includes('MAINTENANCE_IN_API is deprecated and ignored'))).toBe(true);
  });

  it("another service's deprecated name does not apply", () => {
    const { logger } = captureLogger();
    expect(runWorkersInApi('upload', { RUN_WORKERS_IN_API: undefined }, logger, { MAINTENANCE_IN_API: 'false', WEBHOOK_RUN_WORKERS: 'false' })).toBe(true);
    expect(runWorkersInApi('credits', { RUN_WORKERS_IN_API: undefined }, logger, { WEBHOOK_RUN_WORKERS: 'false' })).toBe(true);
  });

  it('a deprecated name with a bad value is a configuration error naming it', () => {
    expect(() => runWorkersInApi('webhook', { RUN_WORKERS_IN_API: undefined }, captureLogger().logger, { WEBHOOK_RUN_WORKERS: 'maybe' })).toThrow(/WEBHOOK_RUN_WORKERS/);
  });
});
