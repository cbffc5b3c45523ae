import { z } from 'zod';

const limit = z.number().int().min(1).max(10_000_000);

/** Per-tenant overrides of the rate-limit tiers, in requests per window. */
export const rateLimitsSchema = z
  .object({ completion: limit, generation: limit, write: limit, read: limit })
  .partial()
  .strict();

export const createTenantBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    rate_limits: rateLimitsSchema.optional(),
  })
  .strict();

export const updateTenantBody = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    rate_limits: rateLimitsSchema.optional(),
  })
  .strict();

export const tenantIdParam = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a tenant id');

export type CreateTenantInput = z.infer<typeof createTenantBody>;
export type UpdateTenantInput = z.infer<typeof updateTenantBody>;
