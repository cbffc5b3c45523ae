import { z } from 'zod';
import { KEY_SCOPES } from '../config';
import { rateLimitsSchema } from '../tenants/schemas';

export const createKeyBody = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    scopes: z
      .array(z.enum(KEY_SCOPES))
      .min(1)
      .refine((s) => new Set(s).size === s.length, 'must not repeat a scope')
      .optional(),
    expires_at: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

export type CreateKeyInput = z.infer<typeof createKeyBody>;

export const keyIdParam = z.string().regex(/^key_[A-Za-z0-9]{16,40}$/, 'must be a key_ id');

/** Model aliases as ai-proxy names them (they may hold slashes); at most 100, no repeats. */
const allowedModels = z
  .array(
    z
      .string()
      .min(1)
      .max(256)
      .regex(/^[\x21-\x7e]+$/, 'must be a model alias'),
  )
  .max(100)
  .refine((m) => new Set(m).size === m.length, 'must not repeat a model');

/** What an operator may change on a key; `null` clears a setting. */
export const updateKeyBody = z
  .object({
    name: z.string().trim().min(1).max(200).nullable().optional(),
    scopes: z
      .array(z.enum(KEY_SCOPES))
      .min(1)
      .refine((s) => new Set(s).size === s.length, 'must not repeat a scope')
      .optional(),
    allowed_models: allowedModels.nullable().optional(),
    rate_limits: rateLimitsSchema.optional(),
    tokens_per_minute: z.number().int().min(1).max(1_000_000_000).nullable().optional(),
    /** Micro-credits per UTC day, Monday week or calendar month; reserved with each call's hold (402 budget_exceeded when over). */
    budget: z
      .object({ amount: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER), period: z.enum(['day', 'week', 'month']) })
      .strict()
      .nullable()
      .optional(),
    expires_at: z.iso.datetime({ offset: true }).nullable().optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'name at least one field to change');

export type UpdateKeyInput = z.infer<typeof updateKeyBody>;

/** The replaced secret keeps working `grace_s` seconds (at most 7 days; 0 ends it now). */
export const rotateKeyBody = z
  .object({ grace_s: z.number().int().min(0).max(604_800).default(0) })
  .strict()
  .optional()
  .transform((b) => b ?? { grace_s: 0 });
export type RotateKeyInput = z.infer<typeof rotateKeyBody>;
