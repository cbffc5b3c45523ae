import type { Queue } from 'bullmq';
import { type Metrics, type promClient as client, seriesOn } from '@tollgate/common';
import { type Kysely, sql } from 'kysely';

export interface WebhookMetrics {
  attempts: client.Counter<'outcome' | 'error_class'>;
  attemptDuration: client.Histogram<'outcome'>;
  /** Event created → the endpoint's 2xx. */
  deliveryLatency: client.Histogram;
  endpointsDisabled: client.Counter<'reason'>;
  eventsIngested: client.Counter<'result'>;
}

/** Registered on the service's registry; queue depth is read from Redis at scrape time. */
export function createWebhookMetrics(metrics: Metrics, queues: Queue[], db?: Kysely<any>): WebhookMetrics {
  const series = seriesOn(metrics);
  if (db) observeDeliveryBacklog(series, db);
  series.gauge('webhook_queue_jobs', 'Jobs in the webhook queues by state', ['queue', 'state'], async function () {
    this.reset();
    for (const queue of queues) {
      try {
        const counts = await queue.getJobCounts('waiting', 'delayed', 'active', 'failed', 'prioritized');
        for (const [state, n] of Object.entries(counts)) this.set({ queue: queue.name, state }, n);
      } catch {
        // Redis down: the gauge is left empty rather than failing the scrape.
      }
    }
  });
  return {
    attempts: series.counter('webhook_delivery_attempts_total', 'Delivery attempts by outcome and error class', ['outcome', 'error_class']),
    attemptDuration: series.histogram('webhook_attempt_duration_seconds', 'HTTP duration of one delivery attempt', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30], ['outcome']),
    deliveryLatency: series.histogram('webhook_delivery_latency_seconds', 'From the event being created to the endpoint answering 2xx', [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 21600, 86400, 259200]),
    endpointsDisabled: series.counter('webhook_endpoints_disabled_total', 'Endpoints disabled automatically, by reason', ['reason']),
    eventsIngested: series.counter('webhook_events_ingested_total', 'Events received, new or repeated', ['result']),
  };
}

/**
 * Read from the database at scrape time (every replica reports the same; alerts take the max):
 * how old the oldest unfinished delivery is, and how many endpoints are disabled, by reason.
 * The database being down leaves the series out (db_pool_* and readiness say why).
 */
function observeDeliveryBacklog(series: ReturnType<typeof seriesOn>, db: Kysely<any>): void {
  series.gauge('webhook_delivery_overdue_seconds', 'How long the most overdue unfinished delivery has been due (its next attempt time passed, not yet sent); 0: none', [], async function () {
    try {
      // Due, not merely pending: a delivery waiting for its 6-hour retry is on schedule.
      const { rows } = await sql<{ s: number }>`select coalesce(extract(epoch from now() - min(coalesce(next_attempt_at, created_at))), 0)::float8 as s
        from deliveries where status in ('pending', 'sending') and coalesce(next_attempt_at, created_at) < now()`.execute(db);
      this.set(rows[0]?.s ?? 0);
    } catch {
      // no sample
    }
  });
  series.gauge('webhook_endpoints_disabled', 'Endpoints currently disabled, by reason (failing, gone, manual)', ['reason'], async function () {
    try {
      const { rows } = await sql<{ reason: string; n: number }>`select disabled_reason as reason, count(*)::int as n from endpoints where not enabled group by disabled_reason`.execute(db);
      this.reset();
      for (const reason of ['failing', 'gone', 'manual']) this.set({ reason }, rows.find((r) => r.reason === reason)?.n ?? 0);
    } catch {
      // no sample
    }
  });
}
