import { spawnSync } from 'node:child_process';

const which = (bin: string): string | undefined => {
  const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
};

/**
 * A Debian package's binary: on PATH, or installed with apt-get when we are root (as the
 * benchmarks install nginx and wrk). Otherwise `missing` says why, for the test to print.
 */
export function ensureDebianBinary(bin: string, pkg: string): { path: string } | { missing: string } {
  const found = which(bin);
  if (found) return { path: found };
  if (process.getuid?.() !== 0 || !which('apt-get')) return { missing: `${bin} is not installed and apt-get cannot install Debian's ${pkg} here (not root or no apt-get)` };
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  process.stderr.write(`${bin} is missing: installing Debian's ${pkg} ...\n`);
  let install = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', pkg], { stdio: 'ignore', env, timeout: 300_000 });
  if (install.status !== 0) {
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env, timeout: 300_000 });
    install = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', pkg], { stdio: 'ignore', env, timeout: 300_000 });
  }
  const after = which(bin);
  return after ? { path: after } : { missing: `${bin} is missing and installing Debian's ${pkg} failed (apt-get exit ${install.status})` };
}
