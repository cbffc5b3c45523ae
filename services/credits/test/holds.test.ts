import { createDb, createMetrics, type EventPublisher, memoryEventPublisher, parseConfig, type PlatformEvent } from '@tollgate/common';
import { listen, silentLogger, TEST_INTERNAL_SECRET } from '@tollgate/testkit';
import { sql } from 'kysely';
import { createApp } from '../src/app';
import { type Config, configSchema } from '../src/config';
import { buildLedger } from '../src/deps';
import { reconcile } from '../src/reconcile/service';
import { type CreditsWorkers, startWorkers } from '../src/workers';
import { admin, balanceOf, call, type CreditsHarness, ledgerCounts, newTenant, service, startCredits, tenant, topUp } from './helpers';

// The root jest config runs packages as `projects`, where the preset's testTimeout does not apply;
// these tests drive hundreds of real requests on a shared machine, so set it here.
jest.setTimeout(60_000);

let h: CreditsHarness;

beforeAll(async () => {
  h = await startCredits('credits_holds', { env: { LOW_BALANCE_THRESHOLD: '0', HOLD_DEFAULT_TTL_S: '60', HOLD_MAX_TTL_S: '3600' } });
});

afterAll(async () => {
  await h.close();
  await h.env.cleanup();
});

const hold = (tenantId: string, amount: number, key: string, extra: Record<string, unknown> = {}) =>
  call(h.url, 'POST', '/internal/v1/holds', service(), { tenant_id: tenantId, amount, idempotency_key: key, ...extra });
const capture = (id: string, amount: unknown) => call(h.url, 'POST', `/internal/v1/holds/${id}/capture`, service(), { amount });
const release = (id: string) => call(h.url, 'POST', `/internal/v1/holds/${id}/release`, service());

async function funded(amount: number): Promise<string> {
  const t = newTenant();
  await topUp(h.url, t, amount);
  return t;
}

describe('holds', () => {
  it('reserve at once: the available balance drops, nothing is posted', async () => {
    const t = await funded(1_000);
    const res = await hold(t, 300, 'h1', { ttl_s: 120, description: 'chat' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ tenant_id: t, amount: 300, status: 'held', captured_amount: 0, released_amount: 0, transaction_id: null, description: 'chat' });
    expect(res.body.id).toMatch(/^hold_[A-Za-z0-9]{24}$/);
    expect(new Date(res.body.expires_at).getTime() - new Date(res.body.created_at).getTime()).toBe(120_000);
    expect(await balanceOf(h.url, t)).toMatchObject({ available: 700, held: 300 });
    expect((await ledgerCounts(h.env, t)).transactions).toBe(1); // only the top-up
  });

  it('uses the configured default TTL', async () => {
    const t = await funded(10);
    const res = await hold(t, 10, 'default-ttl');
    expect(new Date(res.body.expires_at).getTime() - new Date(res.body.created_at).getTime()).toBe(60_000);
  });

  it('402 when the available balance (holds included) is short; nothing written', async () => {
    const t = await funded(1_000);
    await hold(t, 800, 'big');
    const before = await ledgerCounts(h.env, t);
    const res = await hold(t, 201, 'too-much');
    expect(res.status).toBe(402);
    expect(res.body.error).toMatchObject({ code: 'INSUFFICIENT_CREDITS', details: { available: 200, requested: 201 } });
    // Charges see the held amount too.
    const chargeRes = await call(h.url, 'POST', '/internal/v1/charges', service(), { tenant_id: t, amount: 201, idempotency_key: 'c' });
    expect(chargeRes.status).toBe(402);
    expect(await ledgerCounts(h.env, t)).toEqual(before);
    const none = await hold(newTenant(), 1, 'nobody');
    expect(none.status).toBe(402);
    expect(none.body.error.details).toEqual({ available: 0, requested: 1 });
  });

  it('replays a repeated key and refuses it with other parameters', async () => {
    const t = await funded(1_000);
    const first = await hold(t, 100, 'same', { ttl_s: 30 });
    const again = await hold(t, 100, 'same', { ttl_s: 30 });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(await balanceOf(h.url, t)).toMatchObject({ available: 900, held: 100 });
    for (const other of [{ amount: 101, ttl_s: 30 }, { amount: 100, ttl_s: 31 }, { amount: 100, ttl_s: 30, description: 'x' }]) {
      const res = await call(h.url, 'POST', '/internal/v1/holds', service(), { tenant_id: t, idempotency_key: 'same', ...other });
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    }
    expect((await ledgerCounts(h.env, t)).holds).toBe(1);
  });

  it('capture posts the captured amount and returns the rest', async () => {
    const t = await funded(1_000);
    const created = await hold(t, 400, 'cap');
    const res = await capture(created.body.id, 250);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: created.body.id, status: 'captured', amount: 400, captured_amount: 250, released_amount: 150 });
    expect(res.body.transaction_id).toMatch(/^txn_/);
    expect(await balanceOf(h.url, t)).toMatchObject({ available: 750, held: 0 });
    const history = await call(h.url, 'GET', '/v1/credits/transactions', tenant(t));
    expect(history.body.data[0]).toMatchObject({ id: res.body.transaction_id, type: 'capture', amount: 250, balance_after: 750, hold_id: created.body.id });

    // Same amount again: the same answer, nothing more posted.
    const again = await capture(created.body.id, 250);
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(res.body);
    // A different amount, or a release, after the capture: 409.
    const different = await capture(created.body.id, 100);
    expect(different.status).toBe(409);
    expect(different.body.error).toMatchObject({ code: 'CONFLICT', details: { status: 'captured' } });
    const releaseAfter = await release(created.body.id);
    expect(releaseAfter.status).toBe(409);
    expect(releaseAfter.body.error.details.status).toBe('captured');
    expect((await ledgerCounts(h.env, t)).transactions).toBe(2);
    expect(await balanceOf(h.url, t)).toMatchObject({ available: 750, held: 0 });
  });

  it('capture of 0 posts nothing and releases the whole hold; capture of the whole hold keeps nothing back', async () => {
    const t = await funded(1_000);
    const zero = await hold(t, 100, 'zero');
    const res = await capture(zero.body.id, 0);
    expect(res.body).toMatchObject({ status: 'captured', captured_amount: 0, released_amount: 100, transaction_id: null });
    const full = await hold(t, 1_000, 'full');
    expect((await capture(full.body.id, 1_000)).body).toMatchObject({ captured_amount: 1_000, released_amount: 0 });
    expect(await balanceOf(h.url, t)).toMatchObject({ available: 0, held: 0 });
  });

  it('refuses a capture above the hold and bad capture amounts, writing nothing', async () => {
    const t = await funded(1_000);
    const created = await hold(t, 100, 'bad-capture');
    const before = await ledgerCounts(h.env, t);
    const above = await capture(created.body.id, 101);
    expect(above.status).toBe(400);
    expect(above.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: { held: 100, requested: 101 } });
    for (const bad of [-1, 1.5, '50', null, undefined]) {
      const res = await capture(created.body.id, bad);
      expect(res.status).toBe(400);
    }
    expect(await ledgerCounts(h.env, t)).toEqual(before);
    expect(await balanceOf(h.url, t)).toMatchObject({ available: 900, held: 100 });
  });

  it('release returns the whole hold; again is the same answer; capture after release is 409', async () => {
    const t = await funded(1_000);
    const created = await hold(t, 600, 'rel');
    const res = await release(created.body.id);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: created.body.id, status: 'released', captured_amount: 0, released_amount: 600 });
    const again = await release(created.body.id);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(res.body);
    const captureAfter = await capture(created.body.id, 1);
    expect(captureAfter.status).toBe(409);
    expect(captureAfter.body.error.details.status).toBe('released');
    expect(await balanceOf(h.url, t)).toMatchObject({ available: 1_000, held: 0 });
  });

  it('404 for an unknown hold, 400 for a malformed id, 403/401 for non-services', async () => {
    expect((await capture('hold_000000000000000000000000', 1)).status).toBe(404);
    expect((await release('hold_000000000000000000000000')).status).toBe(404);
    expect((await capture('not-a-hold', 1)).status).toBe(400);
    expect((await release('hold_short')).status).toBe(400);
    const t = await funded(100);
    const created = await hold(t, 10, 'sec');
    for (const headers of [tenant(t), admin(), {}]) {
      expect([401, 403]).toContain((await call(h.url, 'POST', '/internal/v1/holds', headers, { tenant_id: t, amount: 1, idempotency_key: 'x' })).status);
      expect([401, 403]).toContain((await call(h.url, 'POST', `/internal/v1/holds/${created.body.id}/capture`, headers, { amount: 1 })).status);
      expect([401, 403]).toContain((await call(h.url, 'POST', `/internal/v1/holds/${created.body.id}/release`, headers)).status);
    }
    expect(await balanceOf(h.url, t)).toMatchObject({ available: 90, held: 10 });
  });

  it.each([
    ['a zero amount', { amount: 0 }],
    ['a fractional amount', { amount: 0.5 }],
    ['a string amount', { amount: '5' }],
    ['a ttl of 0', { ttl_s: 0 }],
    ['a ttl above the maximum', { ttl_s: 3601 }],
    ['a fractional ttl', { ttl_s: 1.5 }],
    ['a bad tenant id', { tenant_id: '../etc' }],
    ['no idempotency key', { idempotency_key: undefined }],
  ])('refuses a hold with %s (400), writing nothing', async (_name, change) => {
    const t = await funded(100);
    const before = await ledgerCounts(h.env, t);
    const res = await call(h.url, 'POST', '/internal/v1/holds', service(), { tenant_id: t, amount: 5, idempotency_key: 'v', ...change });
    expect(res.status).toBe(400);
    expect(await ledgerCounts(h.env, t)).toEqual(before);
  });
});

describe('hold expiry', () => {
  it('a hold left alone expires and its amount is available again', async () => {
    const t = await funded(1_000);
    const created = await hold(t, 700, 'expire-me', { ttl_s: 30 });
    const maintenance = startWorkers({ ledger: h.ledger, logger: silentLogger(), config: maintenanceConfig(h.config) });
    try {
      await maintenance.maintenance.runNow();
      expect(await balanceOf(h.url, t)).toMatchObject({ available: 300, held: 700 }); // not yet
      h.clock.advance(30_001);
      await waitFor(async () => (await balanceOf(h.url, t)).held === 0);
    } finally {
      await stopWorkers(maintenance);
      h.clock.offsetMs = 0;
    }
    expect(await balanceOf(h.url, t)).toMatchObject({ available: 1_000, held: 0 });
    const after = await capture(created.body.id, 1);
    expect(after.status).toBe(409);
    expect(after.body.error.details.status).toBe('expired');
    const rel = await release(created.body.id);
    expect(rel.status).toBe(200);
    expect(rel.body).toMatchObject({ status: 'expired', released_amount: 700 });
    expect((await reconcile(h.ledger.db)).ok).toBe(true);
  });

  it('a capture after the TTL but before any sweep is refused and expires the hold', async () => {
    const t = await funded(100);
    const created = await hold(t, 100, 'late', { ttl_s: 5 });
    h.clock.advance(5_000);
    try {
      const res = await capture(created.body.id, 50);
      expect(res.status).toBe(409);
      expect(res.body.error.details.status).toBe('expired');
    } finally {
      h.clock.offsetMs = 0;
    }
    expect(await balanceOf(h.url, t)).toMatchObject({ available: 100, held: 0 });
  });

  it('expires holds also when the service restarted in between', async () => {
    // Process A: its own app, ledger and database pool, with its maintenance loop running.
    const config = parseConfig(configSchema, { NODE_ENV: 'test', INTERNAL_JWT_SECRET: TEST_INTERNAL_SECRET, DB_SCHEMA: h.env.schema, DATABASE_URL: h.env.databaseUrl });
    const startProcess = async () => {
      const db = createDb<any>({ connectionString: h.env.databaseUrl, schema: h.env.schema, poolMax: 4 });
      const ledger = buildLedger({ config, db, logger: silentLogger(), clock: h.clock });
      const { app } = createApp({ config, logger: silentLogger(), metrics: createMetrics('credits', { collectDefault: false }), ledger });
      const server = await listen(app);
      const maintenance = startWorkers({ ledger, logger: silentLogger(), config: maintenanceConfig(config) });
      return {
        url: server.url,
        stop: async () => {
          await stopWorkers(maintenance);
          await server.close();
          await db.destroy();
        },
      };
    };
    const a = await startProcess();
    const t = newTenant();
    await topUp(a.url, t, 500);
    const created = await call(a.url, 'POST', '/internal/v1/holds', service(), { tenant_id: t, amount: 500, idempotency_key: 'restart', ttl_s: 10 });
    expect(created.status).toBe(201);
    await a.stop(); // the process goes away with the hold still active

    h.clock.advance(10_001); // the TTL passes while nothing runs
    try {
      const b = await startProcess(); // a fresh process: its first maintenance pass runs at start
      try {
        await waitFor(async () => (await balanceOf(b.url, t)).held === 0);
        expect(await balanceOf(b.url, t)).toMatchObject({ available: 500, held: 0 });
        const row = await h.env.db.selectFrom('holds').select(['status']).where('id', '=', created.body.id).executeTakeFirstOrThrow();
        expect(row.status).toBe('expired');
      } finally {
        await b.stop();
      }
    } finally {
      h.clock.offsetMs = 0;
    }
  });
});

describe('events after commit', () => {
  it('an event whose publish failed stays in the outbox and is re-published by maintenance, once', async () => {
    const memory = memoryEventPublisher();
    let failing = true;
    const flaky: EventPublisher = {
      publish: async (event) => {
        if (failing) throw new Error('queue down');
        return memory.publish(event);
      },
      close: async () => undefined,
    };
    const config = parseConfig(configSchema, { NODE_ENV: 'test', INTERNAL_JWT_SECRET: TEST_INTERNAL_SECRET, DB_SCHEMA: h.env.schema });
    const ledger = buildLedger({ config, db: h.env.db, logger: silentLogger(), events: flaky, clock: h.clock });
    const { app } = createApp({ config, logger: silentLogger(), metrics: createMetrics('credits', { collectDefault: false }), ledger });
    const server = await listen(app);
    try {
      const t = newTenant();
      const res = await call(server.url, 'POST', `/v1/admin/tenants/${t}/credits`, admin(), { amount: 10 });
      expect(res.status).toBe(201); // the top-up stands even though the queue was down
      const pending = await sql<{ n: number }>`select count(*) as n from outbox_events where tenant_id = ${t} and published_at is null`.execute(h.env.db);
      expect(pending.rows[0]!.n).toBe(1);
      failing = false;
      await ledger.relay.relayPending(0);
      await ledger.relay.relayPending(0);
      const published: PlatformEvent[] = memory.events.filter((e) => e.tenant_id === t);
      expect(published).toHaveLength(1);
      expect(published[0]).toMatchObject({ id: `evt_${res.body.id}`, type: 'credits.topped_up' });
    } finally {
      await server.close();
    }
  });
});

/** The maintenance loop every 20 ms, no reconciliation. */
function maintenanceConfig(config: Config): Config {
  return { ...config, MAINTENANCE_INTERVAL_MS: 20, HOLD_SWEEP_BATCH: 10, OUTBOX_RELAY_AFTER_MS: 1_000, RECONCILE_INTERVAL_MS: 0 };
}

async function stopWorkers(workers: CreditsWorkers): Promise<void> {
  for (const closer of workers.closers) await closer.close();
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
