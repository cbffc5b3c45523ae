import { requireScope } from '@tollgate/common';
import { Router } from 'express';
import type { LedgerDeps } from '../deps';
import { reconcile } from './service';

export function reconcileRoutes(deps: LedgerDeps): Router {
  const router = Router();
  // 200 either way: the report says whether the ledger reconciles and, if not, where it breaks.
  router.post('/internal/v1/reconcile', requireScope('service'), async (_req, res) => {
    const report = await reconcile(deps.db, deps.clock.now());
    deps.metrics?.reconciled(report.ok);
    res.json(report);
  });
  return router;
}
