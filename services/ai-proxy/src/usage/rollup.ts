import { type Logger, type Periodic, startPeriodic } from '@tollgate/common';
import { type Kysely, sql } from 'kysely';
import type { AiDatabase } from '../db';

const DAY_MS = 86_400_000;
const dayOf = (t: Date) => new Date(Math.floor(t.getTime() / DAY_MS) * DAY_MS);
const iso = (d: Date) => d.toISOString().slice(0, 10);

export interface RollupResult {
  /** Days (re)computed. */
  days: string[];
  /** Raw rows deleted past retention. */
  purged: number;
  /** The first day not rolled: reports read raw rows from it on. */
  rolledThrough: string;
}

/**
 * Rolls raw usage up into `usage_daily_tags` and `usage_daily`, one UTC day per transaction: the day's rollup rows are
 * deleted and recomputed from the raw rows, so a run is idempotent and a repeated or concurrent
 * run gives the same table. Every day before today is rolled; the last `lookbackDays` already
 * rolled are recomputed too (a usage row retried after midnight lands in its own day). A day
 * whose raw rows may already be purged is never recomputed. Then `rolled_through` moves to today
 * (reports switch from raw rows to the rollup for those days in the same instant), and raw rows
 * older than `retentionDays` — all of them rolled — are deleted in batches.
 */
export async function rollUpUsage(
  db: Kysely<AiDatabase>,
  options: { now: Date; retentionDays: number; lookbackDays?: number; purgeBatch?: number },
): Promise<RollupResult> {
  const today = dayOf(options.now);
  const horizon = new Date(today.getTime() - options.retentionDays * DAY_MS);
  const state = await sql<{
    rolled_through: string | null;
  }>`select rolled_through::text as rolled_through from usage_rollup_state where id = 1`.execute(db);
  const rolledThrough = state.rows[0]?.rolled_through ?? null;
  let start: Date;
  if (rolledThrough === null) {
    const first = await sql<{ first: Date | null }>`select min(created_at) as first from usage`.execute(db);
    start = first.rows[0]?.first ? dayOf(first.rows[0].first) : today;
  } else {
    const lookback = new Date(today.getTime() - (options.lookbackDays ?? 1) * DAY_MS);
    start = new Date(Math.max(Math.min(Date.parse(rolledThrough), lookback.getTime()), horizon.getTime()));
  }
  const days: string[] = [];
  for (let d = start; d < today; d = new Date(d.getTime() + DAY_MS)) {
    const next = new Date(d.getTime() + DAY_MS);
    await db.transaction().execute(async (trx) => {
      // Two replicas rolling the same day take turns (same result either way, but no wasted work on both).
      await sql`select pg_advisory_xact_lock(hashtext('ai.usage_rollup'), ${Math.floor(d.getTime() / DAY_MS)}::int)`.execute(trx);
      await sql`delete from usage_daily where day = ${iso(d)}::date`.execute(trx);
      await sql`delete from usage_daily_tags where day = ${iso(d)}::date`.execute(trx);
      // The tagged rollup from raw rows, the plain one from it (one pass over the day's raw rows).
      await sql`
        insert into usage_daily_tags (tenant_id, day, key_id, model, tags, requests, input_tokens, output_tokens, cost)
        select tenant_id, ${iso(d)}::date, key_id, model, tags, count(*), sum(prompt_tokens), sum(completion_tokens), sum(cost)
        from usage
        where created_at >= ${d} and created_at < ${next}
        group by tenant_id, key_id, model, tags`.execute(trx);
      await sql`
        insert into usage_daily (tenant_id, day, key_id, model, requests, input_tokens, output_tokens, cost)
        select tenant_id, day, key_id, model, sum(requests), sum(input_tokens), sum(output_tokens), sum(cost)
        from usage_daily_tags where day = ${iso(d)}::date
        group by tenant_id, day, key_id, model`.execute(trx);
    });
    days.push(iso(d));
  }
  // Only forward: a run with an older clock never hands days back to raw rows it may have purged.
  await sql`update usage_rollup_state set rolled_through = greatest(coalesce(rolled_through, ${iso(today)}::date), ${iso(today)}::date) where id = 1`.execute(
    db,
  );
  let purged = 0;
  const batch = options.purgeBatch ?? 10_000;
  for (;;) {
    const res = await sql`
      delete from usage where id in (
        select id from usage where created_at < ${horizon} and created_at < (select rolled_through from usage_rollup_state where id = 1) limit ${batch}
      )`.execute(db);
    const n = Number(res.numAffectedRows ?? 0);
    purged += n;
    if (n < batch) break;
  }
  return { days, purged, rolledThrough: iso(today) };
}

/** The periodic rollup in the API or worker process (any replica may run it). */
export function startUsageRollup(options: {
  db: Kysely<AiDatabase>;
  logger: Logger;
  intervalMs: number;
  retentionDays: number;
  now?: () => Date;
}): Periodic {
  return startPeriodic({
    name: 'usage rollup',
    intervalMs: options.intervalMs,
    logger: options.logger,
    run: async () => {
      const result = await rollUpUsage(options.db, { now: options.now?.() ?? new Date(), retentionDays: options.retentionDays });
      if (result.days.length || result.purged) options.logger.info('usage rolled up', { days: result.days.length, purged: result.purged });
    },
  });
}
