import {
  AppError,
  decodeTimeCursor,
  enqueueWithin,
  newId,
  notFound,
  type OutboxEvent,
  type Page,
  recordEvent,
  toAppError,
  toTimePage,
} from '@tollgate/common';
import type { Readable } from 'node:stream';
import type { ImageRow, VariantName } from '../db';
import type { PipelineDeps } from '../deps';
import { recordImageEvent } from '../events';
import { imageJobOptions, publishImageJob } from '../jobs/catalogue';
import { failPublish } from '../jobs/pipeline';
import { imagePrefix } from '../storage/storage';
import { type ImageView, toImageView } from './presenter';
import { deleteImageRow, findImage, listImages, lockImage, transitionImage } from './repository';
import { ACTION_ACCEPTS, ACTION_ALREADY_DONE, type ImageStatus, type ReviewAction, wrongState } from './states';

export async function getImage(deps: PipelineDeps, tenantId: string, id: string): Promise<ImageView> {
  const row = await findImage(deps.db, tenantId, id);
  if (!row) throw notFound('Image');
  return toImageView(row);
}

export async function listTenantImages(
  deps: PipelineDeps,
  tenantId: string,
  q: { status?: ImageStatus | undefined; job_id?: string | undefined; cursor?: string | undefined; limit: number },
): Promise<Page<ImageView>> {
  const after = q.cursor ? decodeTimeCursor(q.cursor) : undefined;
  const rows = await listImages(deps.db, { tenantId, limit: q.limit, status: q.status, jobId: q.job_id, after });
  return toTimePage(rows, q.limit, toImageView);
}

export interface ContentStream {
  stream: Readable;
  bytes: number;
  contentType: string;
  sha256: string;
  filename: string;
}

export async function openImageContent(deps: PipelineDeps, tenantId: string, id: string, variant: VariantName): Promise<ContentStream> {
  const row = await findImage(deps.db, tenantId, id);
  if (!row) throw notFound('Image');
  const stored = row.variants[variant];
  if (!stored) {
    throw new AppError('NOT_FOUND', `Image ${id} has no ${variant} variant (status ${row.status})`, {
      details: { variant, status: row.status },
    });
  }
  const opened = await deps.storage.open(stored.key);
  if (!opened) throw notFound('Image content');
  const extension = stored.format === 'jpeg' ? 'jpg' : stored.format;
  return {
    stream: opened.stream,
    bytes: opened.bytes,
    contentType: stored.content_type,
    sha256: stored.sha256,
    filename: `${id}-${variant}.${extension}`,
  };
}

export type ItemOutcome =
  { kind: 'applied'; image: ImageRow | null; event?: OutboxEvent } | { kind: 'skipped'; image: ImageRow; reason: string };

/**
 * One review action on one image, in its own transaction with the row locked: the state is
 * checked and changed together, so two reviewers (or a batch and a single action) never both
 * apply. Side effects (events, the publish job, deleting files) follow the commit.
 */
export async function applyAction(
  deps: PipelineDeps,
  tenantId: string,
  action: ReviewAction,
  id: string,
  options: { reason?: string; strict?: boolean } = {},
): Promise<ItemOutcome> {
  const outcome = await deps.db.transaction().execute(async (tx): Promise<ItemOutcome> => {
    const row = await lockImage(tx, tenantId, id);
    if (!row) throw notFound('Image');
    if (!options.strict && ACTION_ALREADY_DONE[action].includes(row.status))
      return { kind: 'skipped', image: row, reason: `already ${row.status}` };
    if (!ACTION_ACCEPTS[action].includes(row.status)) throw wrongState(id, action, row.status);
    switch (action) {
      case 'approve': {
        const image = (await transitionImage(tx, id, ACTION_ACCEPTS.approve, 'approved'))!;
        return { kind: 'applied', image, event: await recordImageEvent(tx, 'image.approved', image, 'approved') };
      }
      case 'reject': {
        const image = (await transitionImage(
          tx,
          id,
          ACTION_ACCEPTS.reject,
          'rejected',
          { rejection_reason: options.reason ?? null },
          options.reason ?? null,
        ))!;
        return {
          kind: 'applied',
          image,
          event: await recordImageEvent(tx, 'image.rejected', image, 'rejected', { reason: image.rejection_reason }),
        };
      }
      case 'publish':
        return {
          kind: 'applied',
          image: (await transitionImage(tx, id, ACTION_ACCEPTS.publish, 'publishing', {
            publish_attempt: row.publish_attempt + 1,
            failure_code: null,
            failure_message: null,
          }))!,
        };
      case 'delete':
        await deleteImageRow(tx, id);
        return { kind: 'applied', image: null };
    }
  });
  if (outcome.kind === 'skipped') return outcome;

  const image = outcome.image;
  if (outcome.event) await deps.outbox.publishNow([outcome.event]);
  if (action === 'publish' && image) {
    try {
      // The 'publishing' row is durable: a slow Redis gets the add on reconnect (or from the
      // recovery sweep) instead of holding the request.
      const queued = await enqueueWithin(
        deps.queue,
        publishImageJob,
        { image_id: id, attempt: image.publish_attempt },
        imageJobOptions(deps.config, `publish-${id}-${image.publish_attempt}`),
        deps.config.ENQUEUE_WAIT_MS,
      );
      if (queued.state === 'pending')
        deps.logger.warn('publish accepted while the queue is unreachable; it is queued when Redis answers', { image_id: id });
    } catch (err) {
      await failPublish(deps, id, 'The publish job could not be queued');
      throw new AppError('SERVICE_UNAVAILABLE', 'The publish could not be queued; try again', { cause: err });
    }
  }
  if (action === 'delete') {
    await deps.storage
      .deletePrefix(imagePrefix(tenantId, id))
      .catch((err: unknown) => deps.logger.warn('image files could not be deleted', { image_id: id, err }));
  }
  return outcome;
}

export interface BatchResult {
  batch_id: string;
  action: ReviewAction;
  successful: string[];
  failed: { id: string; code: string; message: string }[];
  skipped: { id: string; reason: string }[];
  counts: { requested: number; successful: number; failed: number; skipped: number };
}

/**
 * A batch applies the action to each id independently (its own transaction): one bad id never
 * blocks or half-applies another. Another tenant's id is reported exactly like a missing one.
 */
export async function runBatch(
  deps: PipelineDeps,
  tenantId: string,
  action: ReviewAction,
  ids: string[],
  options: { reason?: string } = {},
): Promise<BatchResult> {
  const result: BatchResult = {
    batch_id: newId('batch'),
    action,
    successful: [],
    failed: [],
    skipped: [],
    counts: { requested: ids.length, successful: 0, failed: 0, skipped: 0 },
  };
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) {
      result.skipped.push({ id, reason: 'duplicate in this batch' });
      continue;
    }
    seen.add(id);
    try {
      const outcome = await applyAction(deps, tenantId, action, id, options);
      if (outcome.kind === 'skipped') result.skipped.push({ id, reason: outcome.reason });
      else result.successful.push(id);
    } catch (err) {
      const appError = toAppError(err);
      if (appError.status >= 500 && !appError.expose)
        deps.logger.error('batch item failed', { batch_id: result.batch_id, image_id: id, action, err });
      const message = appError.status >= 500 && !appError.expose ? 'The action could not be applied to this image' : appError.message;
      result.failed.push({ id, code: appError.code, message });
    }
  }
  result.counts = {
    requested: ids.length,
    successful: result.successful.length,
    failed: result.failed.length,
    skipped: result.skipped.length,
  };
  deps.logger.info('batch completed', { batch_id: result.batch_id, action, ...result.counts });
  // The batch's own news has no state change of its own to ride with: it is recorded on its own,
  // so it is still relayed if the process dies before the publish.
  const batchEvent = await recordEvent(deps.db, {
    id: `evt_${result.batch_id}`,
    type: 'batch.completed',
    tenant_id: tenantId,
    data: {
      batch_id: result.batch_id,
      action,
      counts: result.counts,
      successful: result.successful,
      failed: result.failed,
      skipped: result.skipped,
    },
  });
  await deps.outbox.publishNow([batchEvent]);
  return result;
}
