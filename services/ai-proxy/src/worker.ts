import { createWorker, handler, keepJobScheduler, type Logger } from '@tollgate/common';
import type { ConnectionOptions, Queue, Worker } from 'bullmq';
import { AI_COMPLETIONS_QUEUE, recoverAsyncJobsJob, RECOVERY_SCHEDULER_ID, runCompletionJob } from './async/jobs';
import type { AsyncService } from './async/service';

/** The `ai-completions` worker: inside the API process by default, alone with --role=worker. */
export function createCompletionsWorker(options: {
  service: AsyncService;
  connection: ConnectionOptions;
  prefix: string;
  logger: Logger;
  concurrency: number;
  /** The recovery sweep's "untouched this long" (ASYNC_RECOVERY_AFTER_S). */
  recoveryAfterS: number;
  /** Finished jobs older than this are deleted by the same sweep (ASYNC_JOB_RETENTION_DAYS). */
  retentionDays?: number;
}): Worker {
  const handlers = [
    handler(runCompletionJob, (data, job) => options.service.run(data.job_id, job)),
    handler(recoverAsyncJobsJob, async () => {
      const recovered = await options.service.recoverStuck(options.recoveryAfterS);
      const pruned = options.retentionDays ? await options.service.pruneFinished(options.retentionDays) : 0;
      return { ...recovered, pruned };
    }),
  ];
  return createWorker(AI_COMPLETIONS_QUEUE, handlers, {
    connection: options.connection,
    prefix: options.prefix,
    logger: options.logger,
    concurrency: options.concurrency,
    onFinalFailure: async (job, error) => {
      const jobId = (job.data as { job_id?: unknown })?.job_id;
      if (job.name === runCompletionJob.name && typeof jobId === 'string') await options.service.fail(jobId, error);
    },
  });
}

/** Installs (or updates) the one repeating recovery job; every replica may call it. */
export async function scheduleAsyncRecovery(queue: Queue, intervalMs: number, logger?: Logger): Promise<void> {
  if (intervalMs === 0) {
    await queue.removeJobScheduler(RECOVERY_SCHEDULER_ID);
    return;
  }
  await keepJobScheduler(queue, RECOVERY_SCHEDULER_ID, intervalMs, { name: recoverAsyncJobsJob.name, opts: recoverAsyncJobsJob.options ?? {} }, logger);
}
