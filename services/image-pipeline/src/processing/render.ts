import sharp from 'sharp';
import type { ImageFormat } from '../db';
import { ImageRejectedError, vipsReason } from './inspect';
import type { PrintProfile } from './profiles';

export interface RenderOptions {
  maxInputPixels: number;
  thumbSize: number;
  /** zlib level of the print PNG: 6 is the usual size/speed balance. */
  pngCompressionLevel?: number;
}

export interface RenderedVariant {
  data: Buffer;
  format: ImageFormat;
  width: number;
  height: number;
  dpi?: number;
}

/**
 * Every decode goes through here: errors fail the decode (a truncated or corrupt file is an
 * error, not a half-grey image), the pixel limit is explicit, and only the first frame is read.
 */
export function decoder(data: Buffer, maxInputPixels: number): sharp.Sharp {
  return sharp(data, { failOn: 'error', limitInputPixels: maxInputPixels, sequentialRead: true, pages: 1 }).autoOrient();
}

/** libvips errors while decoding are about the data, not the moment: retrying cannot help. */
async function decoding<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    const reason = vipsReason(err);
    if (/pixel limit/i.test(reason))
      throw new ImageRejectedError('IMAGE_TOO_LARGE', `The image exceeds the decoding pixel limit: ${reason}`);
    throw new ImageRejectedError('CORRUPT_IMAGE', `The image data is corrupt or truncated: ${reason}`);
  }
}

const hexToRgb = (hex: string) => ({
  r: parseInt(hex.slice(1, 3), 16),
  g: parseInt(hex.slice(3, 5), 16),
  b: parseInt(hex.slice(5, 7), 16),
});

/**
 * Decodes the source once into sRGB pixels at the profile's size, then encodes the print file
 * (PNG, the profile's DPI in its metadata, sRGB ICC profile) and the 512 px WebP thumb from
 * those pixels. Starting from raw pixels means nothing of the source's metadata or any bytes
 * appended to it can reach a variant.
 */
export async function renderPrintAndThumb(
  data: Buffer,
  profile: PrintProfile,
  options: RenderOptions,
): Promise<{ print: RenderedVariant; thumb: RenderedVariant }> {
  const background = profile.alpha ? { ...hexToRgb(profile.background), alpha: 0 } : { ...hexToRgb(profile.background), alpha: 1 };
  const pixels = await decoding(() => {
    let pipeline = decoder(data, options.maxInputPixels).toColourspace('srgb');
    pipeline = profile.alpha ? pipeline.ensureAlpha() : pipeline.flatten({ background: profile.background });
    return pipeline
      .resize(profile.width, profile.height, { fit: profile.fit, background, kernel: 'lanczos3', position: 'centre' })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  });
  const raw = { raw: { width: pixels.info.width, height: pixels.info.height, channels: pixels.info.channels } };
  const [print, thumb] = await Promise.all([
    sharp(pixels.data, raw)
      .withMetadata({ density: profile.dpi })
      .png({ compressionLevel: options.pngCompressionLevel ?? 6, adaptiveFiltering: false })
      .toBuffer({ resolveWithObject: true }),
    sharp(pixels.data, raw)
      .resize(options.thumbSize, options.thumbSize, { fit: 'inside' })
      .webp({ quality: 80, alphaQuality: 90, effort: 2 })
      .toBuffer({ resolveWithObject: true }),
  ]);
  return {
    print: { data: print.data, format: 'png', width: print.info.width, height: print.info.height, dpi: profile.dpi },
    thumb: { data: thumb.data, format: 'webp', width: thumb.info.width, height: thumb.info.height },
  };
}

/** Only a preview, for images that failed their quality check (a reviewer still sees what it was). */
export async function renderThumb(data: Buffer, options: RenderOptions): Promise<RenderedVariant> {
  const thumb = await decoding(() =>
    decoder(data, options.maxInputPixels)
      .toColourspace('srgb')
      .resize(options.thumbSize, options.thumbSize, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 80, alphaQuality: 90, effort: 2 })
      .toBuffer({ resolveWithObject: true }),
  );
  return { data: thumb.data, format: 'webp', width: thumb.info.width, height: thumb.info.height };
}
