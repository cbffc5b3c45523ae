import { type NextFunction, type Request, type RequestHandler, type Response, Router } from 'express';
import { paginationQuery, parseOrThrow, validateBody, validateQuery } from '@tollgate/common';
import { gatewayState } from '../request-state';
import { tenantIdParam } from '../tenants/schemas';
import { createKey, getKey, type KeyDeps, pageKeys, revoke } from './service';
import { createKeyBody, keyIdParam } from './schemas';

/**
 * The secret exists only in the creation response: the idempotency record keeps the key's
 * metadata with `key: null`, so a replay tells the caller to revoke it and create another.
 */
function keepSecretOutOfReplays(req: Request, _res: Response, next: NextFunction): void {
  gatewayState(req).redactStoredBody = (body) => {
    try {
      const parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      if (typeof parsed['key'] !== 'string') return body;
      return Buffer.from(JSON.stringify({ ...parsed, key: null, key_redacted: true }));
    } catch {
      return Buffer.alloc(0);
    }
  };
  next();
}

/** Admin routes for API keys, mounted under /v1/admin. Responses never carry a key hash. */
export function keyRoutes(deps: KeyDeps, json: RequestHandler, idempotent: RequestHandler): Router {
  const router = Router();
  router.post('/tenants/:id/keys', json, keepSecretOutOfReplays, idempotent, validateBody(createKeyBody), async (req, res) => {
    res.status(201).json(await createKey(deps, parseOrThrow(tenantIdParam, req.params['id'], 'path'), req.body));
  });
  router.get('/tenants/:id/keys', validateQuery(paginationQuery), async (req, res) => {
    const { limit, cursor } = res.locals['query'] as { limit: number; cursor?: string };
    res.json(await pageKeys(deps, parseOrThrow(tenantIdParam, req.params['id'], 'path'), limit, cursor));
  });
  router.get('/keys/:id', async (req, res) => {
    res.json(await getKey(deps, parseOrThrow(keyIdParam, req.params['id'], 'path')));
  });
  router.delete('/keys/:id', async (req, res) => {
    res.json(await revoke(deps, parseOrThrow(keyIdParam, req.params['id'], 'path')));
  });
  return router;
}
