// deploy/Dockerfile: static rules (pinned slim Node base, pinned tools, non-root, tini, a
// HEALTHCHECK, nothing secret), then the real thing for one service: its prune and build stages'
// commands run outside Docker on the build context .dockerignore lets through, the runtime stage's
// files are assembled, and the runtime's own commands (`node migrate.js`, then ENTRYPOINT+CMD,
// HEALTHCHECK, `--role=worker`) run against the local Postgres and Redis.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { parseConfig } from '@tollgate/common';
import { createTestEnv, freePort, type TestEnv } from '@tollgate/testkit';
import { copyContext, dockerignoreMatcher, parseDockerfile } from './helpers/dockerfile';
import { type SimulatedStage, simulateDockerBuild } from './helpers/docker-sim';
import { REPO, SERVICES } from './helpers/repo';

const dockerfile = parseDockerfile(readFileSync(path.join(REPO, 'deploy/Dockerfile'), 'utf8'));
const stage = (name: string) => dockerfile.stages.find((s) => s.name === name)!;
const argDefault = (stageName: string, arg: string) =>
  stage(stageName)
    .instructions.find((i) => i.keyword === 'ARG' && i.rest.startsWith(`${arg}=`))
    ?.rest.split('=')[1];
const PINNED_PNPM = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')).packageManager.split('@')[1] as string;
const LOCKED_TURBO = JSON.parse(readFileSync(path.join(REPO, 'node_modules/turbo/package.json'), 'utf8')).version as string;

describe('Dockerfile rules', () => {
  test('stages: toolchain → prune → build → runtime, with a SERVICE build argument', () => {
    expect(dockerfile.stages.map((s) => s.name)).toEqual(['toolchain', 'prune', 'build', 'runtime']);
    for (const name of ['prune', 'build', 'runtime'])
      expect(stage(name).instructions.some((i) => i.keyword === 'ARG' && i.rest === 'SERVICE')).toBe(true);
  });

  test('the base is Node slim on Debian trixie, pinned to the exact Node in .nvmrc (no digest we have not seen)', () => {
    const image = dockerfile.globalArgs['NODE_IMAGE']!;
    const pinned = readFileSync(path.join(REPO, '.nvmrc'), 'utf8').trim();
    expect(pinned).toMatch(/^24\.\d+\.\d+$/);
    expect(image).toBe(`node:${pinned}-trixie-slim`);
    // The tests run the runtime commands on this machine's Node (npm test switches to the .nvmrc
    // Node when the installed one is older): never an older release line than the image's.
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(Number(pinned.split('.')[0]));
    expect(stage('runtime').from).toBe('${NODE_IMAGE}');
    expect(stage('toolchain').from).toBe('${NODE_IMAGE}');
  });

  test('pnpm and turbo are the versions this repository pins', () => {
    expect(argDefault('toolchain', 'PNPM_VERSION')).toBe(PINNED_PNPM);
    expect(argDefault('toolchain', 'TURBO_VERSION')).toBe(LOCKED_TURBO);
  });

  test('the build is turbo prune → pnpm fetch → offline install → build (service + runtime workspace deps) → pnpm deploy --prod', () => {
    const runs = [...stage('prune').instructions, ...stage('build').instructions].filter((i) => i.keyword === 'RUN').map((i) => i.rest);
    const order = [
      /turbo prune "@tollgate\/\$\{SERVICE\}" --docker/,
      /pnpm fetch --frozen-lockfile/,
      /pnpm install --offline --frozen-lockfile/,
      /pnpm --filter-prod "@tollgate\/\$\{SERVICE\}\.\.\." run build/,
      /deploy --prod --offline --config.inject-workspace-packages=true deployed/,
    ];
    expect(order.map((re) => runs.findIndex((r) => re.test(r)))).toEqual([0, 1, 2, 3, 4]);
  });

  test('runtime: non-root numeric user, tini as PID 1, a HEALTHCHECK, the service as CMD, production mode', () => {
    const ins = stage('runtime').instructions;
    const last = (k: string) => ins.filter((i) => i.keyword === k).at(-1)?.rest;
    expect(last('USER')).toMatch(/^[1-9]\d*:[1-9]\d*$/);
    expect(JSON.parse(last('ENTRYPOINT')!)).toEqual(['/usr/bin/tini', '--']);
    expect(ins.find((i) => i.keyword === 'RUN')!.rest).toMatch(/apt-get install .*\btini\b/);
    expect(JSON.parse(last('CMD')!)).toEqual(['node', 'dist/main.js']);
    expect(last('HEALTHCHECK')).toMatch(/CMD \["node", "healthcheck.js"\]$/);
    expect(last('ENV')).toMatch(/NODE_ENV=production/);
    // Only compiled output and production node_modules from the build, and the two runtime scripts.
    const copies = ins.filter((i) => i.keyword === 'COPY').map((i) => `${i.flags['from'] ?? 'context'} ${i.rest}`);
    expect(copies).toEqual([
      'build /repo/deployed/package.json ./package.json',
      'build /repo/deployed/node_modules ./node_modules',
      'build /repo/deployed/dist ./dist',
      'context deploy/runtime/healthcheck.js deploy/runtime/migrate.js ./',
    ]);
  });

  test('no secret is baked in: no secret-like ARG or ENV, and .dockerignore keeps local state and keys out of the context', () => {
    for (const s of dockerfile.stages) {
      for (const i of s.instructions.filter((x) => x.keyword === 'ARG' || x.keyword === 'ENV'))
        expect(i.rest).not.toMatch(/SECRET|TOKEN|PASSWORD|API_KEY|PRIVATE/i);
    }
    const ignored = dockerignoreMatcher(readFileSync(path.join(REPO, '.dockerignore'), 'utf8'));
    for (const p of [
      '.git/config',
      '.data/admin-token',
      '.env',
      'services/credits/.env',
      'node_modules/x',
      'services/credits/node_modules/x',
      'services/credits/dist/main.js',
      'key.pem',
    ])
      expect([p, ignored(p)]).toEqual([p, true]);
    for (const p of [
      'pnpm-lock.yaml',
      'pnpm-workspace.yaml',
      'package.json',
      'turbo.json',
      'tsconfig.base.json',
      'services/credits/src/main.ts',
      'packages/common/package.json',
      'deploy/runtime/migrate.js',
      'deploy/Dockerfile',
    ])
      expect([p, ignored(p)]).toEqual([p, false]);
  });

  test('.dockerignore matching follows Docker (** at any depth, last match wins, ! re-includes)', () => {
    const m = dockerignoreMatcher('**/dist\n*.md\n!README.md\nsecret/\n');
    expect(m('dist')).toBe(true);
    expect(m('a/b/dist/x.js')).toBe(true);
    expect(m('NOTES.md')).toBe(true);
    expect(m('README.md')).toBe(false);
    expect(m('docs/x.md')).toBe(false);
    expect(m('secret/key')).toBe(true);
  });

  test("healthcheck.js knows each service's default port, the one its config schema defaults to", () => {
    const { DEFAULT_PORTS } = require(path.join(REPO, 'deploy/runtime/healthcheck.js'));
    for (const s of SERVICES) {
      const { configSchema } = require(path.join(REPO, 'services', s.name, 'src/config.ts'));
      expect([s.name, DEFAULT_PORTS[s.name], parseConfig(configSchema, { ADMIN_TOKEN: 'x' }).PORT]).toEqual([s.name, s.port, s.port]);
    }
  });

  test('every service has what the runtime scripts load: dist/main.js (main), dist/config.js (loadConfig), dist/migrations (migrations)', () => {
    for (const s of SERVICES) {
      const dir = path.join(REPO, 'services', s.name);
      expect([s.name, JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).main]).toEqual([s.name, 'dist/main.js']);
      expect([s.name, /export const loadConfig\b/.test(readFileSync(path.join(dir, 'src/config.ts'), 'utf8'))]).toEqual([s.name, true]);
      expect([s.name, /export const migrations\b/.test(readFileSync(path.join(dir, 'src/migrations/index.ts'), 'utf8'))]).toEqual([
        s.name,
        true,
      ]);
    }
  });
});

describe('prune stage for every service', () => {
  test.each(SERVICES.map((s) => s.name))('%s: turbo prune keeps that service and its workspace packages only', (service) => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'tollgate-prune-'));
    try {
      const result = spawnSync('turbo', ['prune', `@tollgate/${service}`, '--docker', '--out-dir', out], {
        cwd: REPO,
        encoding: 'utf8',
        env: {
          ...process.env,
          PATH: `${path.join(REPO, 'node_modules/.bin')}${path.delimiter}${process.env['PATH']}`,
          TURBO_TELEMETRY_DISABLED: '1',
        },
      });
      expect(result.status).toBe(0);
      expect(readdirSync(path.join(out, 'json/services'))).toEqual([service]);
      expect(readdirSync(path.join(out, 'json/packages'))).toContain('common');
      for (const f of ['pnpm-lock.yaml', 'pnpm-workspace.yaml', 'json/package.json', `full/services/${service}/src/main.ts`])
        expect([f, existsSync(path.join(out, f))]).toEqual([f, true]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------

const SERVICE = process.env['DEPLOY_TEST_SERVICE'] ?? 'credits';

/** PATH with the pinned pnpm (a shim through npx when the one installed differs) and turbo. */
function toolPath(workDir: string): string {
  const dirs = [path.join(REPO, 'node_modules/.bin')];
  const installed = spawnSync('pnpm', ['--version'], { encoding: 'utf8' });
  if (installed.status !== 0 || installed.stdout.trim() !== PINNED_PNPM) {
    const shims = path.join(workDir, 'shims');
    mkdirSync(shims, { recursive: true });
    writeFileSync(path.join(shims, 'pnpm'), `#!/bin/sh\nexec npx -y pnpm@${PINNED_PNPM} "$@"\n`);
    chmodSync(path.join(shims, 'pnpm'), 0o755);
    dirs.unshift(shims);
  }
  return [...dirs, process.env['PATH']].join(path.delimiter);
}

describe(`image build and start, outside Docker (SERVICE=${SERVICE})`, () => {
  let workDir: string;
  let stages: Record<string, SimulatedStage>;
  let app: string;
  let env: TestEnv;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    workDir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-image-'));
    env = await createTestEnv(`deploy_${SERVICE}`);
    stages = simulateDockerBuild(dockerfile, {
      contextDir: REPO,
      workDir,
      buildArgs: { SERVICE },
      runStages: ['prune', 'build'],
      path: toolPath(workDir),
    });
    app = path.join(stages['runtime']!.root, 'app');
  }, 240_000);

  afterAll(async () => {
    if (process.env['DEPLOY_TEST_TIMINGS'] && stages) {
      for (const s of Object.values(stages))
        s.ran.forEach((r, i) => process.stderr.write(`${s.name} ${s.runMs[i]} ms: ${r.slice(0, 80)}\n`));
    }
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await env?.cleanup();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  /** The container's environment: the image's ENV plus what compose/Kubernetes would set. */
  function runtimeEnv(extra: Record<string, string>): Record<string, string> {
    return {
      PATH: process.env['PATH']!,
      HOME: os.tmpdir(),
      ...stages['runtime']!.env,
      DATABASE_URL: env.databaseUrl,
      DB_SCHEMA: env.schema,
      REDIS_URL: env.redisUrl,
      REDIS_PREFIX: env.prefix,
      INTERNAL_JWT_SECRET: randomBytes(36).toString('base64url'),
      ADMIN_TOKEN: `tgadmin_${randomBytes(24).toString('base64url')}`,
      WEBHOOK_SECRETS_KEY: randomBytes(36).toString('base64url'),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      ...extra,
    };
  }

  function start(
    args: string[],
    extra: Record<string, string>,
  ): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
    const [command, ...rest] = args;
    const child = spawn(command === 'node' ? process.execPath : command!, rest, {
      cwd: app,
      env: runtimeEnv(extra),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, output: () => output, exited };
  }

  async function waitReady(port: number, exited: Promise<unknown>, output: () => string): Promise<void> {
    let dead = false;
    void exited.then(() => (dead = true));
    const until = Date.now() + 30_000;
    while (Date.now() < until && !dead) {
      const status = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`not ready on :${port}${dead ? ' (exited)' : ''}:\n${output().slice(-3000)}`);
  }

  function healthcheck(port: number): number | null {
    const command = stages['runtime']!.healthcheck!;
    return spawnSync(command[0] === 'node' ? process.execPath : command[0]!, command.slice(1), {
      cwd: app,
      env: runtimeEnv({ PORT: String(port) }),
      timeout: 10_000,
    }).status;
  }

  /** ENTRYPOINT + CMD without tini (PID 1 inside the container; here the test is the parent). */
  const serviceCommand = () => [
    ...stages['runtime']!.entrypoint!.filter((a) => a !== '/usr/bin/tini' && a !== '--'),
    ...stages['runtime']!.cmd!,
  ];

  test("the build stage produced the service's dist (and its workspace dependencies' dist)", () => {
    const repo = path.join(stages['build']!.root, 'repo');
    expect(existsSync(path.join(repo, 'services', SERVICE, 'dist/main.js'))).toBe(true);
    expect(existsSync(path.join(repo, 'packages/common/dist/index.js'))).toBe(true);
    // Test-only workspace packages are pruned in but not compiled.
    expect(existsSync(path.join(repo, 'packages/testkit/dist'))).toBe(false);
    // Pruned: no other service came along.
    expect(readdirSync(path.join(repo, 'services'))).toEqual([SERVICE]);
    expect(stages['toolchain']!.skipped.join('\n')).toMatch(/pnpm@\$\{PNPM_VERSION\}.*turbo@\$\{TURBO_VERSION\}/);
  });

  test('the runtime image holds compiled JavaScript and production dependencies only', () => {
    expect(readdirSync(app).sort()).toEqual(['dist', 'healthcheck.js', 'migrate.js', 'node_modules', 'package.json']);
    expect(existsSync(path.join(app, 'dist/main.js'))).toBe(true);
    expect(existsSync(path.join(app, 'node_modules/@tollgate/common/dist/index.js'))).toBe(true);
    const store = readdirSync(path.join(app, 'node_modules/.pnpm'));
    for (const dev of ['typescript@', 'jest@', '@swc+core@', 'turbo@', 'eslint@', '@tollgate+testkit', 'supertest@'])
      expect([dev, store.filter((p) => p.startsWith(dev))]).toEqual([dev, []]);
    expect(store.some((p) => p.startsWith('express@'))).toBe(true);
    // pnpm's links are relative, so the tree works wherever it is copied.
    expect(readdirSync(path.join(app, 'node_modules/@tollgate'))).toEqual(['common']);
  });

  test('no TypeScript sources, env files or local state reached the image', () => {
    const found: string[] = [];
    const walk = (dir: string, rel: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const r = `${rel}${e.name}`;
        if (e.isDirectory() && !e.isSymbolicLink()) {
          if (r !== 'node_modules') walk(path.join(dir, e.name), `${r}/`);
        } else if (/(^|\/)\.env|\.pem$|(^|\/)\.data\/|\.ts$(?<!\.d\.ts)/.test(r)) {
          found.push(r);
        }
      }
    };
    walk(app, '');
    expect(found).toEqual([]);
    expect(stages['runtime']!.skipped.every((r) => /apt-get|mkdir -p \/data/.test(r))).toBe(true);
  });

  test("`node migrate.js` applies the service's migrations to its schema once, and again is a no-op", async () => {
    const first = start(['node', 'migrate.js'], {});
    expect(await first.exited).toBe(0);
    const again = start(['node', 'migrate.js'], {});
    expect(await again.exited).toBe(0);
    const { migrations } = require(path.join(REPO, 'services', SERVICE, 'src/migrations/index.ts'));
    const { rows } = await sql<{ name: string }>`select name from ${sql.table(`${env.schema}.kysely_migration`)} order by name`.execute(
      env.db,
    );
    expect(rows.map((r) => r.name)).toEqual(Object.keys(migrations).sort());
  }, 60_000);

  test('the runtime command starts the service: ready, healthy to HEALTHCHECK, and a clean exit 0 on SIGTERM', async () => {
    const port = await freePort();
    const service = start(serviceCommand(), { PORT: String(port) });
    await waitReady(port, service.exited, service.output);
    expect(healthcheck(port)).toBe(0);
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
    service.child.kill('SIGTERM');
    expect(await service.exited).toBe(0);
    expect(healthcheck(port)).toBe(1);
  }, 60_000);

  test('the worker command (`--role=worker`) starts, answers its health endpoints and drains on SIGTERM', async () => {
    if (!SERVICES.find((s) => s.name === SERVICE)!.worker) return;
    const port = await freePort();
    const worker = start([...serviceCommand(), '--role=worker'], { PORT: String(port) });
    await waitReady(port, worker.exited, worker.output);
    expect(healthcheck(port)).toBe(0);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  }, 60_000);

  test('the context sent to Docker is what .dockerignore leaves (sources, lockfile, no state)', () => {
    const sent = copyContext(REPO, path.join(workDir, 'context-check'));
    expect(sent).toEqual(expect.arrayContaining(['pnpm-lock.yaml', 'deploy/Dockerfile', `services/${SERVICE}/src/main.ts`]));
    expect(sent.filter((f) => /(^|\/)(node_modules|dist|\.git|\.data)\//.test(f))).toEqual([]);
  });
});
