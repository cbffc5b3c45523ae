import { createWorker, handler, type Logger } from '@tollgate/common';
import type { ConnectionOptions, Worker } from 'bullmq';
import { AI_COMPLETIONS_QUEUE, runCompletionJob } from './async/jobs';
import type { AsyncService } from './async/service';

/** The `ai-completions` worker: inside the API process by default, alone with --role=worker. */
export function createCompletionsWorker(options: { service: AsyncService; connection: ConnectionOptions; prefix: string; logger: Logger; concurrency: number }): Worker {
  return createWorker(AI_COMPLETIONS_QUEUE, [handler(runCompletionJob, (data, job) => options.service.run(data.job_id, job))], {
    connection: options.connection,
    prefix: options.prefix,
    logger: options.logger,
    concurrency: options.concurrency,
    onFinalFailure: async (job, error) => {
      const jobId = (job.data as { job_id?: unknown })?.job_id;
      if (typeof jobId === 'string') await options.service.fail(jobId, error);
    },
  });
}
