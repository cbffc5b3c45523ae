// The alert and recording rules: valid for Prometheus, every alert unit-tested with promtool
// (deploy/prometheus/alerts.test.yml: fires on its case, stays quiet on a nearby one), loaded by
// compose's Prometheus and identical in the Kubernetes PrometheusRule, and explained in
// docs/operations.md. That the series they read exist is checked against the live mesh in
// metrics-exist.test.ts.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ensureDebianBinary } from './helpers/debian';
import { alertNames, RULES_FILE, RULES_TEST_FILE, rules, seriesIn } from './helpers/metric-references';
import { REPO } from './helpers/repo';

const promtool = ensureDebianBinary('promtool', 'prometheus');
if ('missing' in promtool) {
  // Said once, loudly; jest also reports the two tests below as skipped, never as passed.
  process.stderr.write(`\nSKIPPED promtool tests: ${promtool.missing}\n\n`);
}
const withPromtool = 'path' in promtool ? test : test.skip;

function run(args: string[]) {
  const bin = 'path' in promtool ? promtool.path : 'promtool';
  return spawnSync(bin, args, { cwd: path.dirname(RULES_FILE), encoding: 'utf8', timeout: 120_000 });
}

withPromtool('promtool check rules: the rule file is valid', () => {
  const result = run(['check', 'rules', RULES_FILE]);
  expect(`${result.stdout}${result.stderr}`).toMatch(/SUCCESS/);
  expect(result.status).toBe(0);
});

withPromtool('promtool test rules: every unit test in alerts.test.yml passes', () => {
  const result = run(['test', 'rules', RULES_TEST_FILE]);
  if (result.status !== 0) throw new Error(`promtool test rules failed:\n${result.stdout}${result.stderr}`);
  expect(result.stdout).toMatch(/SUCCESS/);
});

test('every alert has a unit test that fires it and is explained in docs/operations.md', () => {
  const tests = (parse(readFileSync(RULES_TEST_FILE, 'utf8')) as { tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[] }).tests;
  const fired = new Set(tests.flatMap((t) => (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
  const doc = readFileSync(path.join(REPO, 'docs/operations.md'), 'utf8');
  const names = alertNames();
  expect(names.length).toBeGreaterThanOrEqual(20);
  expect(names.filter((n) => !fired.has(n))).toEqual([]);
  expect(names.filter((n) => !new RegExp(`^#{2,4} ${n}$`, 'm').test(doc))).toEqual([]);
  // and the runbook link each alert carries points at that section
  for (const r of rules()) if (r.alert) expect((r as unknown as { annotations: { runbook: string } }).annotations.runbook).toBe(`docs/operations.md#${r.alert.toLowerCase()}`);
});

test('every alert has a severity the routing understands', () => {
  for (const r of rules() as (ReturnType<typeof rules>[number] & { labels?: { severity?: string } })[]) {
    if (r.alert) expect([r.alert, r.labels?.severity]).toEqual([r.alert, expect.stringMatching(/^(critical|warning|info)$/)]);
  }
});

test('compose Prometheus loads the rule file; the Kubernetes PrometheusRule holds the same groups', () => {
  const prometheus = parse(readFileSync(path.join(REPO, 'deploy/prometheus.yml'), 'utf8')) as { rule_files: string[] };
  const compose = parse(readFileSync(path.join(REPO, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { volumes?: string[] }> };
  for (const file of prometheus.rule_files) {
    expect(compose.services['prometheus']!.volumes).toContain(`./deploy/prometheus/alerts.yml:${file}:ro`);
  }
  const rule = parse(readFileSync(path.join(REPO, 'k8s/components/observability/prometheusrule.yaml'), 'utf8')) as { kind: string; spec: { groups: unknown } };
  expect(rule.kind).toBe('PrometheusRule');
  // Differs after an edit of alerts.yml: run `node deploy/scripts/prometheus-rule.mjs`.
  expect(rule.spec.groups).toEqual((parse(readFileSync(RULES_FILE, 'utf8')) as { groups: unknown }).groups);
  const kustomization = readFileSync(path.join(REPO, 'k8s/components/observability/kustomization.yaml'), 'utf8');
  expect(kustomization).toMatch(/^\s+- prometheusrule\.yaml$/m);
});

test('series names are read out of PromQL, not labels, functions or keywords', () => {
  expect(seriesIn('sum by (service) (rate(http_requests_total{status=~"5.."}[5m])) / on(service) x:y:z offset 5m > 0.1 and absent(up)').sort()).toEqual(
    ['http_requests_total', 'up', 'x:y:z'].sort(),
  );
  expect(seriesIn('histogram_quantile(0.99, sum by (le) (rate(a_bucket[5m])))')).toEqual(['a_bucket']);
});
