// Every series an alert (deploy/prometheus/alerts.yml) or a dashboard panel
// (deploy/grafana/tollgate.json) reads is exported by some service of a live mesh — a renamed
// metric or a typo in a rule would otherwise leave an alert that can never fire.
import { MESH_SERVICES, type Mesh, startMesh } from '@tollgate/testkit';
import { dashboardExprs, exposedSeries, referencedSeries } from './helpers/metric-references';

jest.setTimeout(180_000);

let mesh: Mesh;
beforeAll(async () => {
  mesh = await startMesh();
});
afterAll(async () => {
  await mesh?.stop();
});

test('every series named by an alert or a dashboard panel is exported by the mesh', async () => {
  const exposed = new Map<string, string[]>();
  // The credits gauges of the reconciliation appear after its first run (at start-up).
  for (let attempt = 0; attempt < 50; attempt++) {
    exposed.clear();
    for (const s of MESH_SERVICES) {
      const res = await fetch(`${mesh.urls[s.name]}/metrics`);
      expect([s.name, res.status]).toEqual([s.name, 200]);
      for (const name of exposedSeries(await res.text())) exposed.set(name, [...(exposed.get(name) ?? []), s.name]);
    }
    if (exposed.has('credits_reconcile_ok')) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const referenced = referencedSeries();
  expect(referenced.size).toBeGreaterThan(25);
  const missing = [...referenced].filter(([name]) => !exposed.has(name)).map(([name, where]) => `${name} (${where.join(', ')})`);
  expect(missing).toEqual([]);
  // The shared series come from every service, not only from one.
  for (const name of ['db_pool_connections', 'db_pool_acquire_seconds_bucket', 'redis_up', 'http_requests_total'])
    expect([name, exposed.get(name)?.sort()]).toEqual([name, MESH_SERVICES.map((s) => s.name).sort()]);
  // Every queue a service consumes reports its depth.
  const text = await (await fetch(`${mesh.urls['webhook']}/metrics`)).text();
  expect(text).toMatch(/^bullmq_job_count\{queue="webhook-deliveries",state="waiting",service="webhook"\} \d+$/m);
});

test('the check is real: declared families count, a name nobody exports does not', () => {
  const exposition = [
    '# HELP a_total x',
    '# TYPE a_total counter',
    '# TYPE lat_seconds histogram',
    'lat_seconds_bucket{le="1",service="s"} 3',
    'g{service="s"} 1',
  ].join('\n');
  const exposed = exposedSeries(exposition);
  for (const name of ['a_total', 'lat_seconds_bucket', 'lat_seconds_count', 'g']) expect(exposed.has(name)).toBe(true);
  expect(exposed.has('tollgate_made_up_total')).toBe(false);
  expect(dashboardExprs().length).toBeGreaterThan(20);
});
