import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRedis, deleteByPrefix, ensureDatabase, withDefaultUser } from '@tollgate/common';
import { freePort, identityHeaders, serviceHeaders, TEST_DATABASE_URL, TEST_INTERNAL_SECRET, TEST_REDIS_URL } from '@tollgate/testkit';

/**
 * The restore drill (docs/operations.md#backups-and-restore): fill a ledger through the credits
 * API, `npm run backup` while other tenants keep writing, `npm run restore` into a fresh
 * database, start credits on the restored copy, and check that the ledger reconciles and every
 * balance is the one it had. Runs in databases of its own: pg_dump takes the whole database, and
 * the shared test database has schemas coming and going under parallel test files.
 */
jest.setTimeout(240_000);

const ROOT = path.resolve(__dirname, '../../..');
const suffix = randomBytes(4).toString('hex');
const SOURCE_DB = `tg_drill_${suffix}`;
const RESTORED_DB = `tg_drill_${suffix}_restored`;
const urlFor = (db: string) => {
  const u = new URL(TEST_DATABASE_URL);
  u.pathname = `/${db}`;
  return u.toString();
};
const prefix = `drill:${suffix}`;
const work = mkdtempSync(path.join(os.tmpdir(), 'tollgate-drill-'));
const children: ChildProcess[] = [];

async function startCredits(databaseUrl: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(ROOT, 'services/credits/dist/main.js')], {
    env: {
      PATH: process.env['PATH'] ?? '',
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      DB_SCHEMA: 'credits',
      REDIS_URL: TEST_REDIS_URL,
      REDIS_PREFIX: prefix,
      INTERNAL_JWT_SECRET: TEST_INTERNAL_SECRET,
      LOG_LEVEL: 'warn',
      LOG_PRETTY: 'false',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`credits exited: ${stderr}`);
    const ok = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
    if (ok) return { url, child };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`credits not ready: ${stderr}`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

async function call(url: string, method: string, route: string, headers: Record<string, string>, body?: unknown): Promise<any> {
  const res = await fetch(`${url}${route}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (res.status >= 300) throw new Error(`${method} ${route}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

const admin = identityHeaders('t_ops', ['admin']);
const svc = serviceHeaders('drill');

/** Top-up, then holds captured (some partly), released, left held, and charges. */
async function fillTenant(url: string, tenant: string, seed: number): Promise<void> {
  await call(url, 'POST', `/v1/admin/tenants/${tenant}/credits`, { ...admin, 'Idempotency-Key': `top-${tenant}` }, { amount: 50_000_000 + seed, reason: 'drill' });
  for (let i = 0; i < 6; i++) {
    const hold = await call(url, 'POST', '/internal/v1/holds', svc, { tenant_id: tenant, amount: 100_000 + i * 1_000 + seed, idempotency_key: `h-${tenant}-${i}` });
    if (i % 3 === 0) await call(url, 'POST', `/internal/v1/holds/${hold.id}/capture`, svc, { amount: 50_000 + i * 7 + seed });
    else if (i % 3 === 1) await call(url, 'POST', `/internal/v1/holds/${hold.id}/release`, svc, {});
    // i % 3 === 2: left held (ttl 300 s, longer than the drill)
  }
  await call(url, 'POST', '/internal/v1/charges', svc, { tenant_id: tenant, amount: 12_345 + seed, idempotency_key: `c-${tenant}`, description: 'drill' });
}

/** Runs a repository script without blocking this process (the write load must go on meanwhile). */
function runScript(script: string, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'scripts', script), ...args], { env: { ...process.env, DATABASE_URL: urlFor(SOURCE_DB) } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  return new Promise((resolve) => child.once('close', (status) => resolve({ status, stdout, stderr })));
}

afterAll(async () => {
  await Promise.all(children.map(stop));
  for (const db of [SOURCE_DB, RESTORED_DB]) spawnSync('psql', [withDefaultUser(urlFor('postgres')), '-qc', `drop database if exists "${db}" with (force)`]);
  const redis = createRedis(TEST_REDIS_URL);
  await deleteByPrefix(redis, prefix).finally(() => redis.disconnect());
  rmSync(work, { recursive: true, force: true });
});

test('backup under write load, restore into a fresh database, credits reconciles it with every balance intact', async () => {
  await ensureDatabase(urlFor(SOURCE_DB));
  const source = await startCredits(urlFor(SOURCE_DB));
  const tenants = Array.from({ length: 8 }, (_, i) => `t_drill_${i}`);
  for (const [i, t] of tenants.entries()) await fillTenant(source.url, t, i);
  const before = new Map<string, unknown>();
  for (const t of tenants) before.set(t, await call(source.url, 'GET', `/internal/v1/accounts/${t}/balance`, svc));

  // Other tenants keep writing during the dump: the manifest must still describe the dump exactly.
  let writing = true;
  const load = (async () => {
    let n = 0;
    while (writing) await fillTenant(source.url, `t_busy_${n++}`, n);
    return n;
  })();
  const dumpFile = path.join(work, 'tollgate.dump');
  const backup = await runScript('backup.mjs', ['--out', dumpFile]);
  writing = false;
  expect(await load).toBeGreaterThan(0);
  expect(`${backup.stdout}${backup.stderr}`).toMatch(/^backup: .*tollgate\.dump .* 1 ledger/m);
  expect(backup.status).toBe(0);
  const manifest = JSON.parse(readFileSync(`${dumpFile}.manifest.json`, 'utf8'));
  expect(manifest.ledgers.credits.entries_total).toBe('0');
  // 8 tenants × (top-up, 2 captures, charge), plus whatever the busy tenants had committed
  expect(manifest.tables['credits.transactions']).toBeGreaterThan(8 * 4);

  // A manifest that disagrees with the dump is reported, not waved through.
  const tampered = path.join(work, 'tampered.dump');
  writeFileSync(tampered, readFileSync(dumpFile));
  writeFileSync(`${tampered}.manifest.json`, JSON.stringify({ ...manifest, tables: { ...manifest.tables, 'credits.entries': manifest.tables['credits.entries'] + 1 } }));
  const bad = await runScript('restore.mjs', [tampered, '--database', `${RESTORED_DB}_bad`]);
  spawnSync('psql', [withDefaultUser(urlFor('postgres')), '-qc', `drop database if exists "${RESTORED_DB}_bad" with (force)`]);
  expect(bad.status).toBe(1);
  expect(bad.stderr).toMatch(/DIFFERS from the backup's manifest:\n\s+table credits\.entries: \d+ rows in the backup, \d+ restored/);

  const restored = await runScript('restore.mjs', [dumpFile, '--database', RESTORED_DB]);
  expect(`${restored.stdout}${restored.stderr}`).toMatch(/verified against the manifest: .* 1 ledger\(s\) with equal totals and balances/);
  expect(restored.status).toBe(0);
  // Never over an existing database.
  const again = await runScript('restore.mjs', [dumpFile, '--database', RESTORED_DB]);
  expect(again.status).toBe(1);
  expect(again.stderr).toMatch(/already exists/);

  await stop(source.child);
  const copy = await startCredits(urlFor(RESTORED_DB));
  const report = await call(copy.url, 'POST', '/internal/v1/reconcile', svc);
  expect(report).toMatchObject({ ok: true, mismatch: null });
  expect(report.counts.transactions).toBe(manifest.tables['credits.transactions']);
  for (const t of tenants) expect(await call(copy.url, 'GET', `/internal/v1/accounts/${t}/balance`, svc)).toEqual(before.get(t));
  // The restored ledger takes new work.
  await fillTenant(copy.url, 't_after_restore', 1);
  expect((await call(copy.url, 'POST', '/internal/v1/reconcile', svc)).ok).toBe(true);
});
