import { z } from 'zod';
import { KEY_SCOPES } from '../config';

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
