import { parseOrThrow, requireScope, tenantOf } from '@tollgate/common';
import { Router } from 'express';
import type { PipelineDeps } from '../deps';
import { generationBodySchema } from './request';
import { createGeneration, getGeneration } from './service';

export function generationRouter(deps: PipelineDeps): Router {
  const router = Router();
  const bodySchema = generationBodySchema(deps.config.PROMPT_MAX_LENGTH);

  router.post('/v1/images/generations', requireScope('generation'), async (req, res) => {
    const tenantId = tenantOf(req);
    const body = parseOrThrow(bodySchema, req.body ?? {}, 'body');
    const generation = await createGeneration(deps, tenantId, body);
    res.status(202).json(generation);
  });

  router.get('/v1/images/generations/:id', requireScope('read'), async (req, res) => {
    res.json(await getGeneration(deps, tenantOf(req), String(req.params['id'])));
  });

  return router;
}
