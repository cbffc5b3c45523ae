import { requireScope, tenantOf, validateBody, validateQuery } from '@tollgate/common';
import { Router } from 'express';
import type { z } from 'zod';
import { createEndpointBody, listEndpointsQuery, rotateSecretBody, updateEndpointBody } from '../api-schemas';
import type { WebhookDeps } from '../deps';
import * as endpoints from './service';

export function endpointRoutes(rt: WebhookDeps): Router {
  const router = Router();
  const read = requireScope('read', 'write');
  const write = requireScope('write');

  router.post('/v1/webhooks/endpoints', write, validateBody(createEndpointBody), async (req, res) => {
    res.status(201).json(await endpoints.createEndpoint(rt, tenantOf(req), req.body as z.infer<typeof createEndpointBody>));
  });

  router.get('/v1/webhooks/endpoints', read, validateQuery(listEndpointsQuery), async (req, res) => {
    const query = res.locals['query'] as z.infer<typeof listEndpointsQuery>;
    res.json(await endpoints.listEndpoints(rt, tenantOf(req), query.cursor, query.limit));
  });

  router.get('/v1/webhooks/endpoints/:id', read, async (req, res) => {
    res.json(await endpoints.getEndpoint(rt, tenantOf(req), req.params['id'] as string));
  });

  router.patch('/v1/webhooks/endpoints/:id', write, validateBody(updateEndpointBody), async (req, res) => {
    res.json(await endpoints.updateEndpoint(rt, tenantOf(req), req.params['id'] as string, req.body as z.infer<typeof updateEndpointBody>));
  });

  router.delete('/v1/webhooks/endpoints/:id', write, async (req, res) => {
    const id = req.params['id'] as string;
    await endpoints.deleteEndpoint(rt, tenantOf(req), id);
    res.json({ id, object: 'webhook.endpoint', deleted: true });
  });

  router.post('/v1/webhooks/endpoints/:id/rotate-secret', write, validateBody(rotateSecretBody), async (req, res) => {
    const body = req.body as z.infer<typeof rotateSecretBody>;
    res.json(await endpoints.rotateSecret(rt, tenantOf(req), req.params['id'] as string, body.secret));
  });

  return router;
}
