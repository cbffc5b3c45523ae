import sharp from 'sharp';
import type { ImageFormat } from '../db';

/**
 * A failure that retrying cannot fix (corrupt data, an image bomb, a format we do not decode,
 * an artwork that fails its profile). The job records it and stops; the worker carries on.
 */
export class ImageRejectedError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ImageRejectedError';
  }
}

export const ALLOWED_FORMATS: readonly ImageFormat[] = ['png', 'jpeg', 'webp'];

export const CONTENT_TYPES: Record<ImageFormat, string> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' };

/** The libvips loaders we keep; every other loader (SVG, PDF, TIFF, HEIF, GIF, magick...) is blocked. */
const ALLOWED_LOADERS = ['Png', 'Jpeg', 'Webp'].flatMap((f) => ['File', 'Buffer', 'Source'].map((s) => `VipsForeignLoad${f}${s}`));

let decodersRestricted = false;

/**
 * Blocks every libvips decoder except PNG, JPEG and WebP for this process (sharp.block is
 * process-wide), so a crafted SVG or PDF can never reach its parser even if a check upstream
 * were wrong. Idempotent; called when the pipeline is built.
 */
export function restrictDecoders(): void {
  if (decodersRestricted) return;
  sharp.block({ operation: ['VipsForeignLoad'] });
  sharp.unblock({ operation: ALLOWED_LOADERS });
  decodersRestricted = true;
}

/** The format by its magic bytes, before any decoder sees the data. */
export function sniffFormat(data: Buffer): ImageFormat | undefined {
  if (data.length >= 8 && data.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png';
  if (data.length >= 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return 'jpeg';
  if (data.length >= 12 && data.toString('latin1', 0, 4) === 'RIFF' && data.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  return undefined;
}

export interface DecodeLimits {
  maxInputPixels: number;
  maxBytes: number;
}

/** What the header says, with width/height as displayed (after EXIF orientation). */
export interface SourceInfo {
  format: ImageFormat;
  width: number;
  height: number;
  bytes: number;
  hasAlpha: boolean;
  channels: number;
  colorSpace: string;
  /** Pixels per inch from the file's metadata, when it has one. */
  dpi: number | null;
  pages: number;
  hasIccProfile: boolean;
}

const megapixels = (px: number) => `${(px / 1e6).toFixed(1)} MP`;

/**
 * Reads only the header and decides whether the image may be decoded at all: known magic
 * bytes, an allowed format, and a pixel count under the limit. A 30000×30000 header-only bomb is
 * refused here without allocating its pixels.
 */
export async function inspectSource(data: Buffer, limits: DecodeLimits): Promise<SourceInfo> {
  if (data.length > limits.maxBytes) {
    throw new ImageRejectedError('SOURCE_TOO_LARGE', `The image file is ${data.length} bytes, above the ${limits.maxBytes}-byte limit`);
  }
  const sniffed = sniffFormat(data);
  if (!sniffed) throw new ImageRejectedError('UNSUPPORTED_FORMAT', 'The file is not a PNG, JPEG or WebP image');
  let meta: sharp.Metadata;
  try {
    // Header only: no pixel is decoded, so the pixel limit is checked by us just below.
    meta = await sharp(data, { failOn: 'error', limitInputPixels: false }).metadata();
  } catch (err) {
    throw new ImageRejectedError('CORRUPT_IMAGE', `The image header cannot be read: ${vipsReason(err)}`);
  }
  if (meta.format !== sniffed) {
    throw new ImageRejectedError('UNSUPPORTED_FORMAT', `The file looks like ${sniffed} but decodes as ${String(meta.format)}`);
  }
  const width = meta.autoOrient?.width ?? meta.width;
  const height = meta.autoOrient?.height ?? meta.height;
  if (!width || !height) throw new ImageRejectedError('CORRUPT_IMAGE', 'The image header has no dimensions');
  if (width * height > limits.maxInputPixels) {
    throw new ImageRejectedError(
      'IMAGE_TOO_LARGE',
      `The image is ${width}×${height} px (${megapixels(width * height)}), above the ${megapixels(limits.maxInputPixels)} decoding limit`,
    );
  }
  return {
    format: sniffed,
    width,
    height,
    bytes: data.length,
    hasAlpha: meta.hasAlpha ?? false,
    channels: meta.channels ?? 3,
    colorSpace: meta.space ?? 'unknown',
    dpi: meta.density ? Math.round(meta.density) : null,
    pages: meta.pages ?? 1,
    hasIccProfile: meta.icc !== undefined,
  };
}

/** libvips messages name the loader and the problem; keep the first line, without paths. */
export function vipsReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const line = message.split('\n').find((l) => l.trim().length > 0) ?? 'unknown error';
  return line
    .replace(/\/[^\s:]+/g, '')
    .trim()
    .slice(0, 200);
}
