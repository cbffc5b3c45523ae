import type { EventType } from '@tollgate/common';
import type { PipelineDeps } from './deps';
import type { ImageRow } from './db';

/**
 * Event ids are derived from what happened (`evt_<image>_approved`), so a retried handler or a
 * replayed batch item publishes the same event id and the webhook queue keeps one.
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
 * Events go out after the state change committed. A failure to enqueue one is logged, never
 * turned into a failed action: the state is the truth, the event is news about it.
 */
export async function emitEvent(
  deps: Pick<PipelineDeps, 'events' | 'logger'>,
  type: EventType,
  tenantId: string,
  id: string,
  data: Record<string, unknown>,
): Promise<void> {
  try {
    await deps.events.publish({ id, type, tenant_id: tenantId, data });
  } catch (err) {
    deps.logger.error('event could not be published', { event_type: type, event_id: id, err });
  }
}

export function emitImageEvent(
  deps: Pick<PipelineDeps, 'events' | 'logger'>,
  type: EventType,
  image: ImageRow,
  what: string,
  extra: Record<string, unknown> = {},
): Promise<void> {
  return emitEvent(deps, type, image.tenant_id, imageEventId(image.id, what), imageEventData(image, extra));
}
