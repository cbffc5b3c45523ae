import { type EventType, type OutboxEvent, recordEvent } from '@tollgate/common';
import type { DbOrTx, ImageRow } from './db';

/**
 * Event ids are derived from what happened (`evt_<image>_approved`), so a retried handler or a
 * replayed batch item records the same event id and the webhook queue keeps one.
 */
export const imageEventId = (imageId: string, what: string): string => `evt_${imageId}_${what}`;

export function imageEventData(image: ImageRow, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    image_id: image.id,
    status: image.status,
    source: image.source,
    profile: image.profile,
    job_id: image.job_id,
    file_id: image.file_id,
    ...extra,
  };
}

/**
 * Records an image's event in the transaction that made its state change (packages/common's
 * outbox): the event exists exactly when the change committed. The caller hands it to
 * `deps.outbox.publishNow` after the commit; a crash in between is covered by the relay that
 * runs with the recovery sweep.
 */
export function recordImageEvent(
  tx: DbOrTx,
  type: EventType,
  image: ImageRow,
  what: string,
  extra: Record<string, unknown> = {},
): Promise<OutboxEvent> {
  return recordEvent(tx, { id: imageEventId(image.id, what), type, tenant_id: image.tenant_id, data: imageEventData(image, extra) });
}
