import { createWorker, type ServiceWorkers } from '@tollgate/common';
import type { ConnectionOptions, Worker } from 'bullmq';
import { configureSharp, type ImagePipelineDeps, type PipelineDeps } from './deps';
import { IMAGE_JOBS_QUEUE } from './jobs/catalogue';
import { scheduleRecovery } from './jobs/recovery';
import { imageJobHandlers } from './jobs/handlers';
import { onFinalJobFailure } from './jobs/pipeline';

export interface ImageWorkerOptions {
  connection: ConnectionOptions;
  prefix: string;
}

/**
 * The `image-jobs` worker. A worker killed mid-job stops renewing its lock; after
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

/**
 * The image-pipeline workers: the `image-jobs` worker (its running state is a readiness check)
 * and the repeating recovery sweep. Inside the API process (RUN_WORKERS_IN_API) or alone with
 * `--role=worker`.
 */
export async function startWorkers(deps: ImagePipelineDeps): Promise<ServiceWorkers> {
  const worker = createImageWorker(deps, { connection: deps.queueRedis, prefix: deps.config.REDIS_PREFIX });
  deps.readiness.register('image-worker', async () => {
    if (!worker.isRunning()) throw new Error('worker is not running');
  });
  await scheduleRecovery(deps.queue, deps.config, deps.logger);
  return { closers: [{ name: 'image-worker', close: () => worker.close() }] };
}
