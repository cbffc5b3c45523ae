// docs/architecture.md, "One shape": every service reads the same from main.ts down, and the
// manifests run workers with the one setting, not the per-service names it replaced.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { REPO, SERVICES } from './helpers/repo';

const src = (service: string, file: string) => path.join(REPO, 'services', service, 'src', file);
const read = (file: string) => readFileSync(file, 'utf8');

describe.each(SERVICES)('$name', ({ name, worker }) => {
  test('main.ts: the tracing import first, then one runService call and nothing else', () => {
    const main = read(src(name, 'main.ts'));
    const statements = main
      .split('\n')
      .filter((line) => line.trim() !== '' && !line.trim().startsWith('//'))
      .filter((line) => !line.startsWith('import '));
    expect(main.startsWith("import { tracing } from './tracing';")).toBe(true);
    expect(statements.join('\n')).toMatch(/^void runService\(\{[^]*\}\);$/);
    expect(main.match(/runService\(/g)).toHaveLength(1);
    expect(main).toMatch(/\bbuildDeps\b/);
    expect(main).toMatch(/api: createApp/);
    expect(main.includes('workers:')).toBe(worker);
  });

  test('deps.ts builds, app.ts serves routes only, workers.ts starts the workers', () => {
    expect(read(src(name, 'deps.ts'))).toMatch(/export (async )?function buildDeps\(/);
    const app = read(src(name, 'app.ts'));
    expect(app).toMatch(/export function createApp\(/);
    expect(app).not.toMatch(/setInterval|setTimeout|startPeriodic|createWorker|\.start\(/);
    expect(existsSync(src(name, 'workers.ts'))).toBe(worker);
    if (worker) expect(read(src(name, 'workers.ts'))).toMatch(/export (async )?function startWorkers\(/);
  });

  test('no wiring under the old names', () => {
    for (const old of ['worker.ts', 'runtime.ts', 'pipeline.ts', 'ledger/deps.ts']) expect([old, existsSync(src(name, old))]).toEqual([old, false]);
  });
});

test('no manifest names a per-service worker setting that RUN_WORKERS_IN_API replaced', () => {
  const files = (dir: string): string[] =>
    readdirSync(dir).flatMap((entry) => {
      const full = path.join(dir, entry);
      if (entry === 'node_modules' || entry === 'test') return [];
      return statSync(full).isDirectory() ? files(full) : [full];
    });
  const manifests = [...files(path.join(REPO, 'k8s')), ...files(path.join(REPO, 'deploy')), path.join(REPO, 'docker-compose.yml')].filter((f) => !f.endsWith('.md'));
  const offending = manifests.filter((f) => /\b(MAINTENANCE_IN_API|WEBHOOK_RUN_WORKERS)\b/.test(read(f)));
  expect(offending).toEqual([]);
});
