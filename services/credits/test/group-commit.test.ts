import { AppError, createDb, parseConfig } from '@tollgate/common';
import { silentLogger, TEST_INTERNAL_SECRET } from '@tollgate/testkit';
import { type Kysely, sql } from 'kysely';
import { configSchema } from '../src/config';
import type { Database } from '../src/db/schema';
import { buildLedger, type LedgerDeps } from '../src/deps';
import type { LedgerOp, OpOutcome } from '../src/ledger/group-commit';
import { captureHold, createHold, releaseHold } from '../src/holds/service';
import { reconcile } from '../src/reconcile/service';
import { balanceOf, type CreditsHarness, ledgerCounts, newTenant, startCredits, topUp } from './helpers';

// Hundreds of real operations against the real database on a shared machine.
jest.setTimeout(90_000);

let h: CreditsHarness;

beforeAll(async () => {
  h = await startCredits('credits_group_commit', { env: { LOW_BALANCE_THRESHOLD: '0', HOLD_DEFAULT_TTL_S: '60' } });
});

afterAll(async () => {
  await h.close();
  await h.env.cleanup();
});

async function funded(amount: number): Promise<string> {
  const t = newTenant('gc');
  await topUp(h.url, t, amount);
  return t;
}

async function expectReconciles(): Promise<void> {
  const report = await reconcile(h.ledger.db);
  expect(report.mismatch).toBeNull();
  expect(report.ok).toBe(true);
}

/** A ledger of its own (its own group commit) on the same schema and clock: another replica. */
function replica(overrides: Record<string, string> = {}, db: Kysely<Database> = h.env.db as Kysely<Database>): LedgerDeps {
  const config = parseConfig(configSchema, {
    NODE_ENV: 'test',
    INTERNAL_JWT_SECRET: TEST_INTERNAL_SECRET,
    DB_SCHEMA: h.env.schema,
    LOW_BALANCE_THRESHOLD: '0',
    ...overrides,
  });
  return buildLedger({ config, db, logger: silentLogger(), clock: h.clock });
}

/** The error code an operation was refused with, or 'ok'. */
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof AppError) return err.code;
    throw err;
  }
}

describe('one batch, one outcome per operation', () => {
  it('mixed successes and refusals in ONE transaction: each gets its own answer, refused ones write nothing', async () => {
    const ledger = replica();
    const rich = await funded(1_000);
    const poor = await funded(10);
    const existing = await createHold(ledger, { tenantId: rich, amount: 100, idempotencyKey: 'existing' });
    const toRelease = await createHold(ledger, { tenantId: rich, amount: 50, idempotencyKey: 'to-release' });
    const poorBefore = await ledgerCounts(h.env, poor);
    const statsBefore = ledger.batcher.stats();

    // Called in one tick: the first goes alone at once, the other seven queue behind it and go
    // together as the next batch (natural batching).
    const results = await Promise.all([
      codeOf(createHold(ledger, { tenantId: rich, amount: 10, idempotencyKey: 'opener' })),
      codeOf(createHold(ledger, { tenantId: rich, amount: 200, idempotencyKey: 'fits' })),
      codeOf(createHold(ledger, { tenantId: poor, amount: 11, idempotencyKey: 'too-big' })),
      codeOf(createHold(ledger, { tenantId: rich, amount: 999, idempotencyKey: 'existing' })),
      codeOf(captureHold(ledger, 'hold_doesnotexist00000000000', 5)),
      codeOf(captureHold(ledger, existing.result.id, 101)),
      codeOf(captureHold(ledger, existing.result.id, 60)),
      codeOf(releaseHold(ledger, toRelease.result.id)),
    ]);
    expect(results).toEqual(['ok', 'ok', 'INSUFFICIENT_CREDITS', 'IDEMPOTENCY_KEY_REUSED', 'NOT_FOUND', 'VALIDATION_FAILED', 'ok', 'ok']);
    const stats = ledger.batcher.stats();
    expect(stats.batches - statsBefore.batches).toBe(2);
    expect(stats.operations - statsBefore.operations).toBe(8);

    // rich: 1,000 − 60 captured; held: opener 10 + fits 200 (existing captured, to-release released).
    expect(await balanceOf(h.url, rich)).toMatchObject({ available: 1_000 - 60 - 210, held: 210 });
    expect(await ledgerCounts(h.env, poor)).toEqual(poorBefore);
    const capturedRow = await h.env.db
      .selectFrom('holds')
      .select(['status', 'captured_amount'])
      .where('id', '=', existing.result.id)
      .executeTakeFirstOrThrow();
    expect(capturedRow).toEqual({ status: 'captured', captured_amount: 60 });
    await expectReconciles();
  });

  it('the function itself: one call, an array in, an array of outcomes out; a refusal beside a success', async () => {
    const t = await funded(100);
    const now = new Date().toISOString();
    const later = new Date(Date.now() + 60_000).toISOString();
    const op = (id: string, amount: number, key: string): LedgerOp => ({
      op: 'hold',
      id,
      tenant_id: t,
      amount,
      key,
      hash: `hash-${key}`,
      description: null,
      expires_at: later,
      now,
    });
    const { rows } = await sql<{ outcomes: OpOutcome[] }>`
      select credits_apply_batch(${JSON.stringify([op('hold_fn_a', 70, 'a'), op('hold_fn_b', 70, 'b'), op('hold_fn_c', 30, 'c')])}::jsonb, 0) as outcomes`.execute(
      h.env.db,
    );
    const outcomes = rows[0]!.outcomes;
    expect(outcomes.map((o) => (o.ok ? o.hold.id : o.error))).toEqual(['hold_fn_a', 'insufficient_credits', 'hold_fn_c']);
    expect(outcomes[1]).toMatchObject({ available: 30, requested: 70 });
    expect(await balanceOf(h.url, t)).toMatchObject({ available: 0, held: 100 });
  });

  it('a batch that fails as a whole commits nothing of it, and the group commit re-runs each operation alone', async () => {
    const t = await funded(100);
    const now = new Date().toISOString();
    const good: LedgerOp = {
      op: 'hold',
      id: 'hold_atomic_good',
      tenant_id: t,
      amount: 40,
      key: 'atomic',
      hash: 'h',
      description: null,
      expires_at: new Date(Date.now() + 60_000).toISOString(),
      now,
    };
    // An operation the function refuses to understand raises: the whole transaction rolls back.
    const bogus = { op: 'transfer', now } as unknown as LedgerOp;
    await expect(sql`select credits_apply_batch(${JSON.stringify([good, bogus])}::jsonb, 0)`.execute(h.env.db)).rejects.toThrow(
      /unknown operation/,
    );
    expect(await balanceOf(h.url, t)).toMatchObject({ available: 100, held: 0 });
    expect((await ledgerCounts(h.env, t)).holds).toBe(0);

    // Through the group commit the same pair fails only the bad one: the batch is retried op by op.
    const ledger = replica();
    const opener = ledger.batcher.apply({ ...good, id: 'hold_atomic_open', key: 'opener', amount: 1 });
    const [goodOutcome, bogusOutcome] = await Promise.allSettled([ledger.batcher.apply(good), ledger.batcher.apply(bogus)]);
    await opener;
    expect(goodOutcome).toMatchObject({ status: 'fulfilled', value: { ok: true, replayed: false, hold: { id: 'hold_atomic_good' } } });
    expect(bogusOutcome.status).toBe('rejected');
    expect(await balanceOf(h.url, t)).toMatchObject({ available: 59, held: 41 });
    await expectReconciles();
  });
});

describe('under load', () => {
  it('500 concurrent holds on a small balance over two replicas never overdraw; then captures and releases stay exact', async () => {
    const t = await funded(1_000);
    // Small batches so the 500 go in many transactions, from two group commits at once.
    const a = replica({ LEDGER_BATCH_MAX: '32' });
    const b = replica({ LEDGER_BATCH_MAX: '32' });
    const results = await Promise.all(
      Array.from({ length: 500 }, async (_, i) => {
        try {
          return (await createHold(i % 2 ? a : b, { tenantId: t, amount: 7, idempotencyKey: `load-${i}` })).result.id;
        } catch (err) {
          expect(err).toMatchObject({ code: 'INSUFFICIENT_CREDITS' });
          return undefined;
        }
      }),
    );
    const held = results.filter((id): id is string => id !== undefined);
    expect(held).toHaveLength(Math.floor(1_000 / 7)); // 142: every unit that fits, not one more
    expect(await balanceOf(h.url, t)).toMatchObject({ available: 1_000 - 142 * 7, held: 142 * 7 });
    // Batching happened: fewer transactions than operations.
    const stats = [a.batcher.stats(), b.batcher.stats()];
    const ops = stats[0]!.operations + stats[1]!.operations;
    const batches = stats[0]!.batches + stats[1]!.batches;
    expect(ops).toBe(500);
    expect(batches).toBeLessThan(ops);

    // Settle them all at once, from both replicas: a third released, the rest captured for 5.
    const settled = await Promise.all(
      held.map(async (id, i) => {
        const ledger = i % 2 ? b : a;
        if (i % 3 === 0) return (await releaseHold(ledger, id)).result.captured_amount;
        return (await captureHold(ledger, id, 5)).result.captured_amount;
      }),
    );
    const spent = settled.reduce((sum, n) => sum + n, 0);
    expect(spent).toBe(held.filter((_, i) => i % 3 !== 0).length * 5);
    expect(await balanceOf(h.url, t)).toMatchObject({ available: 1_000 - spent, held: 0 });
    await expectReconciles();
  });

  it('racing captures of one hold inside one batch and across replicas: exactly one wins', async () => {
    const t = await funded(1_000);
    const a = replica();
    const b = replica();
    const created = await createHold(a, { tenantId: t, amount: 100, idempotencyKey: 'race' });
    const codes = await Promise.all(
      [10, 20, 30, 40, 50, 60].map((amount, i) => codeOf(captureHold(i % 2 ? a : b, created.result.id, amount))),
    );
    expect(codes.filter((c) => c === 'ok')).toHaveLength(1);
    expect(codes.filter((c) => c === 'CONFLICT')).toHaveLength(5);
    const row = await h.env.db
      .selectFrom('holds')
      .select(['captured_amount'])
      .where('id', '=', created.result.id)
      .executeTakeFirstOrThrow();
    expect(await balanceOf(h.url, t)).toMatchObject({ available: 1_000 - row.captured_amount, held: 0 });
    await expectReconciles();
  });
});

describe('idempotent retries across batches', () => {
  it('a hold key retried in the same batch, a later batch and another replica is one hold; a capture retried replays', async () => {
    const t = await funded(1_000);
    const a = replica();
    const b = replica();
    // First wave: the opener goes alone, the other 20 (same key) in one batch.
    const first = await Promise.all(
      Array.from({ length: 21 }, () => createHold(a, { tenantId: t, amount: 100, idempotencyKey: 'retry-me' })),
    );
    // Later waves: other batches, and another process's batches.
    const later = await Promise.all(
      Array.from({ length: 10 }, (_, i) => createHold(i % 2 ? a : b, { tenantId: t, amount: 100, idempotencyKey: 'retry-me' })),
    );
    const all = [...first, ...later];
    expect(new Set(all.map((o) => o.result.id)).size).toBe(1);
    expect(all.filter((o) => !o.replayed)).toHaveLength(1);
    expect(await balanceOf(h.url, t)).toMatchObject({ available: 900, held: 100 });
    expect((await ledgerCounts(h.env, t)).holds).toBe(1);
    expect(await codeOf(createHold(b, { tenantId: t, amount: 101, idempotencyKey: 'retry-me' }))).toBe('IDEMPOTENCY_KEY_REUSED');

    const id = all[0]!.result.id;
    const captures = await Promise.all(Array.from({ length: 8 }, (_, i) => captureHold(i % 2 ? a : b, id, 40)));
    expect(captures.filter((c) => !c.replayed)).toHaveLength(1);
    expect(captures.every((c) => c.result.status === 'captured' && c.result.captured_amount === 40)).toBe(true);
    const again = await captureHold(a, id, 40); // a retry in a later batch, after the commit
    expect(again.replayed).toBe(true);
    expect(await codeOf(captureHold(b, id, 41))).toBe('CONFLICT');
    expect(await codeOf(releaseHold(a, id))).toBe('CONFLICT');
    expect(await balanceOf(h.url, t)).toMatchObject({ available: 960, held: 0 });
    const counts = await ledgerCounts(h.env, t);
    expect(counts.transactions).toBe(2); // the top-up and one capture
    await expectReconciles();
  });
});

describe('restart', () => {
  it('a replica whose pool is gone fails its operations; another replica finds everything it committed', async () => {
    const t = await funded(500);
    const db = createDb<Database>({ connectionString: h.env.databaseUrl, schema: h.env.schema, poolMax: 2 });
    const doomed = replica({}, db);
    const created = await createHold(doomed, { tenantId: t, amount: 200, idempotencyKey: 'before-crash' });
    await db.destroy(); // the process's connections go away
    // No database: every operation of the batch fails at once (none is re-run alone), none is applied.
    const lost = await Promise.allSettled(
      ['after-1', 'after-2', 'after-3'].map((key) => createHold(doomed, { tenantId: t, amount: 100, idempotencyKey: key })),
    );
    expect(lost.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    const survivor = replica();
    const replayed = await createHold(survivor, { tenantId: t, amount: 200, idempotencyKey: 'before-crash' });
    expect(replayed).toMatchObject({ replayed: true, result: { id: created.result.id } });
    expect(await balanceOf(h.url, t)).toMatchObject({ available: 300, held: 200 });
    expect((await ledgerCounts(h.env, t)).holds).toBe(1);
    await expectReconciles();
  });
});
