import { enqueue, keepJobScheduler, type Logger } from '@tollgate/common';
import type { Queue } from 'bullmq';
import { sql } from 'kysely';
import type { Config } from '../config';
import type { PipelineDeps } from '../deps';
import { IMAGE_COLUMNS } from '../images/repository';
import { generateImageJob, imageJobOptions, ingestImageJob, jobIdFor, publishImageJob, recoverImagesJob } from './catalogue';
import { onFinalJobFailure } from './pipeline';

const RECOVERY_BATCH = 100;
const OUTBOX_RELAY_AFTER_MS = 5_000;

export interface RecoveryResult {
  checked: number;
  requeued: string[];
  failed: string[];
  /** Outbox events a crash left unpublished, published now. */
  eventsRelayed: number;
}

/**
 * Finds images that have sat in queued/generating/processing/publishing for RECOVERY_AFTER_S
 * and looks at the job they wait on. No job (the process died between its transaction and
 * the enqueue): queue it again, under the same job id. A job that failed for good but whose
 * image was never marked (the process died in between): record the failure now. A job that is
 * waiting, delayed or active is left alone, so a long queue is never disturbed.
 */
export async function recoverStuckImages(deps: PipelineDeps): Promise<RecoveryResult> {
  const cutoff = new Date(deps.clock.now().getTime() - deps.config.RECOVERY_AFTER_S * 1000);
  const rows = await deps.db
    .selectFrom('images')
    .select(IMAGE_COLUMNS)
    .where('status', 'in', ['queued', 'generating', 'processing', 'publishing'])
    .where('updated_at', '<', cutoff)
    .orderBy('updated_at')
    .limit(RECOVERY_BATCH)
    .execute();
  const result: RecoveryResult = { checked: rows.length, requeued: [], failed: [], eventsRelayed: 0 };
  for (const image of rows) {
    const target = jobIdFor(image);
    const job = await deps.queue.getJob(target.id);
    if (!job) {
      const options = imageJobOptions(deps.config, target.id);
      if (target.name === 'publish')
        await enqueue(deps.queue, publishImageJob, { image_id: image.id, attempt: image.publish_attempt }, options);
      else await enqueue(deps.queue, target.name === 'ingest' ? ingestImageJob : generateImageJob, { image_id: image.id }, options);
      // Touch the row so the next sweep gives the new job time.
      await deps.db
        .updateTable('images')
        .set({ updated_at: sql`now()` })
        .where('id', '=', image.id)
        .execute();
      result.requeued.push(image.id);
      continue;
    }
    if ((await job.getState()) === 'failed') {
      await onFinalJobFailure(
        deps,
        job.name,
        (job.data ?? {}) as { image_id?: unknown },
        job.attemptsMade,
        new Error(job.failedReason || 'job failed'),
      );
      result.failed.push(image.id);
    }
  }
  // Events younger than a few seconds belong to a request or job that is about to publish them.
  result.eventsRelayed = await deps.outbox.sweep({ minAgeMs: OUTBOX_RELAY_AFTER_MS });
  if (result.requeued.length || result.failed.length || result.eventsRelayed)
    deps.logger.warn('recovered stuck images', { requeued: result.requeued, failed: result.failed, events_relayed: result.eventsRelayed });
  return result;
}

/** Installs (or updates) the one repeating `recover` job; every replica may call it. */
export async function scheduleRecovery(queue: Queue, config: Config, logger?: Logger): Promise<void> {
  if (config.RECOVERY_INTERVAL_MS === 0) {
    await queue.removeJobScheduler('recover-stuck-images');
    return;
  }
  await keepJobScheduler(queue, 'recover-stuck-images', config.RECOVERY_INTERVAL_MS, { name: recoverImagesJob.name, opts: recoverImagesJob.options ?? {} }, logger);
}
