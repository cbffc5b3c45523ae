import { AppError } from '@tollgate/common';
import { z } from 'zod';
import type { PrintProfile } from '../processing/profiles';

/**
 * C0/C1 control characters (except tab and newlines), plus the Unicode bidi overrides and
 * zero-width characters that hide text from a human reading the prompt.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const FORBIDDEN_CHARACTERS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF]/;

export function promptSchema(maxLength: number) {
  return z
    .string()
    .transform((p) => p.normalize('NFC').trim())
    .pipe(
      z
        .string()
        .min(1, 'must not be empty')
        .max(maxLength, `must be at most ${maxLength} characters`)
        .refine((p) => !FORBIDDEN_CHARACTERS.test(p), 'must not contain control characters'),
    );
}

export function generationBodySchema(maxPromptLength: number) {
  return z
    .object({
      prompt: promptSchema(maxPromptLength),
      n: z.number().int().min(1).max(25).default(1),
      size: z
        .string()
        .regex(/^\d{2,5}x\d{2,5}$/, 'must look like 1024x1024')
        .optional(),
      width: z.number().int().min(64).max(20_000).optional(),
      height: z.number().int().min(64).max(20_000).optional(),
      profile: z.string().min(1).max(40).optional(),
      model: z.string().min(1).max(100).optional(),
      seed: z.number().int().min(0).max(2_147_483_647).optional(),
    })
    .strict()
    .superRefine((body, ctx) => {
      if (body.size !== undefined && (body.width !== undefined || body.height !== undefined)) {
        ctx.addIssue({ code: 'custom', path: ['size'], message: 'give either size or width and height, not both' });
      }
      if ((body.width === undefined) !== (body.height === undefined)) {
        ctx.addIssue({ code: 'custom', path: [body.width === undefined ? 'width' : 'height'], message: 'width and height go together' });
      }
    });
}

export type GenerationBody = z.infer<ReturnType<typeof generationBodySchema>>;

/** The pixel size to generate: explicit, or the profile's print size. */
export function resolveSize(body: GenerationBody, profile: PrintProfile, maxPixels: number): { width: number; height: number } {
  let width = profile.width;
  let height = profile.height;
  if (body.size) {
    [width, height] = body.size.split('x').map(Number) as [number, number];
    if (width < 64 || height < 64 || width > 20_000 || height > 20_000) {
      throw new AppError('VALIDATION_FAILED', 'Invalid body: size must be between 64 and 20000 px on each side', {
        details: { param: 'size' },
      });
    }
  } else if (body.width !== undefined && body.height !== undefined) {
    width = body.width;
    height = body.height;
  }
  if (width * height > maxPixels) {
    throw new AppError('VALIDATION_FAILED', `Invalid body: ${width}x${height} is above the ${maxPixels}-pixel limit`, {
      details: { param: body.size ? 'size' : 'width' },
    });
  }
  return { width, height };
}
