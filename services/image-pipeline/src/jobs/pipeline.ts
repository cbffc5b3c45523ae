import { AppError, UnrecoverableError } from '@tollgate/common';
import type { ImageRow, StoredVariant, VariantName } from '../db';
import { json } from '../db';
import type { PipelineDeps } from '../deps';
import { recordImageEvent } from '../events';
import { captureCharge, ensureHold, holdKey, releaseHold } from '../generation/charges';
import { GeneratorError } from '../generation/generator';
import { findImageById, transitionImage } from '../images/repository';
import type { ImageStatus } from '../images/states';
import { CONTENT_TYPES, ImageRejectedError, inspectSource, sniffFormat } from '../processing/inspect';
import { qualityReport } from '../processing/quality';
import { type RenderedVariant, renderPrintAndThumb, renderThumb } from '../processing/render';
import { PublishError } from '../publishing/publisher';
import { variantKey } from '../storage/storage';

/** States an image may fail from: the pipeline's own. */
const FAILABLE: readonly ImageStatus[] = ['queued', 'generating', 'processing'];

/** A failure already recorded on the image; the job ends at once, unretried. */
class RecordedFailure extends UnrecoverableError {}

/**
 * Marks the image failed (once), gives back its held credits and says so in an event.
 * Returns the failed row, or undefined when it was no longer in a failable state.
 */
export async function failImage(
  deps: PipelineDeps,
  imageId: string,
  code: string,
  message: string,
  extra: { quality?: unknown; variants?: unknown } = {},
): Promise<ImageRow | undefined> {
  const current = await findImageById(deps.db, imageId);
  if (!current || !(FAILABLE.includes(current.status) || current.status === 'failed')) return undefined;
  // Credits go back before the failure shows, so whoever sees `failed` sees the hold released
  // (a release that fails is logged; the hold then expires on its own).
  await releaseHold(deps, current);
  const outcome = await deps.db.transaction().execute(async (tx) => {
    const image = await transitionImage(
      tx,
      imageId,
      FAILABLE,
      'failed',
      {
        failure_code: code,
        failure_message: message.slice(0, 1000),
        ...(extra.quality !== undefined ? { quality: json(extra.quality) } : {}),
        ...(extra.variants !== undefined ? { variants: json(extra.variants) } : {}),
      },
      `${code}: ${message.slice(0, 200)}`,
    );
    if (!image) return undefined;
    const event = await recordImageEvent(tx, 'image.generation.failed', image, 'failed', { failure: { code, message: image.failure_message } });
    return { image, event };
  });
  if (!outcome) return undefined;
  deps.logger.warn('image failed', { image_id: imageId, failure_code: code, failure_message: message });
  await deps.outbox.publishNow([outcome.event]);
  return outcome.image;
}

/** Permanent errors (bad data, refused by the provider, no credits) versus worth-retrying ones. */
function permanentFailureOf(err: unknown): { code: string; message: string } | undefined {
  if (err instanceof ImageRejectedError) return { code: err.code, message: err.message };
  if (err instanceof GeneratorError && !err.retryable) return { code: err.code, message: err.message };
  if (err instanceof AppError) {
    if (err.code === 'INSUFFICIENT_CREDITS')
      return { code: 'INSUFFICIENT_CREDITS', message: 'The tenant has too few credits for this image' };
    if (err.code === 'NOT_FOUND') return { code: 'FILE_NOT_FOUND', message: 'The uploaded file no longer exists' };
    if (err.code === 'PAYLOAD_TOO_LARGE') return { code: 'SOURCE_TOO_LARGE', message: err.message };
    if (err.status < 500 && err.code !== 'RATE_LIMITED' && err.code !== 'CONFLICT') return { code: err.code, message: err.message };
  }
  return undefined;
}

/** Runs one stage; a permanent error is recorded on the image and ends the job unretried. */
async function stage<T>(deps: PipelineDeps, imageId: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof UnrecoverableError) throw err;
    const permanent = permanentFailureOf(err);
    if (!permanent) throw err;
    await failImage(deps, imageId, permanent.code, permanent.message);
    throw new RecordedFailure(`${permanent.code}: ${permanent.message}`);
  }
}

async function storeVariant(deps: PipelineDeps, image: ImageRow, name: VariantName, v: RenderedVariant): Promise<StoredVariant> {
  const stored = await deps.storage.put(variantKey(image.tenant_id, image.id, name, v.format), v.data);
  return {
    key: stored.key,
    format: v.format,
    content_type: CONTENT_TYPES[v.format],
    width: v.width,
    height: v.height,
    bytes: stored.bytes,
    sha256: stored.sha256,
    ...(v.dpi !== undefined ? { dpi: v.dpi } : {}),
  };
}

/** Checks the source bytes enough to store them as the original (format and size from the header). */
async function storeOriginal(deps: PipelineDeps, image: ImageRow, data: Buffer): Promise<StoredVariant> {
  const limits = { maxInputPixels: deps.config.MAX_INPUT_PIXELS, maxBytes: deps.config.MAX_SOURCE_BYTES };
  const info = await inspectSource(data, limits);
  const format = sniffFormat(data)!;
  const stored = await deps.storage.put(variantKey(image.tenant_id, image.id, 'original', format), data);
  return {
    key: stored.key,
    format,
    content_type: CONTENT_TYPES[format],
    width: info.width,
    height: info.height,
    bytes: stored.bytes,
    sha256: stored.sha256,
    ...(info.dpi ? { dpi: info.dpi } : {}),
  };
}

/**
 * processing → pending_review (or failed): header checks, quality report against the profile,
 * print + thumb variants. Idempotent: variants overwrite their keys and the final transition
 * only applies while the image is still `processing`.
 */
export async function processImage(deps: PipelineDeps, image: ImageRow): Promise<ImageRow | undefined> {
  const { config } = deps;
  const original = image.variants.original;
  if (!original) throw new ImageRejectedError('MISSING_ORIGINAL', 'The image has no stored original');
  const profile = config.PRINT_PROFILES[image.profile];
  if (!profile) throw new ImageRejectedError('UNKNOWN_PROFILE', `The print profile ${image.profile} is no longer configured`);
  const started = performance.now();
  const data = await deps.storage.get(original.key);
  const limits = { maxInputPixels: config.MAX_INPUT_PIXELS, maxBytes: config.MAX_SOURCE_BYTES };
  const source = await inspectSource(data, limits);
  const report = qualityReport(image.profile, profile, source);
  const renderOptions = { maxInputPixels: config.MAX_INPUT_PIXELS, thumbSize: config.THUMB_SIZE };

  if (!report.passed) {
    // The reviewer still gets a preview of what failed.
    const thumb = await storeVariant(deps, image, 'thumb', await renderThumb(data, renderOptions));
    const message = report.errors.map((e) => e.message).join('; ');
    return failImage(deps, image.id, 'QUALITY_CHECK_FAILED', message, { quality: report, variants: { ...image.variants, thumb } });
  }

  const renderStarted = performance.now();
  const rendered = await renderPrintAndThumb(data, profile, renderOptions);
  const renderMs = performance.now() - renderStarted;
  const [print, thumb] = await Promise.all([
    storeVariant(deps, image, 'print', rendered.print),
    storeVariant(deps, image, 'thumb', rendered.thumb),
  ]);
  const outcome = await deps.db.transaction().execute(async (tx) => {
    const ready = await transitionImage(tx, image.id, ['processing'], 'pending_review', {
      quality: json(report),
      variants: json({ ...image.variants, print, thumb }),
      failure_code: null,
      failure_message: null,
    });
    if (!ready) return undefined;
    const event = await recordImageEvent(tx, 'image.generation.completed', ready, 'ready', {
      quality: { passed: true, warnings: report.warnings.map((w) => w.code) },
    });
    return { ready, event };
  });
  const ready = outcome?.ready;
  if (outcome) {
    deps.logger.info('image ready for review', {
      image_id: image.id,
      profile: image.profile,
      warnings: report.warnings.length,
      render_ms: Math.round(renderMs),
      processing_ms: Math.round(performance.now() - started),
    });
    await deps.outbox.publishNow([outcome.event]);
  }
  return ready;
}

/**
 * `generate` job: queued → generating → (hold, generator, original stored) → processing →
 * (capture) → pending_review. Every step reads the image's state first, so a retried job or
 * one recovered from a killed worker resumes where the last one stopped.
 */
export async function runGenerate(deps: PipelineDeps, imageId: string, signal?: AbortSignal): Promise<string> {
  let image = await findImageById(deps.db, imageId);
  if (!image) return 'missing';
  if (image.status === 'queued') {
    image =
      (await deps.db.transaction().execute((tx) => transitionImage(tx, imageId, ['queued'], 'generating'))) ??
      (await findImageById(deps.db, imageId));
    if (!image) return 'missing';
  }
  if (image.status === 'generating') {
    const current = image;
    image = await stage(deps, imageId, async () => {
      const held = await ensureHold(deps, current);
      const profile = deps.config.PRINT_PROFILES[held.profile];
      const generated = await deps.generator.generate({
        prompt: held.prompt ?? '',
        model: held.model ?? deps.generator.defaultModel,
        width: held.requested_width ?? profile?.width ?? 1024,
        height: held.requested_height ?? profile?.height ?? 1024,
        seed: held.seed ?? 0,
        index: held.job_index ?? 0,
        transparent: profile?.alpha ?? false,
        idempotencyKey: holdKey(held.id),
        ...(signal ? { signal } : {}),
      });
      const original = await storeOriginal(deps, held, generated.data);
      const next = await deps.db
        .transaction()
        .execute((tx) => transitionImage(tx, imageId, ['generating'], 'processing', { variants: json({ ...held.variants, original }) }));
      return next ?? (await findImageById(deps.db, imageId));
    });
    if (!image) return 'missing';
  }
  if (image.status !== 'processing') return `skipped:${image.status}`;
  const processing = image;
  await stage(deps, imageId, async () => {
    const charged = await captureCharge(deps, processing);
    await processImage(deps, charged);
  });
  return 'done';
}

/** `ingest` job: queued → (bytes from the upload service, stored as original) → processing → pending_review. */
export async function runIngest(deps: PipelineDeps, imageId: string): Promise<string> {
  let image = await findImageById(deps.db, imageId);
  if (!image) return 'missing';
  if (image.status === 'queued') {
    const queued = image;
    image = await stage(deps, imageId, async () => {
      if (!queued.file_id) throw new ImageRejectedError('MISSING_FILE', 'The image names no uploaded file');
      const data = await deps.upload.readContent(queued.tenant_id, queued.file_id, deps.config.MAX_SOURCE_BYTES);
      const original = await storeOriginal(deps, queued, data);
      const next = await deps.db
        .transaction()
        .execute((tx) => transitionImage(tx, imageId, ['queued'], 'processing', { variants: json({ ...queued.variants, original }) }));
      return next ?? (await findImageById(deps.db, imageId));
    });
    if (!image) return 'missing';
  }
  if (image.status !== 'processing') return `skipped:${image.status}`;
  const processing = image;
  await stage(deps, imageId, () => processImage(deps, processing));
  return 'done';
}

/** `publish` job: publishing → published, through the configured publisher. */
export async function runPublish(deps: PipelineDeps, imageId: string, attempt: number): Promise<string> {
  const image = await findImageById(deps.db, imageId);
  if (!image) return 'missing';
  // A job from an earlier publish action (superseded) has nothing to do.
  if (image.status !== 'publishing' || image.publish_attempt !== attempt) return `skipped:${image.status}`;
  const print = image.variants.print;
  if (!print) {
    await failPublish(deps, imageId, 'The image has no print variant');
    throw new RecordedFailure('no print variant');
  }
  let result;
  try {
    result = await deps.publisher.publish({ image, print });
  } catch (err) {
    if (err instanceof PublishError && !err.retryable) {
      await failPublish(deps, imageId, err.message);
      throw new RecordedFailure(err.message);
    }
    throw err;
  }
  const event = await deps.db.transaction().execute(async (tx) => {
    const published = await transitionImage(tx, imageId, ['publishing'], 'published', {
      publication: json({
        publisher: deps.publisher.name,
        external_id: result.external_id,
        url: result.url,
        published_at: deps.clock.now().toISOString(),
      }),
    });
    return published ? recordImageEvent(tx, 'image.published', published, 'published', { publication: published.publication }) : undefined;
  });
  if (event) await deps.outbox.publishNow([event]);
  return 'done';
}

export async function failPublish(deps: PipelineDeps, imageId: string, message: string): Promise<void> {
  const row = await deps.db
    .transaction()
    .execute((tx) =>
      transitionImage(
        tx,
        imageId,
        ['publishing'],
        'publish_failed',
        { failure_code: 'PUBLISH_FAILED', failure_message: message.slice(0, 1000) },
        message.slice(0, 200),
      ),
    );
  if (row) deps.logger.warn('publish failed', { image_id: imageId, failure_message: message });
}

/**
 * Called once when a job used its last attempt on transient errors (or failed unrecoverably).
 * The image gets a failure the tenant can read; the cause stays in the logs.
 */
export async function onFinalJobFailure(
  deps: PipelineDeps,
  jobName: string,
  data: { image_id?: unknown },
  attempts: number,
  error: Error,
): Promise<void> {
  const imageId = typeof data.image_id === 'string' ? data.image_id : undefined;
  if (!imageId || error instanceof RecordedFailure || error.name === 'RecordedFailure') return;
  if (jobName === 'publish') {
    await failPublish(deps, imageId, `Publishing failed after ${attempts} attempts`);
    return;
  }
  const what = jobName === 'ingest' ? 'ingested' : 'generated';
  const code = error instanceof GeneratorError ? error.code : 'PROCESSING_FAILED';
  await failImage(deps, imageId, code, `The image could not be ${what} after ${attempts} attempts (temporary failures)`);
}
