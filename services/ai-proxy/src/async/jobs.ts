import { defineJob } from '@tollgate/common';
import { z } from 'zod';

/** The `ai-completions` queue's job catalogue. */
export const AI_COMPLETIONS_QUEUE = 'ai-completions';

/** Run one queued chat completion; the request itself lives in `async_jobs`. */
export const runCompletionJob = defineJob('run-completion', z.object({ job_id: z.string().regex(/^acmpl_[A-Za-z0-9]{16,40}$/) }), {
  // Upstream retries and fallbacks happen inside one attempt; these cover billing or Redis outages.
  attempts: 4,
  backoff: { type: 'exponential', delay: 2_000 },
});

/**
 * The recovery sweep (a repeating job): completions whose row says queued/running but whose
 * BullMQ job is gone (the process died between the insert and the add, or Redis lost it) are
 * queued again; those whose job failed for good without the row saying so are failed.
 */
export const recoverAsyncJobsJob = defineJob('recover-async-jobs', z.object({}).passthrough(), { attempts: 1 });

export const RECOVERY_SCHEDULER_ID = 'recover-async-jobs';
