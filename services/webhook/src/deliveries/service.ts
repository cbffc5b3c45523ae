import { conflict, decodeTimeCursor, newId, notFound, type Page, toTimePage, validationFailed } from '@tollgate/common';
import type { AttemptRow, DeliveryRow, DeliveryStatus } from '../db/schema';
import { requireEndpoint } from '../endpoints/service';
import type { WebhookDeps } from '../deps';
import { enqueueAttempts } from './enqueue';
import { ingestEvent } from './fan-out';
import { attemptsOf, findDelivery, findTenantDelivery, listDeliveries as listRows, startNewRound } from './repository';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toDeliveryObject(row: DeliveryRow) {
  return {
    id: row.id,
    object: 'webhook.delivery' as const,
    endpoint_id: row.endpoint_id,
    event_id: row.event_id,
    event_type: row.event_type,
    // `sending` is an internal state: to a caller it is still pending.
    status: row.status === 'sending' ? ('pending' as const) : row.status,
    attempts: row.attempt_count,
    round: row.round,
    next_attempt_at: row.status === 'pending' || row.status === 'sending' ? iso(row.next_attempt_at) : null,
    last_attempt_at: iso(row.last_attempt_at),
    last_status_code: row.last_status_code,
    last_error: row.last_error,
    event_created_at: row.event_created_at.toISOString(),
    succeeded_at: iso(row.succeeded_at),
    failed_at: iso(row.failed_at),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export function toAttemptObject(row: AttemptRow) {
  return {
    id: row.id,
    object: 'webhook.attempt' as const,
    attempt: row.attempt_number,
    round: row.round,
    trigger: row.trigger,
    started_at: row.started_at.toISOString(),
    latency_ms: row.latency_ms,
    status_code: row.status_code,
    outcome: row.outcome,
    error_class: row.error_class,
    error_message: row.error_message,
    response_body: row.response_body,
    response_body_truncated: row.response_body_truncated,
  };
}

export type DeliveryObject = ReturnType<typeof toDeliveryObject>;

export interface DeliveryQuery {
  cursor?: string | undefined;
  limit: number;
  status?: 'pending' | 'succeeded' | 'failed' | undefined;
  event_type?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
}

export async function listEndpointDeliveries(
  rt: WebhookDeps,
  tenantId: string,
  endpointId: string,
  query: DeliveryQuery,
): Promise<Page<DeliveryObject>> {
  await requireEndpoint(rt, tenantId, endpointId);
  const after = query.cursor ? decodeTimeCursor(query.cursor) : undefined;
  // `pending` to a caller covers the internal `sending` too.
  const statuses: DeliveryStatus[] | undefined =
    query.status === 'pending' ? ['pending', 'sending'] : query.status ? [query.status] : undefined;
  const rows = await listRows(
    rt.db,
    { endpointId, statuses, eventType: query.event_type, since: query.since, until: query.until },
    query.limit,
    after,
  );
  return toTimePage(rows, query.limit, toDeliveryObject);
}

export async function getDelivery(rt: WebhookDeps, tenantId: string, id: string) {
  const row = await findTenantDelivery(rt.db, tenantId, id);
  if (!row) throw notFound('Delivery');
  const attempts = await attemptsOf(rt.db, id);
  return { ...toDeliveryObject(row), attempt_log: attempts.map(toAttemptObject) };
}

/** Sends a `webhook.test` event to this endpoint only. */
export async function sendTestEvent(
  rt: WebhookDeps,
  tenantId: string,
  id: string,
): Promise<{ event_id: string; delivery_id: string | null }> {
  const endpoint = await requireEndpoint(rt, tenantId, id);
  if (!endpoint.enabled) throw conflict('The endpoint is disabled; enable it before sending a test event', { param: 'id' });
  const now = rt.clock.now();
  const eventId = newId('evt');
  await ingestEvent(
    rt,
    {
      id: eventId,
      type: 'webhook.test',
      tenant_id: tenantId,
      created_at: now.toISOString(),
      data: { endpoint_id: id, message: 'This is a test event from Tollgate.' },
    },
    { onlyEndpointId: id },
  );
  const delivery = await rt.db
    .selectFrom('deliveries')
    .select('id')
    .where('event_id', '=', eventId)
    .where('endpoint_id', '=', id)
    .executeTakeFirst();
  return { event_id: eventId, delivery_id: delivery?.id ?? null };
}

/** Resends a finished delivery now, with a fresh retry schedule. */
export async function retryDelivery(rt: WebhookDeps, tenantId: string, deliveryId: string) {
  const now = rt.clock.now();
  const delivery = await findTenantDelivery(rt.db, tenantId, deliveryId);
  if (!delivery) throw notFound('Delivery');
  const endpoint = await requireEndpoint(rt, tenantId, delivery.endpoint_id);
  if (!endpoint.enabled) throw conflict('The endpoint is disabled; enable it before retrying', { param: 'id' });
  const [started] = await startNewRound(rt.db, { id: deliveryId }, 'manual', now);
  if (!started) throw conflict('The delivery is already scheduled or in flight', { status: delivery.status });
  await enqueueAttempts(rt.deliveryQueue, [{ id: started.id, endpointId: started.endpoint_id, round: started.round, attempt: 1 }], now);
  return (await findDelivery(rt.db, deliveryId))!;
}

export const MAX_REPLAY = 10_000;

/** Resends the failed deliveries of an endpoint created in [since, until). */
export async function replayFailed(
  rt: WebhookDeps,
  tenantId: string,
  id: string,
  since: Date,
  until: Date | undefined,
): Promise<{ replayed: number; truncated: boolean }> {
  const now = rt.clock.now();
  const end = until ?? now;
  if (end <= since) throw validationFailed('until must be after since', { param: 'until' });
  const endpoint = await requireEndpoint(rt, tenantId, id);
  if (!endpoint.enabled) throw conflict('The endpoint is disabled; enable it before replaying', { param: 'id' });
  const started = await startNewRound(rt.db, { endpointId: id, since, until: end, limit: MAX_REPLAY }, 'replay', now);
  for (let i = 0; i < started.length; i += 500) {
    await enqueueAttempts(
      rt.deliveryQueue,
      started.slice(i, i + 500).map((d) => ({ id: d.id, endpointId: d.endpoint_id, round: d.round, attempt: 1 })),
      now,
    );
  }
  return { replayed: started.length, truncated: started.length === MAX_REPLAY };
}
