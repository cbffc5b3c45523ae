import { z } from 'zod';

/**
 * What a print product needs from artwork. The print variant is resized to exactly
 * `width`×`height` px and tagged with `dpi`; sources below `min_width`×`min_height` (default: the
 * full size) fail the quality check, since upscaling raster art shows on fabric and paper.
 */
export const printProfileSchema = z
  .object({
    description: z.string().max(200).default(''),
    width: z.number().int().min(16).max(30_000),
    height: z.number().int().min(16).max(30_000),
    dpi: z.number().int().min(72).max(1200).default(300),
    /** The print file keeps transparency (garments); otherwise it is flattened onto `background`. */
    alpha: z.boolean().default(false),
    background: z
      .string()
      .regex(/^#[0-9a-fA-F]{6}$/)
      .default('#ffffff'),
    /** `contain` never crops the artwork (pads instead); `cover` fills and crops the overflow. */
    fit: z.enum(['contain', 'cover']).default('contain'),
    min_width: z.number().int().min(1).optional(),
    min_height: z.number().int().min(1).optional(),
  })
  .transform((p) => ({ ...p, min_width: p.min_width ?? p.width, min_height: p.min_height ?? p.height }));

export type PrintProfile = z.infer<typeof printProfileSchema>;

const profile = (input: z.input<typeof printProfileSchema>): PrintProfile => printProfileSchema.parse(input);

/** Common print-on-demand products, sized at 300 DPI. */
export const DEFAULT_PRINT_PROFILES: Record<string, PrintProfile> = {
  apparel: profile({ description: 'T-shirt front print, 15×18 in', width: 4500, height: 5400, dpi: 300, alpha: true }),
  poster: profile({ description: 'Poster 18×24 in', width: 5400, height: 7200, dpi: 300, alpha: false, fit: 'cover' }),
  sticker: profile({ description: 'Die-cut sticker 4×4 in', width: 1200, height: 1200, dpi: 300, alpha: true }),
  mug: profile({ description: '11 oz mug wrap, 8.25×3.5 in', width: 2475, height: 1050, dpi: 300, alpha: false, fit: 'cover' }),
};
