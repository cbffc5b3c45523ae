// Runs the pinned pnpm: the one on PATH when it is that version, else through npx (corepack
// fails its signature check on this Node, so we don't use it).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PINNED = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).packageManager.split('@')[1];

let command;
function pnpmCommand() {
  if (command) return command;
  const probe = spawnSync('pnpm', ['--version'], { encoding: 'utf8' });
  command = probe.status === 0 && probe.stdout.trim() === PINNED ? ['pnpm'] : ['npx', '-y', `pnpm@${PINNED}`];
  return command;
}

/** Run pnpm with inherited stdio; exits the process with pnpm's code on failure. */
export function pnpm(args, { exitOnFailure = true, env = process.env } = {}) {
  const [bin, ...pre] = pnpmCommand();
  const result = spawnSync(bin, [...pre, ...args], { cwd: ROOT, stdio: 'inherit', env: { ...env, npm_config_update_notifier: 'false', TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' } });
  if (result.status !== 0 && exitOnFailure) {
    console.error(`pnpm ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
    process.exit(result.status ?? 1);
  }
  return result.status ?? 1;
}

/**
 * jest with `args`, through pnpm. Some dependencies ship only ES modules (kysely from 0.29): the
 * compiled services load them with require() (Node ≥ 22.12), and jest (30.4+, on Node ≥ 24.9)
 * does the same in its module registry when Node runs with --experimental-vm-modules. A flag on
 * jest's own process (its workers inherit it), not NODE_OPTIONS, so services the tests spawn
 * run exactly as in production.
 */
export function jest(args, options = {}) {
  return pnpm(['exec', 'node', '--experimental-vm-modules', path.join(ROOT, 'node_modules/jest/bin/jest.js'), ...args], { exitOnFailure: false, ...options });
}

/** Install from the lockfile; quick when everything is already there. */
export function ensureInstalled() {
  pnpm(['install', '--frozen-lockfile', '--prefer-offline', '--reporter=silent']);
}
