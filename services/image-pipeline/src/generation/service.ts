import { createHash, randomInt } from 'node:crypto';
import { AppError, enqueueWithin, notFound, validationFailed } from '@tollgate/common';
import { sql } from 'kysely';
import { json, type ImageRow, type NewImage } from '../db';
import type { PipelineDeps } from '../deps';
import {
  findGenerationJob,
  findRecentDuplicateJob,
  imagesOfJob,
  insertGenerationJob,
  insertImages,
  markGenerationJobFailed,
  recordTransitions,
  transitionImage,
} from '../images/repository';
import { toGenerationView } from '../images/presenter';
import { generateImageJob, imageJobOptions } from '../jobs/catalogue';
import { ensureHold, returnHeldCredits } from './charges';
import { type GenerationBody, resolveSize } from './request';

export type GenerationView = ReturnType<typeof toGenerationView>;

/** The canonical request: identical ones inside the window are the same generation. */
function dedupKeyOf(parts: {
  prompt: string;
  n: number;
  width: number;
  height: number;
  profile: string;
  model: string;
  seed: number | null;
}): string {
  return createHash('sha256')
    .update(JSON.stringify([parts.prompt, parts.n, parts.width, parts.height, parts.profile, parts.model, parts.seed]))
    .digest('hex');
}

/**
 * POST /v1/images/generations. Rows first (so a duplicate request finds them), then one
 * credit hold per image (a refusal is the caller's 402, with every hold of the request given
 * back), then one queued job per image.
 */
export async function createGeneration(deps: PipelineDeps, tenantId: string, body: GenerationBody): Promise<GenerationView> {
  const { config, generator } = deps;
  const profileName = body.profile ?? config.DEFAULT_PROFILE;
  const profile = config.PRINT_PROFILES[profileName];
  if (!profile)
    throw validationFailed(`Invalid body: profile must be one of ${Object.keys(config.PRINT_PROFILES).join(', ')}`, { param: 'profile' });
  const model = body.model ?? generator.defaultModel;
  if (!generator.models.includes(model))
    throw validationFailed(`Invalid body: model must be one of ${generator.models.join(', ')}`, { param: 'model' });
  const { width, height } = resolveSize(body, profile, config.MAX_INPUT_PIXELS);
  const dedupKey = dedupKeyOf({ prompt: body.prompt, n: body.n, width, height, profile: profileName, model, seed: body.seed ?? null });
  const now = deps.clock.now();

  const created = await deps.db.transaction().execute(async (tx) => {
    // Two identical requests at once: the second waits here and then finds the first.
    await sql`select pg_advisory_xact_lock(hashtext(${`images:generation:${tenantId}:${dedupKey}`}))`.execute(tx);
    if (config.GENERATION_DEDUP_WINDOW_S > 0) {
      const since = new Date(now.getTime() - config.GENERATION_DEDUP_WINDOW_S * 1000);
      const existing = await findRecentDuplicateJob(tx, tenantId, dedupKey, since);
      if (existing) {
        const images = await imagesOfJob(tx, existing.id);
        // A generation whose every image failed is not worth returning again: retry it for real.
        if (images.length > 0 && images.every((i) => i.status === 'failed')) await markGenerationJobFailed(tx, existing.id);
        else return { job: existing, images, deduplicated: true };
      }
    }
    const job = await insertGenerationJob(tx, {
      id: deps.ids.next('igen'),
      tenant_id: tenantId,
      prompt: body.prompt,
      model,
      profile: profileName,
      width,
      height,
      n: body.n,
      seed: body.seed ?? randomInt(0, 2_147_483_647),
      dedup_key: dedupKey,
      status: 'active',
      created_at: now,
    });
    const rows: NewImage[] = Array.from({ length: body.n }, (_, index) => ({
      id: deps.ids.next('img'),
      tenant_id: tenantId,
      source: 'generation',
      job_id: job.id,
      job_index: index,
      file_id: null,
      prompt: body.prompt,
      model,
      seed: job.seed,
      profile: profileName,
      requested_width: width,
      requested_height: height,
      status: 'queued',
      failure_code: null,
      failure_message: null,
      variants: json({}),
      charge_amount: config.GENERATION_PRICE,
      hold_id: null,
      charge_status: 'none',
      rejection_reason: null,
      // Same instant for the whole job; the id keeps the order stable in lists.
      created_at: now,
      updated_at: now,
    }));
    const images = await insertImages(tx, rows);
    await recordTransitions(
      tx,
      images.map((i) => ({ image_id: i.id, tenant_id: tenantId, from_status: null, to_status: 'queued' as const })),
    );
    return { job, images, deduplicated: false };
  });
  if (created.deduplicated) {
    deps.logger.info('generation deduplicated', { generation_id: created.job.id });
    return toGenerationView(created.job, created.images, true);
  }

  // Updated in place as holds are placed, so a failure half-way knows which holds to give back.
  const images = [...created.images];
  try {
    await holdCredits(deps, images);
  } catch (err) {
    await abandonGeneration(deps, created.job.id, images, err, true);
    if (err instanceof AppError) throw err;
    throw new AppError('SERVICE_UNAVAILABLE', 'The generation could not be queued', { cause: err });
  }
  // All adds at once, each waiting at most ENQUEUE_WAIT_MS: past the wait an add is still in
  // flight and lands on reconnect (the rows are queued and the holds placed; the recovery sweep
  // is the backstop), so its image counts as started. Only an add Redis refused is undone.
  const adds = await Promise.allSettled(
    images.map((image) =>
      enqueueWithin(
        deps.queue,
        generateImageJob,
        { image_id: image.id },
        imageJobOptions(config, `generate-${image.id}`),
        config.ENQUEUE_WAIT_MS,
      ),
    ),
  );
  const refused = images.filter((_, i) => adds[i]!.status === 'rejected');
  if (adds.some((a) => a.status === 'fulfilled' && a.value.state === 'pending'))
    deps.logger.warn('generation accepted while the queue is unreachable; its jobs are queued when Redis answers', {
      generation_id: created.job.id,
    });
  if (refused.length > 0) {
    const cause = (adds.find((a) => a.status === 'rejected') as PromiseRejectedResult).reason as unknown;
    // Images already queued go on (a worker may have them); the rest are undone.
    await abandonGeneration(deps, created.job.id, refused, cause, refused.length === images.length);
    throw new AppError('SERVICE_UNAVAILABLE', 'The generation could not be queued', { cause });
  }
  deps.logger.info('generation queued', { generation_id: created.job.id, n: images.length, model, profile: profileName });
  return toGenerationView(created.job, images, false);
}

async function holdCredits(deps: PipelineDeps, images: ImageRow[]): Promise<void> {
  for (const [index, image] of images.entries()) images[index] = await ensureHold(deps, image);
}

/** Undo a generation that could not start: holds back, images and job failed (never deduplicated). */
async function abandonGeneration(deps: PipelineDeps, jobId: string, images: ImageRow[], cause: unknown, wholeJob: boolean): Promise<void> {
  const code = cause instanceof AppError && cause.code === 'INSUFFICIENT_CREDITS' ? 'INSUFFICIENT_CREDITS' : 'NOT_STARTED';
  const message =
    code === 'INSUFFICIENT_CREDITS' ? 'The tenant has too few credits for this generation' : 'The generation could not be started';
  for (const image of images) await returnHeldCredits(deps, image);
  await deps.db.transaction().execute(async (tx) => {
    if (wholeJob) await markGenerationJobFailed(tx, jobId);
    for (const image of images) {
      await transitionImage(
        tx,
        image.id,
        ['queued'],
        'failed',
        { failure_code: code, failure_message: message, charge_status: image.charge_status === 'held' ? 'released' : image.charge_status },
        code,
      );
    }
  });
}

export async function getGeneration(deps: PipelineDeps, tenantId: string, id: string): Promise<GenerationView> {
  const job = await findGenerationJob(deps.db, tenantId, id);
  if (!job) throw notFound('Generation');
  return toGenerationView(job, await imagesOfJob(deps.db, job.id), false);
}
