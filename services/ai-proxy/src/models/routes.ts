import { AppError, requireScope, tenantOf } from '@tollgate/common';
import { Router } from 'express';
import type { ModelRouter } from '../routing/router';
import type { ModelRoute } from '../routing/schema';

/** A stable `created` for config-defined aliases (OpenAI's field is required, its value ours). */
const CREATED = 1_700_000_000;

const modelObject = (route: ModelRoute) => ({ id: route.alias, object: 'model' as const, created: CREATED, owned_by: 'tollgate' });

/** GET /v1/models and GET /v1/models/:id: the aliases this tenant may use. */
export function modelRoutes(router: ModelRouter): Router {
  const r = Router();
  r.get('/v1/models', requireScope('completion', 'read'), (req, res) => {
    res.json({ object: 'list', data: router.modelsFor(tenantOf(req), req.identity?.models).map(modelObject) });
  });
  r.get('/v1/models/*id', requireScope('completion', 'read'), (req, res) => {
    // Aliases may hold slashes (`openai/gpt-4o`), so the id is the rest of the path.
    const raw = (req.params as Record<string, string | string[]>)['id'];
    const id = Array.isArray(raw) ? raw.join('/') : String(raw);
    const route = router.modelsFor(tenantOf(req), req.identity?.models).find((m) => m.alias === id);
    if (!route)
      throw new AppError('NOT_FOUND', `The model \`${id.slice(0, 128)}\` does not exist or you do not have access to it`, {
        details: { param: 'model', reason: 'model_not_found' },
      });
    res.json(modelObject(route));
  });
  return r;
}
