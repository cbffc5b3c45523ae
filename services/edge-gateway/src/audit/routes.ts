import { requireScope, validateQuery } from '@tollgate/common';
import { Router } from 'express';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { GatewayDb } from '../db';
import { pageAudit } from './repository';

export const auditQuery = z
  .object({
    target: z.string().min(1).max(200).optional(),
    actor: z.string().min(1).max(200).optional(),
    cursor: z.string().max(512).optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
  })
  .strict();

/** GET /v1/admin/audit-log (mounted under /v1/admin): the append-only record of admin actions, newest first. */
export function auditRoutes(deps: { db: Kysely<GatewayDb> }): Router {
  const router = Router();
  router.get('/audit-log', requireScope('admin'), validateQuery(auditQuery), async (_req, res) => {
    res.json(await pageAudit(deps.db, res.locals['query'] as z.infer<typeof auditQuery>));
  });
  return router;
}
