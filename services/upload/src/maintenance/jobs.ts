import { defineJob } from '@tollgate/common';
import { z } from 'zod';

/** The `upload-maintenance` queue's job catalogue. */
export const MAINTENANCE_QUEUE = 'upload-maintenance';
export const SWEEP_SCHEDULER_ID = 'upload-maintenance-sweep';

/** One sweep (expiry, orphans, stale reservations, outbox). A failed run is redone by the next tick. */
export const sweepJob = defineJob('sweep', z.object({}), {
  attempts: 2,
  backoff: { type: 'fixed', delay: 5_000 },
  removeOnComplete: { count: 100 },
  removeOnFail: { count: 100 },
});
