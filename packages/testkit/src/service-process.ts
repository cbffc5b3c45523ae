import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { TEST_INTERNAL_SECRET } from './identity';
import { freePort, type MeshServiceName, waitReady } from './mesh';

const ROOT = path.resolve(__dirname, '../../..');

export interface ServiceProcess {
  url: string;
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the exit signal (or code) once the process has ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL, then wait for the exit. */
  kill(): Promise<void>;
}

/**
 * One service's real entry point (`services/<name>/dist/main.js`, as `npm start` runs it) in its
 * own process on a free port, for tests that must kill it at a chosen moment (crash tests).
 * `env` supplies its schema, prefix and whatever else the test needs; it is waited for until
 * ready (`/readyz`) unless `waitReady` is false.
 */
export async function spawnServiceProcess(
  name: MeshServiceName,
  env: Record<string, string>,
  options: {
    args?: string[];
    readyTimeoutMs?: number;
    /** false: return at once (a worker that may die before it would answer). */ waitReady?: boolean;
  } = {},
): Promise<ServiceProcess> {
  const main = path.join(ROOT, 'services', name, 'dist', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: build first (npm test builds every service)`);
  const port = await freePort();
  const child = spawn(process.execPath, [main, ...(options.args ?? [])], {
    cwd: path.join(ROOT, 'services', name),
    env: {
      PATH: process.env['PATH'] ?? '',
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: String(port),
      INTERNAL_JWT_SECRET: TEST_INTERNAL_SECRET,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let printed = '';
  child.stdout!.on('data', (d: Buffer) => (printed += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (printed += d.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = `http://127.0.0.1:${port}`;
  if (options.waitReady !== false)
    try {
      await Promise.race([
        waitReady(url, options.readyTimeoutMs ?? 30_000),
        exited.then(({ code, signal }) => {
          throw new Error(`${name} exited (${signal ?? code}) before it was ready`);
        }),
      ]);
    } catch (err) {
      child.kill('SIGKILL');
      throw new Error(`${(err as Error).message}\n${printed}`);
    }
  return {
    url,
    child,
    output: () => printed,
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
