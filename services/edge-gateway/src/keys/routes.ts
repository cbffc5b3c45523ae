import { type RequestHandler, Router } from 'express';
import { paginationQuery, parseOrThrow, requireScope, validateBody, validateQuery } from '@tollgate/common';
import { tenantIdParam } from '../tenants/schemas';
import { auditActorOf } from '../audit/repository';
import { changeKey, createKey, getKey, type KeyDeps, pageKeys, revoke, rotate } from './service';
import { createKeyBody, keyIdParam, rotateKeyBody, updateKeyBody } from './schemas';

/**
 * Admin routes for API keys, mounted under /v1/admin. Responses never carry a key hash; the
 * secret exists only in the creation response (the route table keeps it out of idempotent
 * replays). The router checks the admin scope itself: the edge's check is not the only one.
 */
export function keyRoutes(deps: KeyDeps, json: RequestHandler, idempotent: RequestHandler): Router {
  const router = Router();
  router.use(requireScope('admin'));
  router.post('/tenants/:id/keys', json, idempotent, validateBody(createKeyBody), async (req, res) => {
    res.status(201).json(await createKey(deps, auditActorOf(req), parseOrThrow(tenantIdParam, req.params['id'], 'path'), req.body));
  });
  router.get('/tenants/:id/keys', validateQuery(paginationQuery), async (req, res) => {
    const { limit, cursor } = res.locals['query'] as { limit: number; cursor?: string };
    res.json(await pageKeys(deps, parseOrThrow(tenantIdParam, req.params['id'], 'path'), limit, cursor));
  });
  router.get('/keys/:id', async (req, res) => {
    res.json(await getKey(deps, parseOrThrow(keyIdParam, req.params['id'], 'path')));
  });
  router.delete('/keys/:id', async (req, res) => {
    res.json(await revoke(deps, auditActorOf(req), parseOrThrow(keyIdParam, req.params['id'], 'path')));
  });
  router.patch('/keys/:id', json, validateBody(updateKeyBody), async (req, res) => {
    res.json(await changeKey(deps, auditActorOf(req), parseOrThrow(keyIdParam, req.params['id'], 'path'), req.body));
  });
  router.post('/keys/:id/rotate', json, idempotent, validateBody(rotateKeyBody), async (req, res) => {
    res.json(await rotate(deps, auditActorOf(req), parseOrThrow(keyIdParam, req.params['id'], 'path'), req.body));
  });
  return router;
}
