import type { ConnectionOptions, Queue } from 'bullmq';
import { z } from 'zod';
import { newId } from './ids';
import { createQueue, defineJob, enqueue } from './queues';

/** The event types of docs/architecture.md ("Events"). */
export const EVENT_TYPES = [
  'completion.completed',
  'completion.failed',
  'credits.topped_up',
  'credits.low_balance',
  'file.uploaded',
  'file.expired',
  'file.deleted',
  'image.generation.completed',
  'image.generation.failed',
  'image.approved',
  'image.rejected',
  'image.published',
  'batch.completed',
  'endpoint.disabled',
  'webhook.test',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export const WEBHOOK_EVENTS_QUEUE = 'webhook-events';

/** `{id, type, tenant_id, created_at, data}`: what a service hands the webhook service. */
export const platformEventSchema = z.object({
  id: z.string().regex(/^evt_[A-Za-z0-9_]{16,80}$/),
  type: z.enum(EVENT_TYPES),
  tenant_id: z.string().min(1).max(128),
  created_at: z.string().datetime({ offset: true }),
  data: z.record(z.string(), z.unknown()),
});

export type PlatformEvent = z.infer<typeof platformEventSchema>;

export const webhookEventJob = defineJob('event', platformEventSchema, {
  attempts: 10,
  backoff: { type: 'exponential', delay: 1_000 },
});

export interface EventPublisher {
  publish(event: { type: EventType; tenant_id: string; data: Record<string, unknown>; id?: string; created_at?: string }): Promise<PlatformEvent>;
  close(): Promise<void>;
}

/**
 * Publishes to the `webhook-events` queue. The event id doubles as the BullMQ jobId, so
 * publishing the same event twice (a retried handler) enqueues it once. Callers that must not
 * lose an event derive its id from what happened (e.g. `evt_` + the transaction id) and
 * publish after their own transaction committed.
 */
export function createEventPublisher(options: { connection: ConnectionOptions; prefix: string; queue?: Queue }): EventPublisher {
  const queue = options.queue ?? createQueue(WEBHOOK_EVENTS_QUEUE, { connection: options.connection, prefix: options.prefix });
  return {
    async publish(input) {
      const event: PlatformEvent = platformEventSchema.parse({
        id: input.id ?? newId('evt'),
        type: input.type,
        tenant_id: input.tenant_id,
        created_at: input.created_at ?? new Date().toISOString(),
        data: input.data,
      });
      await enqueue(queue, webhookEventJob, event, { jobId: event.id });
      return event;
    },
    async close() {
      if (!options.queue) await queue.close();
    },
  };
}

/** A publisher that keeps events in memory (tests of services that only emit). */
export function memoryEventPublisher(): EventPublisher & { events: PlatformEvent[] } {
  const events: PlatformEvent[] = [];
  return {
    events,
    async publish(input) {
      const event = platformEventSchema.parse({ ...input, id: input.id ?? newId('evt'), created_at: input.created_at ?? new Date().toISOString() });
      if (!events.some((e) => e.id === event.id)) events.push(event);
      return event;
    },
    async close() {},
  };
}
