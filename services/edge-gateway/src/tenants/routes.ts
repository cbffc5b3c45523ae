import { type RequestHandler, Router } from 'express';
import { paginationQuery, parseOrThrow, requireScope, validateBody, validateQuery } from '@tollgate/common';
import { auditActorOf } from '../audit/repository';
import { changeTenant, createTenant, getTenant, pageTenants, type TenantDeps } from './service';
import { createTenantBody, tenantIdParam, updateTenantBody } from './schemas';

/** Admin routes for tenants, mounted under /v1/admin; the router checks the admin scope itself. */
export function tenantRoutes(deps: TenantDeps, json: RequestHandler, idempotent: RequestHandler): Router {
  const router = Router();
  router.use(requireScope('admin'));
  router.post('/tenants', json, idempotent, validateBody(createTenantBody), async (req, res) => {
    res.status(201).json(await createTenant(deps, auditActorOf(req), req.body));
  });
  router.get('/tenants', validateQuery(paginationQuery), async (_req, res) => {
    const { limit, cursor } = res.locals['query'] as { limit: number; cursor?: string };
    res.json(await pageTenants(deps, limit, cursor));
  });
  router.get('/tenants/:id', async (req, res) => {
    res.json(await getTenant(deps, parseOrThrow(tenantIdParam, req.params['id'], 'path')));
  });
  router.patch('/tenants/:id', json, validateBody(updateTenantBody), async (req, res) => {
    res.json(await changeTenant(deps, auditActorOf(req), parseOrThrow(tenantIdParam, req.params['id'], 'path'), req.body));
  });
  return router;
}
