#!/usr/bin/env node
// `npm run restore -- FILE [--database NAME] [--database-url URL]`: restores a `npm run backup`
// dump into a NEW database (never over an existing one), then recounts every table and each
// ledger's totals and compares them with FILE.manifest.json; exits 1 on any difference. The
// server is the one in --database-url / $DATABASE_URL (default postgres://localhost:5432/tollgate);
// the default database name is tollgate_restore_<UTC time>. Point the services' DATABASE_URL at
// the restored database to use it. docs/operations.md#backups-and-restore.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareFacts, databaseUrlFor, fail, psqlSession, readFacts, redact, requireTool, withDefaultUser } from './lib/pg-backup.mjs';

export async function restore({ file, databaseUrl, database }) {
  requireTool('pg_restore');
  requireTool('psql');
  if (!existsSync(file)) fail(`restore: no such file ${file}`);
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(database)) fail(`restore: --database ${database}: letters, digits and _ only (at most 63)`);
  const manifestFile = `${file}.manifest.json`;
  const manifest = existsSync(manifestFile) ? JSON.parse(readFileSync(manifestFile, 'utf8')) : undefined;

  const admin = psqlSession(databaseUrlFor(databaseUrl, 'postgres'));
  try {
    const exists = await admin.query(`select 1 from pg_database where datname = '${database}'`);
    if (exists.length) fail(`restore: database ${database} already exists; restore into a new one (--database NAME)`);
    await admin.query(`create database "${database}"`);
  } finally {
    await admin.close();
  }
  const target = databaseUrlFor(databaseUrl, database);
  const result = spawnSync('pg_restore', ['--no-owner', '--no-privileges', '--exit-on-error', '--jobs=2', `--dbname=${withDefaultUser(target)}`, file], {
    encoding: 'utf8',
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  if (result.status !== 0) fail(`restore: pg_restore failed (exit ${result.status}) into ${database}: ${result.stderr?.trim()}`);

  if (!manifest) return { database: target, verified: false, differences: [] };
  const session = psqlSession(target);
  try {
    const facts = await readFacts(session);
    return { database: target, verified: true, differences: compareFacts(manifest, facts), facts };
  } finally {
    await session.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const take = (name) => {
    const i = argv.indexOf(name);
    if (i < 0) return undefined;
    const value = argv[i + 1];
    if (!value || value.startsWith('--')) fail(`${name} needs a value`);
    argv.splice(i, 2);
    return value;
  };
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').replace('T', '_').toLowerCase();
  const database = take('--database') ?? `tollgate_restore_${stamp}`;
  const databaseUrl = take('--database-url') ?? process.env.DATABASE_URL ?? 'postgres://localhost:5432/tollgate';
  const [file, ...rest] = argv;
  if (!file || rest.length) fail('usage: npm run restore -- FILE [--database NAME] [--database-url URL]');
  restore({ file: path.resolve(file), databaseUrl, database })
    .then((r) => {
      if (!r.verified) {
        console.log(`restore: ${redact(r.database)} restored; no manifest beside the dump, so nothing was verified`);
        return;
      }
      if (r.differences.length) fail(`restore: ${redact(r.database)} DIFFERS from the backup's manifest:\n  ${r.differences.join('\n  ')}`);
      const rows = Object.values(r.facts.tables).reduce((a, b) => a + b, 0);
      console.log(`restore: ${redact(r.database)} verified against the manifest: ${Object.keys(r.facts.tables).length} tables, ${rows} rows, ${Object.keys(r.facts.ledgers).length} ledger(s) with equal totals and balances`);
    })
    .catch((err) => fail(`restore failed: ${err.message}`));
}
