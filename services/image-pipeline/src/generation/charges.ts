import { AppError } from '@tollgate/common';
import type { ImageRow } from '../db';
import type { PipelineDeps } from '../deps';
import { updateImage } from '../images/repository';

/**
 * Credits idempotency keys derive from the image id, so a retried request, a retried job or a
 * job recovered after its worker was killed reuses the same hold and never charges twice.
 */
export const holdKey = (imageId: string) => `image-generation-${imageId}`;
const chargeKey = (imageId: string) => `image-generation-charge-${imageId}`;

type ChargeDeps = Pick<PipelineDeps, 'credits' | 'db' | 'config' | 'logger'>;

/** Holds the image's price unless a hold exists already. Throws INSUFFICIENT_CREDITS (402). */
export async function ensureHold(deps: ChargeDeps, image: ImageRow): Promise<ImageRow> {
  if (image.charge_status !== 'none' || image.charge_amount === 0) return image;
  const hold = await deps.credits.hold({
    tenantId: image.tenant_id,
    amount: image.charge_amount,
    idempotencyKey: holdKey(image.id),
    ttlS: deps.config.CREDIT_HOLD_TTL_S,
    description: `Image generation ${image.id}`,
  });
  return (await updateImage(deps.db, image.id, { hold_id: hold.id, charge_status: 'held' }, undefined)) ?? image;
}

/**
 * Captures the hold once the image exists. Capturing again with the same amount is a replay
 * at the credits service. A hold that expired meanwhile (a long outage) is replaced by a
 * one-step charge, keyed by the image too.
 */
export async function captureCharge(deps: ChargeDeps, image: ImageRow): Promise<ImageRow> {
  if (image.charge_status !== 'held' || !image.hold_id) return image;
  try {
    await deps.credits.capture(image.hold_id, image.charge_amount);
  } catch (err) {
    const status = err instanceof AppError && err.code === 'CONFLICT' ? err.details?.['status'] : undefined;
    if (status !== 'expired' && status !== 'released') throw err;
    deps.logger.warn('credit hold lapsed before capture; charging directly', {
      image_id: image.id,
      hold_id: image.hold_id,
      hold_status: status,
    });
    await deps.credits.charge({
      tenantId: image.tenant_id,
      amount: image.charge_amount,
      idempotencyKey: chargeKey(image.id),
      description: `Image generation ${image.id}`,
    });
  }
  return (await updateImage(deps.db, image.id, { charge_status: 'captured' })) ?? image;
}

/**
 * Gives an image's held credits back at the credits service. Best effort: an unreleased hold
 * expires anyway. Says whether the hold was released; the caller records that on the image.
 */
export async function returnHeldCredits(deps: Pick<ChargeDeps, 'credits' | 'logger'>, image: ImageRow): Promise<boolean> {
  if (image.charge_status !== 'held' || !image.hold_id) return false;
  try {
    await deps.credits.release(image.hold_id);
    return true;
  } catch (err) {
    deps.logger.warn('credit hold release failed; it will expire', { image_id: image.id, hold_id: image.hold_id, err });
    return false;
  }
}

/** Gives the held credits back after a failure and marks the image's charge released. */
export async function releaseHold(deps: ChargeDeps, image: ImageRow): Promise<void> {
  if (!(await returnHeldCredits(deps, image))) return;
  await updateImage(deps.db, image.id, { charge_status: 'released' }).catch((err: unknown) =>
    deps.logger.warn('credit hold released but not recorded', { image_id: image.id, hold_id: image.hold_id, err }),
  );
}
