import { createWorker } from '@tollgate/common';
import type { ConnectionOptions, Worker } from 'bullmq';
import sharp from 'sharp';
import type { Config } from './config';
import type { PipelineDeps } from './deps';
import { IMAGE_JOBS_QUEUE } from './jobs/catalogue';
import { imageJobHandlers } from './jobs/handlers';
import { onFinalJobFailure } from './jobs/pipeline';
import { restrictDecoders } from './processing/inspect';

/**
 * Process-wide sharp settings: only PNG/JPEG/WebP decoders, no operation cache (large images
 * would otherwise pin memory between jobs), and the configured libvips thread count.
 */
export function configureSharp(config: Config): void {
  restrictDecoders();
  sharp.cache(false);
  if (config.SHARP_CONCURRENCY > 0) sharp.concurrency(config.SHARP_CONCURRENCY);
}

export interface ImageWorkerOptions {
  connection: ConnectionOptions;
  prefix: string;
}

/**
 * The `image-jobs` worker. Runs inside the API process by default, or alone with
 * `--role=worker`. A worker killed mid-job stops renewing its lock; after
 * WORKER_LOCK_DURATION_MS another worker's stalled check moves the job back to wait and it
 * runs again: the handlers resume from the image's state in Postgres.
 */
export function createImageWorker(deps: PipelineDeps, options: ImageWorkerOptions): Worker {
  configureSharp(deps.config);
  const { config } = deps;
  return createWorker(IMAGE_JOBS_QUEUE, imageJobHandlers(deps), {
    connection: options.connection,
    prefix: options.prefix,
    logger: deps.logger,
    concurrency: config.IMAGE_JOBS_CONCURRENCY,
    onFinalFailure: (job, error) => onFinalJobFailure(deps, job.name, (job.data ?? {}) as { image_id?: unknown }, job.attemptsMade, error),
    workerOptions: {
      lockDuration: config.WORKER_LOCK_DURATION_MS,
      stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
      maxStalledCount: config.WORKER_MAX_STALLED_COUNT,
    },
  });
}
