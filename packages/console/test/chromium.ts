import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium'];
const found = () => [process.env['CHROMIUM_PATH'], ...CANDIDATES].find((p): p is string => !!p && existsSync(p));

/**
 * Debian's chromium: found, or installed with apt-get when we are root (as the benchmarks install
 * nginx and wrk). Playwright's own browser download is not used: it is not in a registry.
 */
export function ensureChromium(): string {
  const have = found();
  if (have) return have;
  if (process.getuid?.() !== 0 || spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('Chromium is missing: install Debian\'s chromium package (apt-get install chromium) or set CHROMIUM_PATH');
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  process.stderr.write('chromium is missing: installing Debian\'s chromium ...\n');
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  const installed = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], { stdio: 'inherit', env });
  const path = found();
  if (installed.status !== 0 || !path) throw new Error('apt-get install chromium failed (see above)');
  return path;
}
