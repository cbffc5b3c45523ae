import { requireScope, tenantOf } from '@tollgate/common';
import { Router } from 'express';
import { callerOf } from '../chat/routes';
import { parseChatRequest } from '../openai/validate';
import type { AsyncService } from './service';

/** POST /v1/async/chat/completions → 202; GET /v1/async/jobs/:id. */
export function asyncRoutes(service: AsyncService): Router {
  const router = Router();
  router.post('/v1/async/chat/completions', requireScope('completion'), async (req, res) => {
    const request = parseChatRequest(req.body);
    const view = await service.submit(callerOf(req, request), request);
    res.status(202).location(view.status_url).json({
      id: view.id,
      object: view.object,
      status: view.status,
      status_url: view.status_url,
      model: view.model,
      created_at: view.created_at,
    });
  });
  router.get('/v1/async/jobs/:id', requireScope('completion', 'read'), async (req, res) => {
    res.json(await service.get(tenantOf(req), String(req.params['id'])));
  });
  return router;
}
