import type { TestEnv } from '@tollgate/testkit';
import { sql } from 'kysely';
import { PassThrough } from 'node:stream';
import { runReconcileCli } from '../src/cli/reconcile';
import { reconcile } from '../src/reconcile/service';
import { call, type CreditsHarness, newTenant, service, startCredits, tenant, topUp } from './helpers';

// The root jest config runs packages as `projects`, where the preset's testTimeout does not apply;
// these tests drive hundreds of real requests on a shared machine, so set it here.
jest.setTimeout(60_000);

/** A ledger with some history: top-ups, charges, a captured and an open hold. */
async function populated(label: string): Promise<{ h: CreditsHarness; t: string }> {
  const h = await startCredits(label);
  const t = newTenant();
  await topUp(h.url, t, 10_000);
  await call(h.url, 'POST', '/internal/v1/charges', service(), { tenant_id: t, amount: 1_500, idempotency_key: 'c1' });
  const held = await call(h.url, 'POST', '/internal/v1/holds', service(), { tenant_id: t, amount: 2_000, idempotency_key: 'h1' });
  await call(h.url, 'POST', `/internal/v1/holds/${held.body.id}/capture`, service(), { amount: 1_200 });
  await call(h.url, 'POST', '/internal/v1/holds', service(), { tenant_id: t, amount: 700, idempotency_key: 'h2' });
  return { h, t };
}

async function cli(env: TestEnv, extra: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  const chunks = { out: '', err: '' };
  out.on('data', (c: Buffer) => (chunks.out += c.toString()));
  err.on('data', (c: Buffer) => (chunks.err += c.toString()));
  const code = await runReconcileCli({ DATABASE_URL: env.databaseUrl, DB_SCHEMA: env.schema, NODE_ENV: 'test', ...extra }, out, err);
  return { code, ...chunks };
}

describe('reconciliation', () => {
  let h: CreditsHarness;
  let t: string;
  beforeAll(async () => {
    ({ h, t } = await populated('credits_reconcile'));
  });
  afterAll(async () => {
    await h.close();
    await h.env.cleanup();
  });

  it('passes on a healthy ledger (function, internal route and CLI)', async () => {
    const report = await reconcile(h.ledger.db);
    expect(report).toMatchObject({ ok: true, mismatch: null, counts: { transactions: 3, entries: 6, active_holds: 1 } });
    const res = await call(h.url, 'POST', '/internal/v1/reconcile', service());
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: true, mismatch: null });
    expect((await call(h.url, 'POST', '/internal/v1/reconcile', tenant(t))).status).toBe(403);
    const run = await cli(h.env);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.out)).toMatchObject({ ok: true });
  });

  it('the CLI exits 2 with one line when it cannot run', async () => {
    const badConfig = await cli(h.env, { DB_SCHEMA: 'Not-A-Schema' });
    expect(badConfig.code).toBe(2);
    expect(badConfig.err).toMatch(/^Invalid configuration: DB_SCHEMA/);
    const missing = await cli(h.env, { DB_SCHEMA: 'no_such_schema_here' });
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/^reconcile failed: /);
  });
});

describe('reconciliation finds the first mismatch precisely', () => {
  let h: CreditsHarness;
  let t: string;
  beforeEach(async () => {
    ({ h, t } = await populated('credits_tamper'));
  });
  afterEach(async () => {
    await h.close();
    await h.env.cleanup();
  });

  it("a tenant's stored balance that drifted from its entries", async () => {
    const account = await h.env.db.selectFrom('accounts').select(['id']).where('tenant_id', '=', t).executeTakeFirstOrThrow();
    await sql`update accounts set balance = balance + 5 where id = ${account.id}`.execute(h.env.db);
    const report = await reconcile(h.ledger.db);
    expect(report.ok).toBe(false);
    expect(report.mismatch).toEqual({ check: 'account_balance', account_id: account.id, tenant_id: t, code: null, stored: '7305', entries_sum: '7300', difference: '5' });
    const run = await cli(h.env);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.out).mismatch.check).toBe('account_balance');
  });

  it('a held amount that does not match the active holds', async () => {
    await sql`update accounts set held = held + 1 where tenant_id = ${t}`.execute(h.env.db);
    const report = await reconcile(h.ledger.db);
    expect(report.mismatch).toMatchObject({ check: 'account_held', tenant_id: t, stored: 701, active_holds_sum: '700', difference: '1' });
  });

  it("a system account's shard that drifted", async () => {
    await sql`update system_balance_shards set balance = balance - 3 where account_id = 'sys_revenue' and shard = (select min(shard) from system_balance_shards where account_id = 'sys_revenue')`.execute(h.env.db);
    const report = await reconcile(h.ledger.db);
    expect(report.mismatch).toEqual({ check: 'account_balance', account_id: 'sys_revenue', tenant_id: null, code: 'revenue', stored: '2697', entries_sum: '2700', difference: '-3' });
  });

  it('an unbalanced transaction slipped in with the guards switched off', async () => {
    const account = await h.env.db.selectFrom('accounts').select(['id']).where('tenant_id', '=', t).executeTakeFirstOrThrow();
    await sql`alter table transactions disable trigger transactions_balanced`.execute(h.env.db);
    await sql`alter table entries disable trigger entries_balanced`.execute(h.env.db);
    await sql`insert into transactions (id, tenant_id, type, amount, created_at) values ('txn_forged00000000000000000', ${t}, 'charge', 50, now())`.execute(h.env.db);
    await sql`insert into entries (transaction_id, account_id, amount, balance_after, created_at) values ('txn_forged00000000000000000', ${account.id}, -50, 7250, now())`.execute(h.env.db);
    const report = await reconcile(h.ledger.db);
    expect(report.mismatch).toEqual({ check: 'transaction_balanced', transaction_id: 'txn_forged00000000000000000', type: 'charge', amount: 50, entry_count: 1, entries_sum: '-50', debited: '0' });
  });
});

describe('database constraints guard the ledger on their own', () => {
  let h: CreditsHarness;
  let t: string;
  beforeAll(async () => {
    ({ h, t } = await populated('credits_constraints'));
  });
  afterAll(async () => {
    await h.close();
    await h.env.cleanup();
  });

  const code = async (statement: Promise<unknown>): Promise<string | undefined> => {
    try {
      await statement;
      return undefined;
    } catch (err) {
      return (err as { code?: string }).code;
    }
  };

  it('entries and transactions are append-only', async () => {
    expect(await code(sql`update entries set amount = amount + 1`.execute(h.env.db))).toBe('23001');
    expect(await code(sql`delete from entries`.execute(h.env.db))).toBe('23001');
    expect(await code(sql`update transactions set amount = 1`.execute(h.env.db))).toBe('23001');
    expect(await code(sql`delete from transactions`.execute(h.env.db))).toBe('23001');
    expect(await code(sql`truncate entries`.execute(h.env.db))).toBe('23001');
  });

  it('a transaction whose entries do not sum to zero cannot commit', async () => {
    const account = await h.env.db.selectFrom('accounts').select(['id']).where('tenant_id', '=', t).executeTakeFirstOrThrow();
    const attempt = h.env.db.transaction().execute(async (trx) => {
      await sql`insert into transactions (id, tenant_id, type, amount, created_at) values ('txn_unbalanced000000000000', ${t}, 'charge', 50, now())`.execute(trx);
      await sql`insert into entries (transaction_id, account_id, amount, balance_after, created_at) values ('txn_unbalanced000000000000', ${account.id}, -50, 0, now())`.execute(trx);
      await sql`insert into entries (transaction_id, account_id, amount, created_at) values ('txn_unbalanced000000000000', 'sys_revenue', 49, now())`.execute(trx);
    });
    expect(await code(attempt)).toBe('23514');
    const found = await h.env.db.selectFrom('transactions').select('id').where('id', '=', 'txn_unbalanced000000000000').execute();
    expect(found).toHaveLength(0);
  });

  it('no tenant account can go below the debt floor, nor hold a negative amount', async () => {
    // Late charges may leave a tenant owing (MAX_DEBT, enforced by the charge itself); the row keeps a hard floor.
    expect(await code(sql`update accounts set balance = held - 1000000000001 where tenant_id = ${t}`.execute(h.env.db))).toBe('23514');
    expect(await code(sql`update accounts set held = -1 where tenant_id = ${t}`.execute(h.env.db))).toBe('23514');
    expect(await code(sql`update accounts set held = balance + 1000000000001 where tenant_id = ${t}`.execute(h.env.db))).toBe('23514');
  });

  it('amounts are positive and idempotency keys unique per tenant and operation', async () => {
    expect(await code(sql`insert into transactions (id, tenant_id, type, amount, created_at) values ('txn_neg', ${t}, 'charge', -5, now())`.execute(h.env.db))).toBe('23514');
    expect(await code(sql`insert into transactions (id, tenant_id, type, amount, created_at) values ('txn_zero', ${t}, 'charge', 0, now())`.execute(h.env.db))).toBe('23514');
    expect(await code(sql`insert into transactions (id, tenant_id, type, amount, idempotency_key, request_hash, created_at) values ('txn_dup', ${t}, 'charge', 5, 'c1', 'x', now())`.execute(h.env.db))).toBe('23505');
    expect(await code(sql`insert into entries (transaction_id, account_id, amount, created_at) select id, 'sys_revenue', 0, now() from transactions limit 1`.execute(h.env.db))).toBe('23514');
  });
});
