import { createWorker, handler, keepJobScheduler, type Logger, type ServiceWorkers } from '@tollgate/common';
import type { ConnectionOptions, Queue, Worker } from 'bullmq';
import { AI_COMPLETIONS_QUEUE, recoverAsyncJobsJob, RECOVERY_SCHEDULER_ID, runCompletionJob } from './async/jobs';
import type { AsyncService } from './async/service';
import type { AiProxyProcessDeps } from './deps';
import { startUsageRollup } from './usage/rollup';

/** The `ai-completions` worker. */
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

/**
 * The ai-proxy workers: the `ai-completions` worker and its recovery schedule, the deferred
 * settlement retries and the usage rollup. Inside the API process (RUN_WORKERS_IN_API) or alone
 * with --role=worker; their state is in Postgres and Redis, so any replica may run them.
 */
export function startWorkers(deps: AiProxyProcessDeps): ServiceWorkers {
  const { config, logger } = deps;
  const worker = createCompletionsWorker({
    service: deps.asyncService,
    connection: deps.queueRedis,
    prefix: config.REDIS_PREFIX,
    logger,
    concurrency: config.ASYNC_WORKER_CONCURRENCY,
    recoveryAfterS: config.ASYNC_RECOVERY_AFTER_S,
    retentionDays: config.ASYNC_JOB_RETENTION_DAYS,
  });
  // Not awaited: with Redis down at start the queue connection waits for it; the scheduler lands then.
  void scheduleAsyncRecovery(deps.queue, config.ASYNC_RECOVERY_INTERVAL_MS, logger).catch((err: unknown) =>
    logger.error('could not schedule the queued-completion recovery sweep', { err }),
  );
  deps.deferredSettlements.start(config.SETTLEMENT_RETRY_INTERVAL_MS);
  const rollup = startUsageRollup({ db: deps.db, logger, intervalMs: config.USAGE_ROLLUP_INTERVAL_MS, retentionDays: config.USAGE_RETENTION_DAYS });
  return {
    closers: [
      { name: 'ai-completions worker', close: () => worker.close() },
      { name: 'deferred settlements', close: () => deps.deferredSettlements.stop() },
      { name: 'usage rollup', close: () => rollup.stop() },
    ],
  };
}
