import { paginationQuery, parseOrThrow, requireScope, tenantOf } from '@tollgate/common';
import { type Response, Router } from 'express';
import { z } from 'zod';
import type { LedgerDeps } from '../deps';
import { adminTenantParams, descriptionSchema, idempotencyKeySchema, positiveAmount, tenantIdSchema } from '../ledger/validation';
import { tracked } from '../metrics';
import { charge, listTransactions, type Outcome, topUp } from './service';

export const chargeBody = z.object({
  tenant_id: tenantIdSchema,
  amount: positiveAmount,
  idempotency_key: idempotencyKeySchema,
  description: descriptionSchema.optional(),
  /**
   * A late charge for usage already delivered (a call that ran past its hold): it may take the
   * available balance below zero, down to MAX_DEBT, instead of being refused.
   */
  allow_debt: z.boolean({ error: 'must be a boolean' }).optional(),
});

export const topUpBody = z.object({
  amount: positiveAmount,
  reason: descriptionSchema.optional(),
});

/** A replay answers like the original (same status and body) and says so in a header. */
export function sendOutcome<T>(res: Response, status: number, outcome: Outcome<T>): void {
  if (outcome.replayed) res.setHeader('Idempotent-Replayed', 'true');
  res.status(status).json(outcome.result);
}

export function transactionRoutes(deps: LedgerDeps): Router {
  const router = Router();

  router.get('/v1/credits/transactions', requireScope('read'), async (req, res) => {
    const { cursor, limit } = parseOrThrow(paginationQuery, req.query, 'query');
    res.json(await listTransactions(deps, tenantOf(req), cursor, limit));
  });

  router.post('/internal/v1/charges', requireScope('service'), async (req, res) => {
    const body = parseOrThrow(chargeBody, req.body ?? {}, 'body');
    sendOutcome(
      res,
      201,
      await tracked(
        deps.metrics,
        'charge',
        () => body.amount,
        () =>
          charge(deps, {
            tenantId: body.tenant_id,
            amount: body.amount,
            idempotencyKey: body.idempotency_key,
            description: body.description,
            allowDebt: body.allow_debt === true,
          }),
      ),
    );
  });

  router.post('/v1/admin/tenants/:id/credits', requireScope('admin'), async (req, res) => {
    const { id } = parseOrThrow(adminTenantParams, req.params, 'path');
    const body = parseOrThrow(topUpBody, req.body ?? {}, 'body');
    const header = req.get('idempotency-key');
    const idempotencyKey =
      header === undefined
        ? undefined
        : parseOrThrow(z.object({ 'Idempotency-Key': idempotencyKeySchema }), { 'Idempotency-Key': header }, 'header')['Idempotency-Key'];
    sendOutcome(
      res,
      201,
      await tracked(
        deps.metrics,
        'top_up',
        () => body.amount,
        () => topUp(deps, { tenantId: id, amount: body.amount, reason: body.reason, idempotencyKey }),
      ),
    );
  });

  return router;
}
