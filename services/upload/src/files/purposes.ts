/**
 * What each purpose accepts. Active content (SVG, HTML) is allowed only where a purpose names it,
 * and is then always served as an attachment.
 */
const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'image/gif'];
const DOCUMENT_TYPES = ['application/pdf', 'text/plain', 'text/markdown', 'text/csv', 'application/json'];

export const PURPOSES = {
  /** Inputs of the image pipeline. */
  image: IMAGE_TYPES,
  document: DOCUMENT_TYPES,
  /** The default when no purpose is given: any inert image or document. */
  general: [...IMAGE_TYPES, ...DOCUMENT_TYPES],
  /** Design sources: images and SVG (served only as attachment). */
  design: [...IMAGE_TYPES, 'image/svg+xml'],
} as const satisfies Record<string, readonly string[]>;

export type Purpose = keyof typeof PURPOSES;
export const PURPOSE_NAMES = Object.keys(PURPOSES) as [Purpose, ...Purpose[]];
export const DEFAULT_PURPOSE: Purpose = 'general';

export const allowedTypes = (purpose: Purpose): readonly string[] => PURPOSES[purpose];
