// The shared shape of the opt-in suites (`npm run load`, `npm run fault`): flags, infra, build,
// one jest file on a fresh mesh, the exit code.
import { ensureInfra, stopPrivateInstances } from './infra.mjs';
import { ensureInstalled, jest, pnpm } from './pnpm.mjs';

/** `--key=value` and bare `--flag` (true) into an object. */
export function parseArgs(argv) {
  return Object.fromEntries(
    argv.map((a) => {
      const [k, v] = a.replace(/^--/, '').split('=');
      return [k, v ?? 'true'];
    }),
  );
}

/**
 * Installs what is missing, makes sure PostgreSQL and Redis answer (private instances if none
 * does), builds the services, runs `testFile` through jest with `env` on top of the test
 * database and Redis settings, and exits 0 only if it passed.
 */
export async function runOptInSuite({ name, testFile, env: suiteEnv }) {
  try {
    ensureInstalled();
    const infra = await ensureInfra({
      databaseUrl: process.env.TEST_DATABASE_URL ?? 'postgres://localhost:5432/tollgate_test',
      redisUrl: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    });
    const env = {
      ...process.env,
      TEST_DATABASE_URL: infra.databaseUrl.replace(/\/tollgate$/, '/tollgate_test'),
      TEST_REDIS_URL: infra.redisUrl,
      NODE_ENV: 'test',
      ...suiteEnv,
    };
    pnpm(['exec', 'turbo', 'run', 'build', '--output-logs=errors-only'], { env });
    const code = jest([testFile, '--runInBand'], { env });
    stopPrivateInstances();
    process.exit(code === 0 ? 0 : 1);
  } catch (err) {
    console.error(`${name} failed: ${err.message}`);
    process.exit(1);
  }
}
