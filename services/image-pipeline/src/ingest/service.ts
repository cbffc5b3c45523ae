import { AppError, enqueueWithin, validationFailed } from '@tollgate/common';
import { json } from '../db';
import type { PipelineDeps } from '../deps';
import { type ImageView, toImageView } from '../images/presenter';
import { insertImages, recordTransitions, transitionImage } from '../images/repository';
import { imageJobOptions, ingestImageJob } from '../jobs/catalogue';
import { CONTENT_TYPES } from '../processing/inspect';

const ACCEPTED_TYPES = new Set(Object.values(CONTENT_TYPES));

/**
 * POST /v1/images/ingest: an uploaded file becomes an image record. The file is looked up for
 * this tenant now (so a wrong id is a 404 at once); its bytes are fetched by the worker.
 */
export async function ingestFile(
  deps: PipelineDeps,
  tenantId: string,
  body: { file_id: string; profile?: string | undefined },
): Promise<ImageView> {
  const { config } = deps;
  const profileName = body.profile ?? config.DEFAULT_PROFILE;
  if (!config.PRINT_PROFILES[profileName])
    throw validationFailed(`Invalid body: profile must be one of ${Object.keys(config.PRINT_PROFILES).join(', ')}`, { param: 'profile' });
  const file = await deps.upload.getFile(tenantId, body.file_id);
  if (file.contentType && !ACCEPTED_TYPES.has(file.contentType.split(';')[0]!.trim().toLowerCase())) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `The file is ${file.contentType}; images must be PNG, JPEG or WebP`, {
      details: { param: 'file_id', content_type: file.contentType },
    });
  }
  if (file.bytes > config.MAX_SOURCE_BYTES) {
    throw new AppError('PAYLOAD_TOO_LARGE', `The file is ${file.bytes} bytes, above the ${config.MAX_SOURCE_BYTES}-byte limit`, {
      details: { param: 'file_id' },
    });
  }
  const now = deps.clock.now();
  const image = await deps.db.transaction().execute(async (tx) => {
    const [row] = await insertImages(tx, [
      {
        id: deps.ids.next('img'),
        tenant_id: tenantId,
        source: 'upload',
        job_id: null,
        job_index: null,
        file_id: file.id,
        prompt: null,
        model: null,
        seed: null,
        profile: profileName,
        requested_width: null,
        requested_height: null,
        status: 'queued',
        failure_code: null,
        failure_message: null,
        variants: json({}),
        charge_amount: 0,
        hold_id: null,
        charge_status: 'none',
        rejection_reason: null,
        created_at: now,
        updated_at: now,
      },
    ]);
    await recordTransitions(tx, [{ image_id: row!.id, tenant_id: tenantId, from_status: null, to_status: 'queued' }]);
    return row!;
  });
  try {
    // The committed row is the promise to do the work: if Redis is slow or away, the add lands
    // when it returns (or the recovery sweep re-queues it), and the caller is not kept waiting.
    const queued = await enqueueWithin(
      deps.queue,
      ingestImageJob,
      { image_id: image.id },
      imageJobOptions(config, `ingest-${image.id}`),
      config.ENQUEUE_WAIT_MS,
    );
    if (queued.state === 'pending') {
      deps.logger.warn('ingest accepted while the queue is unreachable; it is queued when Redis answers', { image_id: image.id });
      void queued.settled.then((err) => {
        if (err instanceof Error) deps.logger.error('ingest enqueue failed; the recovery sweep will queue it', { image_id: image.id, err });
      });
    }
  } catch (err) {
    await deps.db.transaction().execute((tx) =>
      transitionImage(tx, image.id, ['queued'], 'failed', {
        failure_code: 'NOT_STARTED',
        failure_message: 'The ingest could not be queued',
      }),
    );
    throw new AppError('SERVICE_UNAVAILABLE', 'The ingest could not be queued; try again', { cause: err });
  }
  deps.logger.info('ingest queued', { image_id: image.id, file_id: file.id, profile: profileName });
  return toImageView(image);
}
