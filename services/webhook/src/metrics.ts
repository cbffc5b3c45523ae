import type { Queue } from 'bullmq';
import { type Metrics, promClient as client } from '@tollgate/common';

export interface WebhookMetrics {
  attempts: client.Counter<'outcome' | 'error_class'>;
  attemptDuration: client.Histogram<'outcome'>;
  /** Event created → the endpoint's 2xx. */
  deliveryLatency: client.Histogram;
  endpointsDisabled: client.Counter<'reason'>;
  eventsIngested: client.Counter<'result'>;
}

/** Registered on the service's registry; queue depth is read from Redis at scrape time. */
export function createWebhookMetrics(metrics: Metrics, queues: Queue[]): WebhookMetrics {
  const registers = [metrics.registry];
  new client.Gauge({
    name: 'webhook_queue_jobs',
    help: 'Jobs in the webhook queues by state',
    labelNames: ['queue', 'state'] as const,
    registers,
    async collect() {
      this.reset();
      for (const queue of queues) {
        try {
          const counts = await queue.getJobCounts('waiting', 'delayed', 'active', 'failed', 'prioritized');
          for (const [state, n] of Object.entries(counts)) this.set({ queue: queue.name, state }, n);
        } catch {
          // Redis down: the gauge is left empty rather than failing the scrape.
        }
      }
    },
  });
  return {
    attempts: new client.Counter({
      name: 'webhook_delivery_attempts_total',
      help: 'Delivery attempts by outcome and error class',
      labelNames: ['outcome', 'error_class'] as const,
      registers,
    }),
    attemptDuration: new client.Histogram({
      name: 'webhook_attempt_duration_seconds',
      help: 'HTTP duration of one delivery attempt',
      labelNames: ['outcome'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30],
      registers,
    }),
    deliveryLatency: new client.Histogram({
      name: 'webhook_delivery_latency_seconds',
      help: 'From the event being created to the endpoint answering 2xx',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 21600, 86400, 259200],
      registers,
    }),
    endpointsDisabled: new client.Counter({
      name: 'webhook_endpoints_disabled_total',
      help: 'Endpoints disabled automatically, by reason',
      labelNames: ['reason'] as const,
      registers,
    }),
    eventsIngested: new client.Counter({
      name: 'webhook_events_ingested_total',
      help: 'Events received, new or repeated',
      labelNames: ['result'] as const,
      registers,
    }),
  };
}
