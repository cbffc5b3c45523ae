// What `npm run backup` and `npm run restore` share: a psql session to run queries in one
// snapshot, and the manifest's contents (row counts of every table, each ledger's totals),
// computed the same way on the live database and on a restored copy so the two can be compared.
import { spawn, spawnSync } from 'node:child_process';

export function fail(message) {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

/** The client tools, or one line saying how to get them. */
export function requireTool(bin) {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  if (r.status !== 0) fail(`${bin} is missing: install the PostgreSQL client tools (Debian: apt-get install postgresql-client), the same major version as the server or newer`);
  return r.stdout.trim();
}

/** libpq uses $PGUSER or $USER when the URL names no user; a container may set neither. */
export function withDefaultUser(url) {
  const u = new URL(url);
  if (!u.username && !process.env.PGUSER && !process.env.USER) u.username = 'postgres';
  return u.toString();
}

export function redact(url) {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

export function databaseUrlFor(url, database) {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/**
 * One psql process kept open: `query(sql)` returns the rows (tab-separated, unaligned), so
 * several statements run in the same transaction, e.g. a REPEATABLE READ snapshot that
 * pg_dump joins with --snapshot.
 */
export function psqlSession(url) {
  const child = spawn('psql', [withDefaultUser(url), '-X', '-q', '-A', '-t', '-F', '\t', '-v', 'ON_ERROR_STOP=1'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let waiting;
  let n = 0;
  child.stdout.on('data', (chunk) => {
    out += chunk.toString('utf8');
    waiting?.check();
  });
  child.stderr.on('data', (chunk) => {
    err += chunk.toString('utf8');
  });
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  exited.then((code) => waiting?.reject(new Error(`psql exited (${code}): ${err.trim()}`)));
  return {
    query(sql) {
      const marker = `__tollgate_end_${++n}__`;
      return new Promise((resolve, reject) => {
        waiting = {
          reject,
          check() {
            const at = out.indexOf(`${marker}\n`);
            if (at < 0) return;
            const text = out.slice(0, at);
            out = out.slice(at + marker.length + 1);
            waiting = undefined;
            if (err.trim()) {
              const message = err.trim();
              err = '';
              return reject(new Error(message));
            }
            resolve(text.split('\n').filter((l) => l !== '').map((l) => l.split('\t')));
          },
        };
        child.stdin.write(`${sql.trim().replace(/;?$/, ';')}\n\\echo ${marker}\n`);
      });
    },
    async close() {
      child.stdin.end('\\q\n');
      await exited;
    },
  };
}

const TABLES_SQL = `
  select table_schema, table_name
  from information_schema.tables
  where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema') and table_schema not like 'pg_temp%'
  order by 1, 2`;

const quote = (id) => `"${id.replace(/"/g, '""')}"`;

/**
 * The manifest's facts, read in the session's current transaction: every table's row count and,
 * for every schema shaped like the credits ledger (accounts + system_balance_shards + entries),
 * its totals. Amounts are numerics summed in SQL and returned as strings (no rounding).
 */
export async function readFacts(session) {
  const tables = await session.query(TABLES_SQL);
  const counts = {};
  // One statement for all counts (a round trip per table would be slow on big schemas).
  if (tables.length) {
    const union = tables.map(([s, t]) => `select '${s}.${t}' as t, count(*)::text as n from ${quote(s)}.${quote(t)}`).join(' union all ');
    for (const [t, n] of await session.query(union)) counts[t] = Number(n);
  }
  const bySchema = new Map();
  for (const [s, t] of tables) bySchema.set(s, [...(bySchema.get(s) ?? []), t]);
  const ledgers = {};
  for (const [schema, names] of bySchema) {
    if (!['accounts', 'system_balance_shards', 'entries', 'holds'].every((t) => names.includes(t))) continue;
    const q = quote(schema);
    const [row] = await session.query(`
      select
        (select count(*) from ${q}.accounts where kind = 'tenant')::text,
        (select coalesce(sum(balance), 0) from ${q}.accounts where kind = 'tenant')::text,
        (select coalesce(sum(held), 0) from ${q}.accounts where kind = 'tenant')::text,
        (select coalesce(sum(balance), 0) from ${q}.system_balance_shards)::text,
        (select coalesce(sum(amount), 0) from ${q}.entries)::text,
        (select coalesce(sum(amount), 0) from ${q}.holds where status = 'held')::text,
        (select md5(coalesce(string_agg(id || ':' || balance || ':' || held, ',' order by id), '')) from ${q}.accounts where kind = 'tenant')`);
    const [accounts, balance, held, system, entries, activeHolds, digest] = row;
    ledgers[schema] = {
      tenant_accounts: Number(accounts),
      tenant_balance_total: balance,
      tenant_held_total: held,
      system_balance_total: system,
      entries_total: entries,
      active_holds_total: activeHolds,
      // Every tenant's balance and held, so a restore that moved money between tenants differs too.
      balances_md5: digest,
    };
  }
  return { tables: counts, ledgers };
}

/** Differences between two readFacts results, one line each (empty: identical). */
export function compareFacts(expected, actual) {
  const lines = [];
  for (const [table, n] of Object.entries(expected.tables)) {
    if (actual.tables[table] !== n) lines.push(`table ${table}: ${n} rows in the backup, ${actual.tables[table] ?? 'missing'} restored`);
  }
  for (const table of Object.keys(actual.tables)) if (!(table in expected.tables)) lines.push(`table ${table}: not in the backup's manifest`);
  for (const [schema, totals] of Object.entries(expected.ledgers)) {
    const got = actual.ledgers[schema];
    if (!got) {
      lines.push(`ledger ${schema}: missing after restore`);
      continue;
    }
    for (const [key, value] of Object.entries(totals)) if (got[key] !== value) lines.push(`ledger ${schema} ${key}: ${value} in the backup, ${got[key]} restored`);
  }
  return lines;
}
