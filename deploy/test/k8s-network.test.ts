// NetworkPolicies allow exactly the paths of docs/architecture.md and nothing else. The rendered policies
// are evaluated (Kubernetes semantics: isolation per direction, selectors, named ports, ipBlock
// with except) over every pair of workloads and a set of outside peers, and the allowed edges
// must equal the expected list.
import { type K8sObject, OVERLAYS, renderAllOverlays } from './helpers/k8s';
import { inCidr, NetworkPolicyModel, type Peer, workloadPeers } from './helpers/netpol';
import { SERVICES } from './helpers/repo';

let rendered: Record<string, K8sObject[]>;
beforeAll(() => {
  rendered = renderAllOverlays();
});

const tcp = (...ports: number[]) => ports.map((port) => ({ port, protocol: 'TCP' as const }));

/** Everything outside the namespace a policy could name. */
const OUTSIDE: Peer[] = [
  { name: 'ingress-controller', namespace: 'ingress-nginx', labels: { 'app.kubernetes.io/name': 'ingress-nginx' }, ports: [] },
  {
    name: 'kube-dns',
    namespace: 'kube-system',
    labels: { 'k8s-app': 'kube-dns' },
    ports: [
      { port: 53, protocol: 'UDP' },
      { port: 53, protocol: 'TCP' },
    ],
  },
  { name: 'kube-system-other', namespace: 'kube-system', labels: { app: 'metrics-server' }, ports: tcp(443, 53) },
  { name: 'prometheus', namespace: 'monitoring', labels: { 'app.kubernetes.io/name': 'prometheus' }, ports: [] },
  {
    name: 'otel-collector',
    namespace: 'monitoring',
    labels: { 'app.kubernetes.io/name': 'opentelemetry-collector' },
    ports: tcp(4317, 4318),
  },
  { name: 'monitoring-other', namespace: 'monitoring', labels: { 'app.kubernetes.io/name': 'grafana' }, ports: tcp(3000, 4318) },
  { name: 'other-namespace-pod', namespace: 'default', labels: { app: 'something-else' }, ports: tcp(80, 443, 5432, 6379, 8080) },
  { name: 'internet', ip: '93.184.216.34', ports: tcp(22, 80, 443, 5432, 6379, 8080) },
  { name: 'cloud-metadata', ip: '169.254.169.254', ports: tcp(80) },
  { name: 'private-host', ip: '192.168.1.10', ports: tcp(80, 443, 5432, 6379) },
  { name: 'cluster-network', ip: '10.96.0.10', ports: tcp(80, 443, 53) },
  // The documentation-only CIDRs of overlays/prod/managed-datastores.yaml.
  { name: 'managed-postgres', ip: '10.10.0.5', ports: tcp(5432, 6379) },
  { name: 'managed-redis', ip: '10.10.1.5', ports: tcp(5432, 6379) },
];

const ALL_SERVICE_PODS = SERVICES.flatMap((s) => (s.worker ? [s.name, `${s.name}-worker`] : [s.name]));
const pods = (service: string) => ALL_SERVICE_PODS.filter((p) => p === service || p === `${service}-worker`);

function expectedEdges(overlay: string, workloads: Peer[]): string[] {
  const names = workloads.map((w) => w.name);
  const inCluster = names.includes('postgres');
  const postgres = inCluster ? 'postgres' : 'managed-postgres';
  const redis = inCluster ? 'redis' : 'managed-redis';
  const edges: string[] = ['ingress-controller -> edge-gateway:8080/TCP'];
  for (const s of SERVICES) if (s.name !== 'edge-gateway') edges.push(`edge-gateway -> ${s.name}:${s.port}/TCP`);
  for (const p of pods('ai-proxy')) edges.push(`${p} -> credits:8082/TCP`);
  for (const p of pods('image-pipeline')) edges.push(`${p} -> credits:8082/TCP`, `${p} -> upload:8083/TCP`);
  for (const p of [...ALL_SERVICE_PODS, 'tollgate-migrate']) edges.push(`${p} -> ${postgres}:5432/TCP`);
  for (const p of ALL_SERVICE_PODS) edges.push(`${p} -> ${redis}:6379/TCP`);
  for (const p of names) edges.push(`${p} -> kube-dns:53/UDP`, `${p} -> kube-dns:53/TCP`);
  for (const p of [...pods('ai-proxy'), ...pods('webhook')]) edges.push(`${p} -> internet:80/TCP`, `${p} -> internet:443/TCP`);
  if (overlay === 'prod') {
    // Prometheus reaches only the metrics port (METRICS_PORT), not the API one.
    for (const p of ALL_SERVICE_PODS) edges.push(`prometheus -> ${p}:9464/TCP`, `${p} -> otel-collector:4318/TCP`);
  }
  return edges.sort();
}

describe.each(OVERLAYS)('overlay %s', (overlay) => {
  test('allows exactly the docs/architecture.md paths (plus DNS, and in prod metrics and traces)', () => {
    const objects = rendered[overlay]!;
    const workloads = workloadPeers(objects, 'tollgate');
    const model = new NetworkPolicyModel(objects, 'tollgate');
    expect(model.edges([...workloads, ...OUTSIDE])).toEqual(expectedEdges(overlay, workloads));
  });

  test('starts from default deny in both directions for every pod', () => {
    const denyAll = rendered[overlay]!.filter(
      (o) => o.kind === 'NetworkPolicy' && Object.keys(o.spec.podSelector ?? {}).length === 0 && !o.spec.ingress && !o.spec.egress,
    );
    expect(denyAll.map((p) => [...p.spec.policyTypes].sort())).toEqual([['Egress', 'Ingress']]);
  });
});

describe('the policy model itself', () => {
  const pod = (name: string, labels: Record<string, string>, ports: Peer['ports'] = tcp(80)): Peer => ({
    name,
    namespace: 'ns',
    labels,
    ports,
  });
  const policy = (name: string, spec: any): K8sObject => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace: 'ns' },
    spec,
  });

  test('a namespace without policies allows everything; default deny allows nothing', () => {
    const a = pod('a', { app: 'a' });
    const b = pod('b', { app: 'b' });
    expect(new NetworkPolicyModel([], 'ns').edges([a, b])).toEqual(['a -> b:80/TCP', 'b -> a:80/TCP']);
    expect(new NetworkPolicyModel([policy('deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })], 'ns').edges([a, b])).toEqual(
      [],
    );
  });

  test("traffic needs both the sender's egress and the receiver's ingress", () => {
    const a = pod('a', { app: 'a' });
    const b = pod('b', { app: 'b' }, [{ port: 8080, name: 'http', protocol: 'TCP' }]);
    const deny = policy('deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    const egress = policy('a-out', {
      podSelector: { matchLabels: { app: 'a' } },
      policyTypes: ['Egress'],
      egress: [{ to: [{ podSelector: { matchLabels: { app: 'b' } } }], ports: [{ port: 8080 }] }],
    });
    const ingress = policy('b-in', {
      podSelector: { matchLabels: { app: 'b' } },
      policyTypes: ['Ingress'],
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'a' } } }], ports: [{ port: 'http' }] }],
    });
    expect(new NetworkPolicyModel([deny, egress], 'ns').edges([a, b])).toEqual([]);
    expect(new NetworkPolicyModel([deny, ingress], 'ns').edges([a, b])).toEqual([]);
    expect(new NetworkPolicyModel([deny, egress, ingress], 'ns').edges([a, b])).toEqual(['a -> b:8080/TCP']);
  });

  test('ipBlock except carves out ranges', () => {
    expect(inCidr('10.1.2.3', '0.0.0.0/0')).toBe(true);
    expect(inCidr('10.1.2.3', '10.0.0.0/8')).toBe(true);
    expect(inCidr('11.1.2.3', '10.0.0.0/8')).toBe(false);
    expect(inCidr('10.1.2.3', '::/0')).toBe(false);
  });
});
