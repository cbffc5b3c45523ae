import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { REPO } from './repo';

export const RULES_FILE = path.join(REPO, 'deploy/prometheus/alerts.yml');
export const RULES_TEST_FILE = path.join(REPO, 'deploy/prometheus/alerts.test.yml');
export const DASHBOARD_FILE = path.join(REPO, 'deploy/grafana/tollgate.json');

export interface Rule {
  record?: string;
  alert?: string;
  expr: string;
}

export function rules(): Rule[] {
  const { groups } = parse(readFileSync(RULES_FILE, 'utf8')) as { groups: { rules: Rule[] }[] };
  return groups.flatMap((g) => g.rules);
}

export const alertNames = (): string[] => rules().flatMap((r) => (r.alert ? [r.alert] : []));

// PromQL words that look like series names.
const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'inf', 'nan', 'atan2']);

/**
 * The series names a PromQL expression reads: label matchers, strings, ranges and grouping
 * clauses removed, then every identifier that is not a function call or a keyword.
 */
export function seriesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+\w+/g, ' ')
    .replace(/\$\w+/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    if (m[2] || KEYWORDS.has(m[1]!.toLowerCase()) || /^\d/.test(m[1]!)) continue;
    names.add(m[1]!);
  }
  return [...names];
}

/** Every PromQL expression of the dashboard's panels (targets[].expr, also in rows and templating). */
export function dashboardExprs(): { panel: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as { panels: any[]; templating?: { list?: any[] } };
  const out: { panel: string; expr: string }[] = [];
  const walk = (panels: any[]) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ panel: p.title, expr: t.expr });
      if (p.panels) walk(p.panels);
    }
  };
  walk(dashboard.panels);
  for (const v of dashboard.templating?.list ?? []) {
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    if (v.type === 'query' && q) out.push({ panel: `variable ${v.name}`, expr: q.replace(/^label_values\((.*),\s*\w+\)$/, '$1') });
  }
  return out;
}

/** Series Prometheus makes itself, not exported by any service. */
export const PROMETHEUS_SERIES = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);

/**
 * Every exported series name the alerts and the dashboard read, with where: recorded series are
 * replaced by the series their rule reads.
 */
export function referencedSeries(): Map<string, string[]> {
  const recorded = new Map(rules().flatMap((r) => (r.record ? [[r.record, r.expr] as const] : [])));
  const refs = new Map<string, string[]>();
  const add = (name: string, where: string, seen = new Set<string>()) => {
    const rule = recorded.get(name);
    if (rule !== undefined) {
      if (seen.has(name)) return;
      seen.add(name);
      for (const inner of seriesIn(rule)) add(inner, `${where} via ${name}`, seen);
      return;
    }
    if (PROMETHEUS_SERIES.has(name)) return;
    refs.set(name, [...(refs.get(name) ?? []), where]);
  };
  for (const r of rules()) for (const name of seriesIn(r.expr)) add(name, r.alert ? `alert ${r.alert}` : `rule ${r.record}`);
  for (const { panel, expr } of dashboardExprs()) for (const name of seriesIn(expr)) add(name, `panel "${panel}"`);
  return refs;
}

/** The series names a /metrics text exposes: samples, and declared families (a labelled counter may have no sample yet). */
export function exposedSeries(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\w+)/.exec(line);
    if (type) {
      names.add(type[1]!);
      if (type[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${type[1]}${s}`);
      if (type[2] === 'summary') for (const s of ['_sum', '_count']) names.add(`${type[1]}${s}`);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (sample) names.add(sample[1]!);
  }
  return names;
}
