// Policy checks over the rendered overlays: what a platform team's admission policies and
// reviewers would demand of every workload, plus the wiring between objects (selectors, ports,
// autoscalers, Secrets) that kustomize itself never checks.
import { readFileSync } from 'node:fs';
import { id, type K8sObject, OVERLAYS, parseYamlStream, podTemplates, renderAllOverlays, selects } from './helpers/k8s';
import { REPO, SERVICES } from './helpers/repo';

let rendered: Record<string, K8sObject[]>;
beforeAll(() => {
  rendered = renderAllOverlays();
});

const of = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);
const byName = (objects: K8sObject[], kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);
const containersOf = (o: K8sObject): any[] => [...(o.spec.template.spec.initContainers ?? []), ...o.spec.template.spec.containers];
const longRunning = (objects: K8sObject[]) => objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
const envValue = (container: any, name: string): string | undefined => container.env?.find((e: any) => e.name === name)?.value;

/** Secrets that production provisions outside the repository (the example ones are removed). */
const EXTERNAL_SECRETS = ['tollgate-secrets', 'edge-gateway-secrets', 'webhook-secrets', 'ai-proxy-secrets', 'image-pipeline-secrets'];

describe.each(OVERLAYS)('overlay %s', (overlay) => {
  const objects = () => rendered[overlay]!;

  test('every long-running container has startup, liveness and readiness probes', () => {
    const missing = longRunning(objects()).flatMap((o) =>
      containersOf(o).flatMap((c) =>
        ['startupProbe', 'livenessProbe', 'readinessProbe'].filter((p) => !c[p]).map((p) => `${id(o)}/${c.name}: ${p}`),
      ),
    );
    expect(missing).toEqual([]);
  });

  test('HTTP probes use /healthz for liveness and startup, /readyz for readiness', () => {
    for (const o of of(objects(), 'Deployment')) {
      for (const c of containersOf(o)) {
        expect([o.metadata.name, c.livenessProbe.httpGet.path]).toEqual([o.metadata.name, '/healthz']);
        expect([o.metadata.name, c.startupProbe.httpGet.path]).toEqual([o.metadata.name, '/healthz']);
        expect([o.metadata.name, c.readinessProbe.httpGet.path]).toEqual([o.metadata.name, '/readyz']);
      }
    }
  });

  test('every container (Jobs included) has CPU and memory requests and limits', () => {
    const missing = podTemplates(objects()).flatMap(({ owner }) =>
      containersOf(owner).flatMap((c) =>
        ['requests.cpu', 'requests.memory', 'limits.cpu', 'limits.memory']
          .filter((k) => {
            const [group, resource] = k.split('.') as [string, string];
            return !c.resources?.[group]?.[resource];
          })
          .map((k) => `${id(owner)}/${c.name}: ${k}`),
      ),
    );
    expect(missing).toEqual([]);
  });

  test('every container runs non-root, read-only, without privilege escalation, capabilities or a custom seccomp profile', () => {
    const problems: string[] = [];
    for (const { owner, template } of podTemplates(objects())) {
      const pod = template.spec.securityContext ?? {};
      if (template.spec.hostNetwork || template.spec.hostPID || template.spec.hostIPC) problems.push(`${id(owner)}: host namespaces`);
      for (const c of containersOf(owner)) {
        const sc = c.securityContext ?? {};
        const where = `${id(owner)}/${c.name}`;
        if ((sc.runAsNonRoot ?? pod.runAsNonRoot) !== true) problems.push(`${where}: runAsNonRoot`);
        if ((sc.runAsUser ?? pod.runAsUser) === 0) problems.push(`${where}: runAsUser 0`);
        if (sc.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem`);
        if (sc.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation`);
        if (sc.privileged) problems.push(`${where}: privileged`);
        if (!sc.capabilities?.drop?.includes('ALL')) problems.push(`${where}: capabilities.drop ALL`);
        if (sc.capabilities?.add?.length) problems.push(`${where}: capabilities.add`);
        if ((sc.seccompProfile ?? pod.seccompProfile)?.type !== 'RuntimeDefault') problems.push(`${where}: seccomp RuntimeDefault`);
      }
    }
    expect(problems).toEqual([]);
  });

  test('every image has an explicit tag (or digest) that is not latest', () => {
    const bad = podTemplates(objects()).flatMap(({ owner }) =>
      containersOf(owner)
        .filter((c) => {
          const image: string = c.image;
          if (/@sha256:[a-f0-9]{64}$/.test(image)) return false;
          const tag = /:([\w][\w.-]{0,127})$/.exec(image.slice(image.lastIndexOf('/') + 1))?.[1];
          return !tag || tag === 'latest';
        })
        .map((c) => `${id(owner)}/${c.name}: ${c.image}`),
    );
    expect(bad).toEqual([]);
  });

  test('every port a probe or a lifecycle hook names exists on its container', () => {
    const problems: string[] = [];
    for (const { owner } of podTemplates(objects())) {
      for (const c of containersOf(owner)) {
        const names = new Set((c.ports ?? []).map((p: any) => p.name));
        const numbers = new Set((c.ports ?? []).map((p: any) => p.containerPort));
        for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
          const port = c[probe]?.httpGet?.port ?? c[probe]?.tcpSocket?.port ?? c[probe]?.grpc?.port;
          if (port === undefined) continue;
          if (typeof port === 'string' ? !names.has(port) : !numbers.has(port))
            problems.push(`${id(owner)}/${c.name} ${probe}: port ${port}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  test('every Service selects at least one workload and targets a port its pods have', () => {
    const templates = podTemplates(objects()).filter(({ owner }) => owner.kind !== 'Job');
    const problems: string[] = [];
    for (const service of of(objects(), 'Service')) {
      const selected = templates.filter(({ template }) => selects({ matchLabels: service.spec.selector }, template.metadata?.labels));
      if (!service.spec.selector || selected.length === 0) {
        problems.push(`${id(service)}: selects nothing`);
        continue;
      }
      for (const port of service.spec.ports) {
        const target = port.targetPort ?? port.port;
        for (const { owner } of selected) {
          const ports = containersOf(owner).flatMap((c) => c.ports ?? []);
          const ok =
            typeof target === 'string' ? ports.some((p: any) => p.name === target) : ports.some((p: any) => p.containerPort === target);
          if (!ok) problems.push(`${id(service)} port ${port.name}: ${id(owner)} has no port ${target}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  test('every Deployment has a PodDisruptionBudget and exactly one autoscaler, whose floor is its replica count', () => {
    const problems: string[] = [];
    for (const d of of(objects(), 'Deployment')) {
      const labels = d.spec.template.metadata.labels;
      const pdbs = of(objects(), 'PodDisruptionBudget').filter((p) => selects(p.spec.selector, labels));
      if (pdbs.length !== 1) problems.push(`${id(d)}: ${pdbs.length} PDBs`);
      for (const p of pdbs)
        if (p.spec.minAvailable !== undefined && p.spec.minAvailable >= (d.spec.replicas ?? 1))
          problems.push(`${id(p)}: blocks every eviction`);
      const hpas = of(objects(), 'HorizontalPodAutoscaler').filter(
        (h) => h.spec.scaleTargetRef.kind === 'Deployment' && h.spec.scaleTargetRef.name === d.metadata.name,
      );
      const scaled = of(objects(), 'ScaledObject').filter(
        (s) => (s.spec.scaleTargetRef.kind ?? 'Deployment') === 'Deployment' && s.spec.scaleTargetRef.name === d.metadata.name,
      );
      if (hpas.length + scaled.length !== 1) {
        problems.push(`${id(d)}: ${hpas.length} HPAs and ${scaled.length} ScaledObjects`);
        continue;
      }
      const [min, max] = hpas.length
        ? [hpas[0]!.spec.minReplicas ?? 1, hpas[0]!.spec.maxReplicas]
        : [scaled[0]!.spec.minReplicaCount ?? 0, scaled[0]!.spec.maxReplicaCount ?? 100];
      if (!(min >= 1 && max >= min)) problems.push(`${id(d)}: autoscaler bounds ${min}..${max}`);
      if ((d.spec.replicas ?? 1) !== min) problems.push(`${id(d)}: replicas ${d.spec.replicas} != autoscaler floor ${min}`);
    }
    expect(problems).toEqual([]);
  });

  test('every Deployment drains: a preStop pause, and a grace period longer than pause + SHUTDOWN_TIMEOUT_MS', () => {
    const problems: string[] = [];
    for (const d of of(objects(), 'Deployment')) {
      const spec = d.spec.template.spec;
      for (const c of spec.containers) {
        const pre = c.lifecycle?.preStop;
        const pause = pre?.sleep?.seconds ?? (pre?.exec?.command?.[0] === 'sleep' ? Number(pre.exec.command[1]) : NaN);
        if (!(pause > 0)) {
          problems.push(`${id(d)}: no preStop pause`);
          continue;
        }
        const shutdownMs = Number(envValue(c, 'SHUTDOWN_TIMEOUT_MS'));
        if (!(shutdownMs > 0)) problems.push(`${id(d)}: SHUTDOWN_TIMEOUT_MS not set`);
        if (!(spec.terminationGracePeriodSeconds > pause + shutdownMs / 1000))
          problems.push(`${id(d)}: grace ${spec.terminationGracePeriodSeconds}s <= ${pause}s + ${shutdownMs / 1000}s`);
      }
    }
    expect(problems).toEqual([]);
  });

  test('every Deployment spreads its pods over zones and nodes', () => {
    for (const d of of(objects(), 'Deployment')) {
      const constraints: any[] = d.spec.template.spec.topologySpreadConstraints ?? [];
      const keys = constraints.filter((c) => selects(c.labelSelector, d.spec.template.metadata.labels)).map((c) => c.topologyKey);
      expect([d.metadata.name, keys.sort()]).toEqual([d.metadata.name, ['kubernetes.io/hostname', 'topology.kubernetes.io/zone']]);
    }
  });

  test('every pod runs as its own ServiceAccount without an API token', () => {
    for (const { owner, template } of podTemplates(objects())) {
      const name = template.spec.serviceAccountName;
      expect([id(owner), name && byName(objects(), 'ServiceAccount', name) ? 'ok' : name]).toEqual([id(owner), 'ok']);
      expect([id(owner), template.spec.automountServiceAccountToken]).toEqual([id(owner), false]);
    }
  });

  test.each(SERVICES.map((s) => [s.name, s] as const))(
    '%s: API Deployment, Service, ServiceAccount and (if it has one) a worker Deployment',
    (name, service) => {
      const api = byName(objects(), 'Deployment', name)!;
      expect(api).toBeDefined();
      const container = api.spec.template.spec.containers[0];
      expect(container.image).toMatch(new RegExp(`(^|/)tollgate/${name}:`));
      // /metrics and /readyz live on the `metrics` port (METRICS_PORT), never on `http`.
      expect(container.ports).toEqual([
        { name: 'http', containerPort: service.port, protocol: 'TCP' },
        { name: 'metrics', containerPort: 9464, protocol: 'TCP' },
      ]);
      expect(envValue(container, 'PORT')).toBe(String(service.port));
      expect(container.readinessProbe.httpGet.port).toBe('metrics');
      const svc = byName(objects(), 'Service', name)!;
      expect(svc.spec.ports).toEqual([
        expect.objectContaining({ name: 'http', port: service.port, targetPort: 'http' }),
        expect.objectContaining({ name: 'metrics', port: 9464, targetPort: 'metrics' }),
      ]);
      expect(byName(objects(), 'ServiceAccount', name)).toBeDefined();
      const worker = byName(objects(), 'Deployment', `${name}-worker`);
      if (service.worker) {
        expect(worker).toBeDefined();
        expect(worker!.spec.template.spec.containers[0].args).toEqual(['node', 'dist/main.js', '--role=worker']);
        expect(worker!.spec.template.spec.containers[0].image).toBe(container.image);
        // The API pods leave the queues to the workers.
        expect(container.args).toEqual(['node', 'dist/main.js', '--role=api']);
        // No Service routes to workers.
        expect(
          of(objects(), 'Service').filter((s) => selects({ matchLabels: s.spec.selector }, worker!.spec.template.metadata.labels)),
        ).toEqual([]);
      } else {
        expect(worker).toBeUndefined();
      }
    },
  );

  test('the migration Job runs each service image once with `node migrate.js`, as an Argo CD PreSync hook', () => {
    const job = byName(objects(), 'Job', 'tollgate-migrate')!;
    expect(job.metadata.annotations?.['argocd.argoproj.io/hook']).toBe('PreSync');
    const containers = job.spec.template.spec.containers;
    expect(containers.map((c: any) => c.name).sort()).toEqual(SERVICES.map((s) => s.name).sort());
    for (const c of containers) {
      expect(c.args).toEqual(['node', 'migrate.js']);
      expect(c.image).toBe(byName(objects(), 'Deployment', c.name)!.spec.template.spec.containers[0].image);
      // The same configuration as the service, so its config validation passes (or fails) here first.
      expect(c.envFrom).toEqual(byName(objects(), 'Deployment', c.name)!.spec.template.spec.containers[0].envFrom);
    }
  });

  test('every referenced ConfigMap, Secret and PersistentVolumeClaim exists (production Secrets are provisioned outside)', () => {
    const problems: string[] = [];
    const secrets = of(objects(), 'Secret').map((s) => s.metadata.name);
    for (const { owner, template } of podTemplates(objects())) {
      for (const c of containersOf(owner)) {
        for (const from of c.envFrom ?? []) {
          if (from.configMapRef && !byName(objects(), 'ConfigMap', from.configMapRef.name))
            problems.push(`${id(owner)}: ConfigMap ${from.configMapRef.name}`);
          const secret = from.secretRef?.name;
          if (secret && !from.secretRef.optional && !secrets.includes(secret) && !(overlay === 'prod' && EXTERNAL_SECRETS.includes(secret)))
            problems.push(`${id(owner)}: Secret ${secret}`);
        }
        for (const e of c.env ?? []) {
          const secret = e.valueFrom?.secretKeyRef?.name;
          if (secret && !secrets.includes(secret)) problems.push(`${id(owner)}: Secret ${secret}`);
        }
      }
      for (const v of template.spec.volumes ?? []) {
        if (v.persistentVolumeClaim && !byName(objects(), 'PersistentVolumeClaim', v.persistentVolumeClaim.claimName))
          problems.push(`${id(owner)}: PVC ${v.persistentVolumeClaim.claimName}`);
      }
    }
    expect(problems).toEqual([]);
  });

  test('Secrets in the repository hold placeholders or dev-only values; production applies none', () => {
    const secrets = of(objects(), 'Secret');
    if (overlay === 'prod') {
      expect(secrets.map(id)).toEqual([]);
      return;
    }
    for (const s of secrets) {
      for (const [key, value] of Object.entries({ ...s.stringData, ...s.data })) {
        expect([id(s), key, /change-me|dev-only|dev_only|^$|^redis:6379$|^redis:\/\/redis:6379$/.test(String(value))]).toEqual([
          id(s),
          key,
          true,
        ]);
      }
    }
  });

  test('the Ingress sends every path to the edge gateway Service only', () => {
    const ingresses = of(objects(), 'Ingress');
    expect(ingresses).toHaveLength(1);
    const backends = ingresses[0]!.spec.rules.flatMap((r: any) => r.http.paths.map((p: any) => p.backend.service));
    expect(backends.length).toBeGreaterThan(0);
    for (const b of backends) {
      expect(b.name).toBe('edge-gateway');
      const svc = byName(objects(), 'Service', b.name)!;
      expect(svc.spec.ports.some((p: any) => p.name === b.port.name || p.port === b.port.number)).toBe(true);
    }
    expect(ingresses[0]!.spec.tls?.length).toBeGreaterThan(0);
  });

  test('KEDA scalers (when present) watch BullMQ wait lists under the configured REDIS_PREFIX', () => {
    const prefix = byName(objects(), 'ConfigMap', 'tollgate-config')!.data!['REDIS_PREFIX'];
    const queues: Record<string, string[]> = {
      'ai-proxy-worker': ['ai-completions'],
      'image-pipeline-worker': ['image-jobs'],
      'webhook-worker': ['webhook-events', 'webhook-deliveries'],
    };
    for (const so of of(objects(), 'ScaledObject')) {
      const lists = so.spec.triggers.filter((t: any) => t.type === 'redis').map((t: any) => t.metadata.listName);
      expect(lists).toEqual((queues[so.metadata.name] ?? ['?']).map((q) => `${prefix}:${q}:wait`));
      for (const t of so.spec.triggers) expect(byName(objects(), 'TriggerAuthentication', t.authenticationRef.name)).toBeDefined();
    }
  });
});

test('prod runs two or more replicas of every API and wires monitoring and KEDA; dev runs one of each', () => {
  const prod = rendered['prod']!;
  const dev = rendered['dev']!;
  for (const s of SERVICES) {
    expect([s.name, byName(prod, 'Deployment', s.name)!.spec.replicas >= 2]).toEqual([s.name, true]);
    expect([s.name, byName(dev, 'Deployment', s.name)!.spec.replicas]).toEqual([s.name, 1]);
  }
  expect(of(prod, 'ServiceMonitor')).toHaveLength(1);
  expect(of(prod, 'ScaledObject').length).toBeGreaterThan(0);
  expect(
    of(dev, 'StatefulSet')
      .map((s) => s.metadata.name)
      .sort(),
  ).toEqual(['postgres', 'redis']);
});

describe('configuration reaches each service as its config schema expects', () => {
  const { parseConfig } = require('@tollgate/common') as typeof import('@tollgate/common');
  const schemaOf = (service: string) => {
    return require(`${REPO}/services/${service}/src/config.ts`).configSchema;
  };

  /** The environment a container gets: envFrom ConfigMaps and Secrets, then env (which wins). */
  function containerEnv(objects: K8sObject[], container: any, extraSecrets: K8sObject[] = []): Record<string, string> {
    const env: Record<string, string> = {};
    for (const from of container.envFrom ?? []) {
      if (from.configMapRef) Object.assign(env, byName(objects, 'ConfigMap', from.configMapRef.name)?.data);
      if (from.secretRef) {
        const secret = byName([...objects, ...extraSecrets], 'Secret', from.secretRef.name);
        Object.assign(
          env,
          secret?.stringData,
          Object.fromEntries(Object.entries(secret?.data ?? {}).map(([k, v]) => [k, Buffer.from(String(v), 'base64').toString('utf8')])),
        );
      }
    }
    for (const e of container.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
    return env;
  }

  test('dev: every Deployment and migration container gets a valid configuration', () => {
    const objects = rendered['dev']!;
    const containers = [
      ...of(objects, 'Deployment').map((d) => [d.metadata.labels!['app.kubernetes.io/name']!, d.spec.template.spec.containers[0]] as const),
      ...byName(objects, 'Job', 'tollgate-migrate')!.spec.template.spec.containers.map((c: any) => [c.name, c] as const),
    ];
    expect(containers.length).toBe(11 + 6);
    for (const [service, container] of containers) {
      const config = parseConfig(schemaOf(service), containerEnv(objects, container));
      expect([service, config.DATABASE_URL]).toEqual([service, 'postgres://tollgate:dev-only-postgres-password@postgres:5432/tollgate']);
    }
  });

  test("prod: the example Secrets' placeholders are refused at start-up, so they can never run a production pod", () => {
    const objects = rendered['prod']!;
    const examples = parseYamlStream(readFileSync(`${REPO}/k8s/base/secrets.example.yaml`, 'utf8'));
    for (const d of of(objects, 'Deployment')) {
      const service = d.metadata.labels!['app.kubernetes.io/name']!;
      expect(() => parseConfig(schemaOf(service), containerEnv(objects, d.spec.template.spec.containers[0], examples))).toThrow(
        /INTERNAL_JWT_SECRET is a placeholder or a development default/,
      );
    }
  });
});
