import { type HandlerEntry, handler } from '@tollgate/common';
import type { PipelineDeps } from '../deps';
import { generateImageJob, ingestImageJob, publishImageJob, recoverImagesJob } from './catalogue';
import { runGenerate, runIngest, runPublish } from './pipeline';
import { recoverStuckImages } from './recovery';

/** The `image-jobs` handlers. Each throws on transient errors, so BullMQ retries with backoff. */
export function imageJobHandlers(deps: PipelineDeps): HandlerEntry[] {
  return [
    handler(generateImageJob, async (data) => ({ outcome: await runGenerate(deps, data.image_id) })),
    handler(ingestImageJob, async (data) => ({ outcome: await runIngest(deps, data.image_id) })),
    handler(publishImageJob, async (data) => ({ outcome: await runPublish(deps, data.image_id, data.attempt) })),
    handler(recoverImagesJob, async () => {
      const { checked, requeued, failed, eventsRelayed } = await recoverStuckImages(deps);
      return { checked, requeued: requeued.length, failed: failed.length, events_relayed: eventsRelayed };
    }),
  ];
}
