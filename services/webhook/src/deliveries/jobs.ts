import { defineJob } from '@tollgate/common';
import { z } from 'zod';

export const DELIVERIES_QUEUE = 'webhook-deliveries';

/**
 * One attempt of one delivery. The job id names the attempt (`dlv_…-r1-a3`), so enqueueing
 * it twice (fan-out re-run, the sweeper) adds it once. Postgres holds the delivery's state;
 * BullMQ's own retries only cover this process failing (Postgres down), not the endpoint failing:
 * those are scheduled as the next attempt's job.
 */
export const deliveryAttemptJob = defineJob(
  'attempt',
  z.object({
    delivery_id: z.string().min(1),
    /** Lets a worker check the endpoint's concurrency before touching Postgres. */
    endpoint_id: z.string().min(1),
    round: z.number().int().min(1),
    attempt: z.number().int().min(1),
  }),
  {
    attempts: 8,
    backoff: { type: 'exponential', delay: 2_000 },
    removeOnComplete: { age: 3_600, count: 10_000 },
    removeOnFail: { age: 7 * 24 * 3_600 },
  },
);

export function attemptJobId(deliveryId: string, round: number, attempt: number): string {
  return `${deliveryId}-r${round}-a${attempt}`;
}
