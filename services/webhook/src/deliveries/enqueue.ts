import { enqueue } from '@tollgate/common';
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

/** Adds the attempt jobs (deduplicated by job id), delayed until each is due. */
export async function enqueueAttempts(queue: Queue, refs: AttemptRef[], now: Date = new Date()): Promise<void> {
  await Promise.all(
    refs.map((ref) => {
      const delay = ref.at ? Math.max(0, ref.at.getTime() - now.getTime()) : 0;
      return enqueue(queue, deliveryAttemptJob, { delivery_id: ref.id, endpoint_id: ref.endpointId, round: ref.round, attempt: ref.attempt }, { jobId: attemptJobId(ref.id, ref.round, ref.attempt), delay });
    }),
  );
}
