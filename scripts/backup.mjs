#!/usr/bin/env node
// `npm run backup [-- --out FILE] [--database-url URL]`: pg_dump of the whole Tollgate database
// (every schema, custom format, compressed) plus FILE.manifest.json with every table's row count
// and each ledger's totals, read in the very snapshot the dump is taken from (pg_dump
// --snapshot), so `npm run restore` can prove a restore complete. Default database:
// $DATABASE_URL, else postgres://localhost:5432/tollgate; default file:
// .data/backups/tollgate-<UTC time>.dump. docs/operations.md#backups-and-restore.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fail, psqlSession, readFacts, redact, requireTool, withDefaultUser } from './lib/pg-backup.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function option(argv, name) {
  const i = argv.indexOf(name);
  if (i < 0) return undefined;
  const value = argv[i + 1];
  if (!value || value.startsWith('--')) fail(`${name} needs a value`);
  return value;
}

const sha256 = (file) =>
  new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (c) => hash.update(c))
      .on('end', () => resolve(hash.digest('hex')))
      .on('error', reject);
  });

export async function backup({ databaseUrl, out }) {
  const pgDumpVersion = requireTool('pg_dump');
  requireTool('psql');
  mkdirSync(path.dirname(out), { recursive: true });
  const session = psqlSession(databaseUrl);
  try {
    await session.query('begin isolation level repeatable read read only');
    const [[snapshot]] = await session.query('select pg_export_snapshot()');
    const [[serverVersion]] = await session.query('show server_version');
    const facts = await readFacts(session);
    // The dump joins the open transaction's snapshot: it holds exactly what was counted.
    const dump = spawnSync('pg_dump', ['--format=custom', '--compress=6', `--snapshot=${snapshot}`, '--no-owner', '--no-privileges', `--file=${out}`, withDefaultUser(databaseUrl)], {
      encoding: 'utf8',
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    if (dump.status !== 0) fail(`pg_dump failed (exit ${dump.status}): ${dump.stderr?.trim()}`);
    await session.query('commit');
    const manifest = {
      format: 'tollgate-backup/1',
      created_at: new Date().toISOString(),
      database: redact(databaseUrl),
      file: path.basename(out),
      bytes: statSync(out).size,
      sha256: await sha256(out),
      pg_dump: pgDumpVersion,
      server_version: serverVersion,
      ...facts,
    };
    writeFileSync(`${out}.manifest.json`, `${JSON.stringify(manifest, null, 2)}\n`);
    return manifest;
  } finally {
    await session.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const databaseUrl = option(argv, '--database-url') ?? process.env.DATABASE_URL ?? 'postgres://localhost:5432/tollgate';
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const out = path.resolve(option(argv, '--out') ?? path.join(ROOT, '.data/backups', `tollgate-${stamp}.dump`));
  backup({ databaseUrl, out })
    .then((m) => {
      const rows = Object.values(m.tables).reduce((a, b) => a + b, 0);
      console.log(`backup: ${out} (${m.bytes} bytes, ${Object.keys(m.tables).length} tables, ${rows} rows, ${Object.keys(m.ledgers).length} ledger(s)); manifest ${out}.manifest.json`);
    })
    .catch((err) => fail(`backup failed: ${err.message}`));
}
