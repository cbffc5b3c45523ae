import { type Periodic, startPeriodic } from '@tollgate/common';
import type { WebhookDeps } from '../deps';
import { enqueueAttempts } from './enqueue';
import { attemptJobId } from './jobs';
import { overdueDeliveries } from './repository';

const LIVE_STATES = new Set(['waiting', 'delayed', 'active', 'prioritized', 'waiting-children']);

/**
 * Postgres is the record of what must be delivered; the queue only carries it. A delivery that
 * is well past due (or whose lease ran out) with no live job — a crash between commit and
 * enqueue, a job BullMQ gave up on, a Redis that lost data — gets its job back.
 */
export async function sweepOverdue(rt: WebhookDeps, batch = 500): Promise<number> {
  const now = rt.clock.now();
  const overdue = await overdueDeliveries(rt.db, new Date(now.getTime() - rt.config.WEBHOOK_SWEEP_GRACE_MS), batch);
  let requeued = 0;
  for (const d of overdue) {
    const attempt = d.status === 'pending' ? d.round_attempts + 1 : d.round_attempts;
    const jobId = attemptJobId(d.id, d.round, attempt);
    const state = await rt.deliveryQueue.getJobState(jobId);
    if (LIVE_STATES.has(state)) continue;
    if (state === 'completed' || state === 'failed') await rt.deliveryQueue.remove(jobId);
    await enqueueAttempts(rt.deliveryQueue, [{ id: d.id, endpointId: d.endpoint_id, round: d.round, attempt }], now);
    requeued++;
  }
  if (requeued > 0) rt.logger.warn('re-enqueued overdue deliveries', { count: requeued });
  return requeued;
}

/** Runs the sweep every WEBHOOK_SWEEP_INTERVAL_MS (never two at once in this process). */
export function startSweeper(rt: WebhookDeps): Periodic {
  return startPeriodic({
    name: 'delivery sweep',
    intervalMs: rt.config.WEBHOOK_SWEEP_INTERVAL_MS,
    logger: rt.logger,
    run: () => sweepOverdue(rt),
  });
}
