// The fan-out of an event into deliveries: the event row and a delivery per matching endpoint
// are written in one transaction, then the first attempts are enqueued. The ingest routes, the
// events queue's worker and the engine (an endpoint.disabled announcement) all come here.
import type { PlatformEvent } from '@tollgate/common';
import { newId } from '@tollgate/common';
import type { Db, NewDelivery } from '../db/schema';
import { matchesAny } from '../endpoints/event-filter';
import { listEnabledEndpoints } from '../endpoints/repository';
import type { WebhookDeps } from '../deps';
import { enqueueAttempts } from './enqueue';
import { insertDeliveries, insertEventIfNew, type UnstartedDelivery, unstartedDeliveriesOfEvent } from './repository';
import { jittered } from './schedule';

export interface IngestResult {
  event_id: string;
  duplicate: boolean;
  deliveries: number;
}

/**
 * The body every attempt sends, serialised once and stored: retries send the same bytes, so
 * the signature a receiver checks is always over exactly what it got.
 */
export function serialisePayload(event: Pick<PlatformEvent, 'type' | 'created_at' | 'data'>): string {
  return JSON.stringify({ type: event.type, timestamp: new Date(event.created_at).toISOString(), data: event.data });
}

/**
 * Stores an event and creates a delivery for every enabled endpoint of its tenant whose filter
 * matches (or only for `onlyEndpointId`), inside the caller's transaction. False when the event
 * id was already known (nothing is stored twice).
 */
export async function storeEvent(
  trx: Db,
  rt: WebhookDeps,
  event: PlatformEvent,
  options: { onlyEndpointId?: string } = {},
): Promise<UnstartedDelivery[] | null> {
  const now = rt.clock.now();
  const firstDelay = jittered(rt.retryPolicy.schedule[0] ?? 0, rt.retryPolicy.jitter, rt.retryPolicy.random);
  const inserted = await insertEventIfNew(trx, {
    id: event.id,
    tenant_id: event.tenant_id,
    type: event.type,
    created_at: new Date(event.created_at),
    received_at: now,
    payload: serialisePayload(event),
  });
  if (!inserted) return null;
  const endpoints = await listEnabledEndpoints(trx, event.tenant_id);
  const targets = options.onlyEndpointId
    ? endpoints.filter((e) => e.id === options.onlyEndpointId)
    : endpoints.filter((e) => matchesAny(e.event_types, event.type));
  const rows: NewDelivery[] = targets.map((endpoint) => ({
    id: newId('dlv'),
    tenant_id: event.tenant_id,
    endpoint_id: endpoint.id,
    event_id: event.id,
    event_type: event.type,
    event_created_at: new Date(event.created_at),
    status: 'pending',
    next_attempt_at: new Date(now.getTime() + firstDelay),
    created_at: now,
    updated_at: now,
  }));
  return insertDeliveries(trx, rows);
}

/**
 * Enqueues the first attempt of an event's deliveries that have not started (job ids make it
 * idempotent); `known` skips reading them back when the caller has just created them.
 */
export async function enqueueUnstarted(rt: WebhookDeps, eventId: string, known?: UnstartedDelivery[]): Promise<number> {
  const unstarted = known ?? (await unstartedDeliveriesOfEvent(rt.db, eventId));
  await enqueueAttempts(
    rt.deliveryQueue,
    unstarted.map((d) => ({ id: d.id, endpointId: d.endpoint_id, round: d.round, attempt: 1, at: d.next_attempt_at })),
    rt.clock.now(),
  );
  return unstarted.length;
}

/**
 * Stores an event and fans it out in one transaction, then enqueues the first attempts. Safe to
 * repeat: a known event id stores nothing new, and its unstarted deliveries are re-enqueued under
 * the same job ids (covering a crash between commit and enqueue).
 */
export async function ingestEvent(
  rt: WebhookDeps,
  event: PlatformEvent,
  options: { onlyEndpointId?: string } = {},
): Promise<IngestResult> {
  const created = await rt.db.transaction().execute((trx) => storeEvent(trx, rt, event, options));
  rt.webhookMetrics.eventsIngested.inc({ result: created ? 'new' : 'duplicate' });
  const deliveries = await enqueueUnstarted(rt, event.id, created ?? undefined);
  return { event_id: event.id, duplicate: created === null, deliveries };
}
