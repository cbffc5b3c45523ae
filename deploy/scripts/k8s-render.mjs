#!/usr/bin/env node
// `pnpm k8s:render [overlay...] [--out DIR | --stdout]`: renders each kustomize overlay in
// k8s/overlays (default: all of them) with `kubectl kustomize` (or a standalone `kustomize`),
// into DIR/<overlay>.yaml (default deploy/dist/k8s) or to stdout. Needs kustomize v5 or newer
// (components, inline patches, `labels`): kubectl 1.27+ embeds it.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const OVERLAYS_DIR = path.join(ROOT, 'k8s/overlays');

function fail(message) {
  process.stderr.write(`k8s:render: ${message}\n`);
  process.exit(1);
}

/** The kustomize to run: `kubectl kustomize` when kubectl embeds kustomize v5+, else `kustomize build`. */
export function findKustomize() {
  const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  if (kubectl.status === 0) {
    const major = Number(/Kustomize Version: v(\d+)/.exec(kubectl.stdout)?.[1] ?? 0);
    if (major >= 5) return ['kubectl', 'kustomize'];
  }
  const standalone = spawnSync('kustomize', ['version'], { encoding: 'utf8' });
  if (standalone.status === 0 && Number(/v(\d+)\./.exec(standalone.stdout)?.[1] ?? 0) >= 5) return ['kustomize', 'build'];
  return undefined;
}

export function render(overlay, kustomize = findKustomize()) {
  if (!kustomize) fail("needs kubectl 1.27+ (kustomize v5) or kustomize v5 on PATH; Debian bookworm's kubernetes-client 1.20 is too old");
  const [bin, ...args] = kustomize;
  const result = spawnSync(bin, [...args, path.join(OVERLAYS_DIR, overlay)], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) fail(`rendering ${overlay} failed:\n${result.stderr || result.error?.message}`);
  return result.stdout;
}

function main(argv) {
  const toStdout = argv.includes('--stdout');
  const outIndex = argv.indexOf('--out');
  const outDir = outIndex >= 0 ? path.resolve(argv[outIndex + 1] ?? fail('--out needs a directory')) : path.join(ROOT, 'deploy/dist/k8s');
  const known = readdirSync(OVERLAYS_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  const named = argv.filter((a, i) => !a.startsWith('--') && argv[i - 1] !== '--out');
  for (const overlay of named) if (!known.includes(overlay)) fail(`no overlay ${overlay} (known: ${known.join(', ')})`);
  const overlays = named.length ? named : known;
  const kustomize = findKustomize();
  if (!toStdout) mkdirSync(outDir, { recursive: true });
  for (const overlay of overlays) {
    const yaml = render(overlay, kustomize);
    if (toStdout) {
      process.stdout.write(`# --- overlay: ${overlay}\n${yaml}`);
    } else {
      const file = path.join(outDir, `${overlay}.yaml`);
      writeFileSync(file, yaml);
      const objects = yaml.split(/^---$/m).filter((doc) => /^kind:/m.test(doc)).length;
      process.stderr.write(`k8s:render: ${overlay}: ${objects} objects → ${path.relative(process.cwd(), file) || file}\n`);
    }
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
