import { parseOrThrow, requireScope } from '@tollgate/common';
import { Router } from 'express';
import { z } from 'zod';
import type { LedgerDeps } from '../deps';
import {
  descriptionSchema,
  holdParams,
  idempotencyKeySchema,
  nonNegativeAmount,
  positiveAmount,
  tenantIdSchema,
} from '../ledger/validation';
import { sendOutcome } from '../transactions/routes';
import { tracked } from '../metrics';
import { captureHold, createHold, releaseHold } from './service';

/** A hold's request body; `ttl_s` is capped by the configured HOLD_MAX_TTL_S. */
export const holdBodyWith = (holdMaxTtlS: number) =>
  z.object({
    tenant_id: tenantIdSchema,
    amount: positiveAmount,
    idempotency_key: idempotencyKeySchema,
    ttl_s: z
      .number({ error: 'must be a whole number of seconds' })
      .int({ error: 'must be a whole number of seconds' })
      .min(1, { error: 'must be at least 1' })
      .max(holdMaxTtlS, { error: `must be at most ${holdMaxTtlS}` })
      .optional(),
    description: descriptionSchema.optional(),
    /** The calling key's budget (issue 17): reserved by this hold, never overshot. */
    budget: z
      .object({ key_id: z.string().min(1).max(128), amount: positiveAmount, period: z.enum(['day', 'week', 'month']) })
      .strict()
      .optional(),
  });
export const captureBody = z.object({ amount: nonNegativeAmount });

export function holdRoutes(deps: LedgerDeps): Router {
  const router = Router();
  const holdBody = holdBodyWith(deps.settings.holdMaxTtlS);

  // Every hold route is service-to-service: tenants never touch holds directly.
  router.use('/internal/v1/holds', requireScope('service'));

  router.post('/internal/v1/holds', async (req, res) => {
    const body = parseOrThrow(holdBody, req.body ?? {}, 'body');
    sendOutcome(
      res,
      201,
      await tracked(
        deps.metrics,
        'hold',
        () => body.amount,
        () =>
          createHold(deps, {
            tenantId: body.tenant_id,
            amount: body.amount,
            idempotencyKey: body.idempotency_key,
            ttlS: body.ttl_s,
            budget: body.budget ? { keyId: body.budget.key_id, amount: body.budget.amount, period: body.budget.period } : undefined,
            description: body.description,
          }),
      ),
    );
  });

  router.post('/internal/v1/holds/:id/capture', async (req, res) => {
    const { id } = parseOrThrow(holdParams, req.params, 'path');
    const { amount } = parseOrThrow(captureBody, req.body ?? {}, 'body');
    sendOutcome(
      res,
      200,
      await tracked(
        deps.metrics,
        'capture',
        () => amount,
        () => captureHold(deps, id, amount),
      ),
    );
  });

  router.post('/internal/v1/holds/:id/release', async (req, res) => {
    const { id } = parseOrThrow(holdParams, req.params, 'path');
    sendOutcome(
      res,
      200,
      await tracked(
        deps.metrics,
        'release',
        (o) => o.result.released_amount,
        () => releaseHold(deps, id),
      ),
    );
  });

  return router;
}
