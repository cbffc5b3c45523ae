import type { ConnectionOptions, Queue, Worker } from 'bullmq';
import { type Closer, createQueue, createWorker, handler, keepJobScheduler, type Logger } from '@tollgate/common';
import type { UploadProcessDeps } from './deps';
import { MAINTENANCE_QUEUE, SWEEP_SCHEDULER_ID, sweepJob } from './maintenance/jobs';
import type { Sweeper } from './maintenance/sweeper';

export interface MaintenanceOptions {
  sweeper: Sweeper;
  connection: ConnectionOptions;
  prefix: string;
  logger: Logger;
  intervalMs: number;
}

export interface Maintenance {
  queue: Queue;
  worker: Worker;
  closers: Closer[];
}

/**
 * Schedules the repeatable sweep (one scheduler for every replica: BullMQ dedupes by id) and
 * consumes `upload-maintenance`.
 */
export async function startMaintenance(options: MaintenanceOptions): Promise<Maintenance> {
  const queue = createQueue(MAINTENANCE_QUEUE, { connection: options.connection, prefix: options.prefix });
  await keepJobScheduler(queue, SWEEP_SCHEDULER_ID, options.intervalMs, { name: sweepJob.name, opts: sweepJob.options ?? {} }, options.logger);
  const worker = createWorker(MAINTENANCE_QUEUE, [handler(sweepJob, () => options.sweeper.run())], {
    connection: options.connection,
    prefix: options.prefix,
    logger: options.logger,
    concurrency: 1,
  });
  return {
    queue,
    worker,
    closers: [
      { name: 'upload-maintenance worker', close: () => worker.close() },
      { name: 'upload-maintenance queue', close: () => queue.close() },
    ],
  };
}

/** The upload workers: the maintenance sweep, in the API process (RUN_WORKERS_IN_API) or alone with --role=worker. */
export function startWorkers(deps: UploadProcessDeps): Promise<Maintenance> {
  return startMaintenance({
    sweeper: deps.sweeper,
    connection: deps.queueRedis,
    prefix: deps.config.REDIS_PREFIX,
    logger: deps.logger,
    intervalMs: deps.config.MAINTENANCE_INTERVAL_MS,
  });
}
