import { randomUUID } from 'node:crypto';
import { currentContext, injectTraceHeaders, type JobMeta } from '@tollgate/common';
import type { Queue } from 'bullmq';
import { attemptJobId, deliveryAttemptJob } from './jobs';

export interface AttemptRef {
  id: string;
  endpointId: string;
  round: number;
  attempt: number;
  /** When it is due; past or absent means now. */
  at?: Date | null;
}

/**
 * Adds the attempt jobs (deduplicated by job id), delayed until each is due, in one pipeline:
 * a fan-out to 50 endpoints is one round trip to Redis. Each job carries the request id and
 * trace context, as common's `enqueue` does for single jobs.
 */
export async function enqueueAttempts(queue: Queue, refs: AttemptRef[], now: Date = new Date()): Promise<void> {
  if (refs.length === 0) return;
  const meta: JobMeta = { request_id: currentContext()?.requestId ?? randomUUID(), trace: injectTraceHeaders() };
  await queue.addBulk(
    refs.map((ref) => ({
      name: deliveryAttemptJob.name,
      data: {
        ...deliveryAttemptJob.schema.parse({ delivery_id: ref.id, endpoint_id: ref.endpointId, round: ref.round, attempt: ref.attempt }),
        _meta: meta,
      },
      opts: {
        ...deliveryAttemptJob.options,
        jobId: attemptJobId(ref.id, ref.round, ref.attempt),
        delay: ref.at ? Math.max(0, ref.at.getTime() - now.getTime()) : 0,
      },
    })),
  );
}
