import { notFound, type Page, decodeTimeCursor, toTimePage } from '@tollgate/common';
import type { AttemptRow, DeliveryRow, DeliveryStatus } from '../db/schema';
import { requireEndpoint } from '../endpoints/service';
import type { WebhookRuntime } from '../runtime';
import { attemptsOf, findTenantDelivery, listDeliveries as listRows } from './repository';

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
  rt: WebhookRuntime,
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

export async function getDelivery(rt: WebhookRuntime, tenantId: string, id: string) {
  const row = await findTenantDelivery(rt.db, tenantId, id);
  if (!row) throw notFound('Delivery');
  const attempts = await attemptsOf(rt.db, id);
  return { ...toDeliveryObject(row), attempt_log: attempts.map(toAttemptObject) };
}
