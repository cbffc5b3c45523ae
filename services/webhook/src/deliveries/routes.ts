import { requireScope, tenantOf, validateBody, validateQuery } from '@tollgate/common';
import { Router } from 'express';
import type { z } from 'zod';
import { listDeliveriesQuery, replayBody } from '../api-schemas';
import type { WebhookDeps } from '../deps';
import { getDelivery, listEndpointDeliveries, replayFailed, retryDelivery, sendTestEvent, toDeliveryObject } from './service';

export function deliveryRoutes(rt: WebhookDeps): Router {
  const router = Router();
  const read = requireScope('read', 'write');
  const write = requireScope('write');

  router.get('/v1/webhooks/endpoints/:id/deliveries', read, validateQuery(listDeliveriesQuery), async (req, res) => {
    const q = res.locals['query'] as z.infer<typeof listDeliveriesQuery>;
    res.json(
      await listEndpointDeliveries(rt, tenantOf(req), req.params['id'] as string, {
        cursor: q.cursor,
        limit: q.limit,
        status: q.status,
        event_type: q.event_type,
        since: q.since ? new Date(q.since) : undefined,
        until: q.until ? new Date(q.until) : undefined,
      }),
    );
  });

  router.get('/v1/webhooks/deliveries/:id', read, async (req, res) => {
    res.json(await getDelivery(rt, tenantOf(req), req.params['id'] as string));
  });

  router.post('/v1/webhooks/deliveries/:id/retry', write, async (req, res) => {
    res.status(202).json(toDeliveryObject(await retryDelivery(rt, tenantOf(req), req.params['id'] as string)));
  });

  router.post('/v1/webhooks/endpoints/:id/test', write, async (req, res) => {
    res.status(202).json(await sendTestEvent(rt, tenantOf(req), req.params['id'] as string));
  });

  router.post('/v1/webhooks/endpoints/:id/replay', write, validateBody(replayBody), async (req, res) => {
    const body = req.body as z.infer<typeof replayBody>;
    res
      .status(202)
      .json(
        await replayFailed(
          rt,
          tenantOf(req),
          req.params['id'] as string,
          new Date(body.since),
          body.until ? new Date(body.until) : undefined,
        ),
      );
  });

  return router;
}
