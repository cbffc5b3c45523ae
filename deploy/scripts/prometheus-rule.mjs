#!/usr/bin/env node
// Writes k8s/components/observability/prometheusrule.yaml from deploy/prometheus/alerts.yml, so
// compose's Prometheus and the Prometheus operator load the same rules. Run after editing
// alerts.yml; deploy/test/prometheus-rules.test.ts fails while the two differ.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const RULES_FILE = path.join(ROOT, 'deploy/prometheus/alerts.yml');
export const PROMETHEUS_RULE_FILE = path.join(ROOT, 'k8s/components/observability/prometheusrule.yaml');

export function prometheusRule() {
  const { groups } = parse(readFileSync(RULES_FILE, 'utf8'));
  const object = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'tollgate', labels: { 'app.kubernetes.io/part-of': 'tollgate' } },
    spec: { groups },
  };
  return `# Generated from deploy/prometheus/alerts.yml by deploy/scripts/prometheus-rule.mjs — edit that file, then run this script.\n${stringify(object, { lineWidth: 0 })}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(PROMETHEUS_RULE_FILE, prometheusRule());
  process.stderr.write(`wrote ${path.relative(process.cwd(), PROMETHEUS_RULE_FILE)}\n`);
}
