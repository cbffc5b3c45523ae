import { type Periodic, startPeriodic } from '@tollgate/common';
import { sql } from 'kysely';
import type { WebhookDeps } from '../deps';

export interface PruneResult {
  deliveries: number;
  events: number;
}

/**
 * Deletes what is past retention, in batches so no statement holds locks for long: finished
 * (succeeded or failed) deliveries older than the cutoff, with their attempts (cascade), then
 * events as old that no delivery refers to any more. A pending delivery keeps its event, however old.
 */
export async function pruneExpired(rt: WebhookDeps, options: { batch?: number; maxBatches?: number } = {}): Promise<PruneResult> {
  const batch = options.batch ?? 1_000;
  const maxBatches = options.maxBatches ?? 100;
  const cutoff = new Date(rt.clock.now().getTime() - rt.config.WEBHOOK_RETENTION_DAYS * 86_400_000);
  const result: PruneResult = { deliveries: 0, events: 0 };
  for (let i = 0; i < maxBatches; i++) {
    const deleted = await sql`
      delete from deliveries where id in (
        select id from deliveries
        where status in ('succeeded', 'failed') and updated_at < ${cutoff}
        order by updated_at limit ${batch}
        for update skip locked
      )`.execute(rt.db);
    const n = Number(deleted.numAffectedRows ?? 0);
    result.deliveries += n;
    if (n < batch) break;
  }
  for (let i = 0; i < maxBatches; i++) {
    const deleted = await sql`
      delete from events where id in (
        select e.id from events e
        where e.received_at < ${cutoff}
          and not exists (select 1 from deliveries d where d.event_id = e.id)
        order by e.received_at limit ${batch}
        for update skip locked
      )`.execute(rt.db);
    const n = Number(deleted.numAffectedRows ?? 0);
    result.events += n;
    if (n < batch) break;
  }
  if (result.deliveries > 0 || result.events > 0)
    rt.logger.info('webhook history past retention deleted', { ...result, retention_days: rt.config.WEBHOOK_RETENTION_DAYS });
  return result;
}

/** Runs the retention sweep every WEBHOOK_RETENTION_INTERVAL_MS (every replica may; batches skip locked rows). */
export function startRetention(rt: WebhookDeps): Periodic {
  return startPeriodic({
    name: 'webhook retention sweep',
    intervalMs: rt.config.WEBHOOK_RETENTION_INTERVAL_MS,
    logger: rt.logger,
    run: () => pruneExpired(rt),
  });
}
