import { defineJob } from '@tollgate/common';
import type { JobsOptions } from 'bullmq';
import { z } from 'zod';
import type { Config } from '../config';

export const IMAGE_JOBS_QUEUE = 'image-jobs';

const imageId = z.string().regex(/^img_[A-Za-z0-9]{16,40}$/);

/** Prompt → original (generator) → print + thumb; one job per image, jobId `generate-<image>`. */
export const generateImageJob = defineJob('generate', z.object({ image_id: imageId }));

/** Upload → original → print + thumb; jobId `ingest-<image>`. */
export const ingestImageJob = defineJob('ingest', z.object({ image_id: imageId }));

/** Approved → published; jobId `publish-<image>-<attempt>`, so a re-publish is a new job. */
export const publishImageJob = defineJob('publish', z.object({ image_id: imageId, attempt: z.number().int().min(1) }));

/** Periodic sweep for in-flight images whose job went missing (one scheduler for all replicas). */
export const recoverImagesJob = defineJob('recover', z.object({}), {
  attempts: 1,
  removeOnComplete: { count: 100 },
  removeOnFail: { count: 100 },
});

/** The job an in-flight image is waiting on, by its state. */
export function jobIdFor(image: { id: string; source: string; status: string; publish_attempt: number }): {
  name: 'generate' | 'ingest' | 'publish';
  id: string;
} {
  if (image.status === 'publishing') return { name: 'publish', id: `publish-${image.id}-${image.publish_attempt}` };
  return image.source === 'upload' ? { name: 'ingest', id: `ingest-${image.id}` } : { name: 'generate', id: `generate-${image.id}` };
}

/**
 * Retry policy from config. The jobId makes enqueueing idempotent: adding a job whose id
 * exists (waiting, active, completed or failed) is a no-op in BullMQ.
 */
export function imageJobOptions(config: Config, jobId: string): JobsOptions {
  return { jobId, attempts: config.IMAGE_JOB_ATTEMPTS, backoff: { type: 'exponential', delay: config.IMAGE_JOB_BACKOFF_MS } };
}
