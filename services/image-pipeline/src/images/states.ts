import { AppError } from '@tollgate/common';

/**
 * The life of an image:
 *   queued → generating → processing → pending_review → approved | rejected
 *   approved → publishing → published | publish_failed (→ publishing again, or rejected)
 *   queued | generating | processing → failed (with a reason)
 * Uploads skip `generating`.
 */
export const IMAGE_STATUSES = [
  'queued',
  'generating',
  'processing',
  'pending_review',
  'approved',
  'rejected',
  'publishing',
  'published',
  'publish_failed',
  'failed',
] as const;

export type ImageStatus = (typeof IMAGE_STATUSES)[number];

const TRANSITIONS: Record<ImageStatus, readonly ImageStatus[]> = {
  queued: ['generating', 'processing', 'failed'],
  generating: ['processing', 'failed'],
  processing: ['pending_review', 'failed'],
  pending_review: ['approved', 'rejected'],
  approved: ['publishing', 'rejected'],
  rejected: [],
  publishing: ['published', 'publish_failed'],
  published: [],
  publish_failed: ['publishing', 'rejected'],
  failed: [],
};

export function canTransition(from: ImageStatus, to: ImageStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** States the pipeline itself moves through; a person's actions wait until they are over. */
export const IN_FLIGHT_STATUSES: readonly ImageStatus[] = ['queued', 'generating', 'processing', 'publishing'];

/** Review actions a person (or a batch) takes, and the states each one accepts. */
export type ReviewAction = 'approve' | 'reject' | 'publish' | 'delete';

export const ACTION_TARGET: Record<Exclude<ReviewAction, 'delete'>, ImageStatus> = {
  approve: 'approved',
  reject: 'rejected',
  publish: 'publishing',
};

export const ACTION_ACCEPTS: Record<ReviewAction, readonly ImageStatus[]> = {
  approve: ['pending_review'],
  reject: ['pending_review', 'approved', 'publish_failed'],
  publish: ['approved', 'publish_failed'],
  delete: ['pending_review', 'approved', 'rejected', 'published', 'publish_failed', 'failed'],
};

/**
 * States in which repeating an action is a harmless no-op (reported as `skipped`): approving an
 * approved image, publishing one that is already publishing or published.
 */
export const ACTION_ALREADY_DONE: Record<ReviewAction, readonly ImageStatus[]> = {
  approve: ['approved'],
  reject: ['rejected'],
  publish: ['publishing', 'published'],
  delete: [],
};

/** The 409 for an action that does not fit the image's state; `details` carries the state. */
export function wrongState(imageId: string, action: ReviewAction, current: ImageStatus): AppError {
  return new AppError('CONFLICT', `Cannot ${action} image ${imageId} while it is ${current}`, {
    details: { image_id: imageId, action, current_status: current, allowed_statuses: [...ACTION_ACCEPTS[action]] },
  });
}
