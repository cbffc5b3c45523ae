// Every overlay renders with kustomize, and every rendered object is valid for its apiVersion:
// against the Kubernetes (and KEDA / Prometheus-operator CRD) schemas, and with no field the
// API server would reject under strict field validation.
import { id, type K8sObject, OVERLAYS, renderAllOverlays } from './helpers/k8s';
import { UnknownFieldChecker, validateSchema } from './helpers/k8s-schema';

let rendered: Record<string, K8sObject[]>;
let fields: UnknownFieldChecker;

beforeAll(() => {
  rendered = renderAllOverlays();
  fields = new UnknownFieldChecker(Object.values(rendered).flat());
});

test('there are dev and prod overlays', () => {
  expect(OVERLAYS).toEqual(expect.arrayContaining(['dev', 'prod']));
});

describe.each(OVERLAYS)('overlay %s', (overlay) => {
  test('renders objects with unique kind/name', () => {
    const objects = rendered[overlay]!;
    expect(objects.length).toBeGreaterThan(40);
    const ids = objects.map(id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  test('every object validates against the schema of its apiVersion', () => {
    const failures: string[] = [];
    for (const object of rendered[overlay]!) {
      try {
        validateSchema(object);
      } catch (err) {
        failures.push(`${id(object)}: ${(err as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
  });

  test('no object has a field its type does not declare', () => {
    const unknown = rendered[overlay]!.flatMap((o) => fields.unknownFields(o).map((f) => `${id(o)}: ${f}`));
    expect(unknown).toEqual([]);
  });

  test('every namespaced object lands in the tollgate namespace', () => {
    const outside = rendered[overlay]!.filter((o) => o.kind !== 'Namespace' && o.metadata.namespace !== 'tollgate').map(id);
    expect(outside).toEqual([]);
  });
});

describe('the validators themselves', () => {
  const deployment = (container: Record<string, unknown>): K8sObject => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'x' },
    spec: {
      selector: { matchLabels: { a: 'b' } },
      template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i:1', ...container }] } },
    },
  });

  test('reject a wrongly typed field', () => {
    expect(() => validateSchema(deployment({ ports: [{ containerPort: 'http' }] }))).toThrow(/containerPort/);
  });

  test('report a misspelt field, but not labels or other free-form maps', () => {
    const object = deployment({ readinesProbe: { httpGet: { path: '/readyz', port: 'http' } } });
    object.metadata.labels = { anything: 'goes' };
    expect(fields.unknownFields(object)).toEqual(['spec.template.spec.containers[0].readinesProbe']);
  });

  test('reject a kind with no schema', () => {
    expect(() => validateSchema({ apiVersion: 'example.com/v1', kind: 'Nope', metadata: { name: 'x' } })).toThrow(/no schema/);
  });
});
