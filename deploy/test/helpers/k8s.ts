import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO } from './repo';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  [key: string]: any;
}

export const OVERLAYS = readdirSync(path.join(REPO, 'k8s/overlays'), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

export function parseYamlStream(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length) throw new Error(`YAML error: ${doc.errors[0]!.message}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

/** Renders every overlay through `pnpm k8s:render`'s script, exactly as a platform team would. */
export function renderAllOverlays(): Record<string, K8sObject[]> {
  const out = mkdtempSync(path.join(os.tmpdir(), 'tollgate-k8s-'));
  try {
    const result = spawnSync(process.execPath, [path.join(REPO, 'deploy/scripts/k8s-render.mjs'), '--out', out], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`k8s:render failed (exit ${result.status}):\n${result.stderr}`);
    return Object.fromEntries(
      OVERLAYS.map((overlay) => [overlay, parseYamlStream(readFileSync(path.join(out, `${overlay}.yaml`), 'utf8'))]),
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

export const id = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;

export interface PodTemplateOwner {
  owner: K8sObject;
  template: { metadata?: { labels?: Record<string, string> }; spec: any };
}

/** Every workload's pod template (Deployments, StatefulSets, Jobs). */
export function podTemplates(objects: K8sObject[]): PodTemplateOwner[] {
  return objects
    .filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(o.kind))
    .map((owner) => ({ owner, template: owner.spec.template }));
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

/** Kubernetes label-selector semantics; an empty selector selects everything. */
export function selects(selector: LabelSelector | undefined, labels: Record<string, string> = {}): boolean {
  if (!selector) return true;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const expr of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, expr.key);
    const value = labels[expr.key];
    switch (expr.operator) {
      case 'In':
        if (!has || !expr.values!.includes(value!)) return false;
        break;
      case 'NotIn':
        if (has && expr.values!.includes(value!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        throw new Error(`unknown selector operator ${String(expr.operator)}`);
    }
  }
  return true;
}
