import { parseOrThrow, requireScope, tenantOf } from '@tollgate/common';
import { Router } from 'express';
import { z } from 'zod';
import type { LedgerDeps } from '../deps';
import { adminTenantParams, MAX_AMOUNT, tenantParams } from '../ledger/validation';
import { getBalance, setThreshold } from './service';

export const thresholdBody = z.object({
  threshold: z
    .number({ error: 'must be an integer number of micro-credits, or null for the default' })
    .int({ error: 'must be a whole number of micro-credits' })
    .min(0, { error: 'must not be negative' })
    .max(MAX_AMOUNT, { error: `must be at most ${MAX_AMOUNT}` })
    .nullable(),
});

export function accountRoutes(deps: LedgerDeps): Router {
  const router = Router();

  // The caller's own tenant only: the tenant comes from the gateway's identity, never the request.
  router.get('/v1/credits/balance', requireScope('read'), async (req, res) => {
    res.json(await getBalance(deps, tenantOf(req)));
  });

  router.get('/internal/v1/accounts/:tenant_id/balance', requireScope('service'), async (req, res) => {
    const { tenant_id } = parseOrThrow(tenantParams, req.params, 'path');
    res.json(await getBalance(deps, tenant_id));
  });

  router.get('/v1/admin/tenants/:id/credits', requireScope('admin'), async (req, res) => {
    const { id } = parseOrThrow(adminTenantParams, req.params, 'path');
    res.json(await getBalance(deps, id));
  });

  router.put('/v1/admin/tenants/:id/credits/threshold', requireScope('admin'), async (req, res) => {
    const { id } = parseOrThrow(adminTenantParams, req.params, 'path');
    const { threshold } = parseOrThrow(thresholdBody, req.body ?? {}, 'body');
    res.json(await setThreshold(deps, id, threshold));
  });

  return router;
}
