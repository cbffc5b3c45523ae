import type { WebhookRuntime } from '../runtime';
import { enqueueAttempts } from './enqueue';
import { attemptJobId } from './jobs';
import { overdueDeliveries } from './repository';

const LIVE_STATES = new Set(['waiting', 'delayed', 'active', 'prioritized', 'waiting-children']);

/**
 * Postgres is the record of what must be delivered; the queue only carries it. A delivery that
 * is well past due (or whose lease ran out) with no live job — a crash between commit and
 * enqueue, a job BullMQ gave up on, a Redis that lost data — gets its job back.
 */
export async function sweepOverdue(rt: WebhookRuntime, batch = 500): Promise<number> {
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

/** Runs the sweep every interval (never two at once in this process); stop() waits for a running one. */
export function startSweeper(rt: WebhookRuntime): { stop(): Promise<void> } {
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = sweepOverdue(rt)
      .catch((err: unknown) => rt.logger.error('delivery sweep failed', { err }))
      .finally(() => {
        running = undefined;
      });
  }, rt.config.WEBHOOK_SWEEP_INTERVAL_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
