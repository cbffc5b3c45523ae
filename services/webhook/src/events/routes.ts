import { newId, platformEventSchema, requireScope, validateBody } from '@tollgate/common';
import { Router } from 'express';
import type { z } from 'zod';
import { internalEventBody } from '../api-schemas';
import type { WebhookDeps } from '../deps';
import { ingestEvent } from '../deliveries/fan-out';

/** Peers that prefer HTTP to the queue: the event is stored and fanned out before the 202. */
export function internalEventRoutes(rt: WebhookDeps): Router {
  const router = Router();
  router.post('/internal/v1/events', requireScope('service'), validateBody(internalEventBody), async (req, res) => {
    const body = req.body as z.infer<typeof internalEventBody>;
    const event = platformEventSchema.parse({
      ...body,
      id: body.id ?? newId('evt'),
      created_at: body.created_at ?? rt.clock.now().toISOString(),
    });
    const result = await ingestEvent(rt, event);
    res.status(202).json({ id: result.event_id, object: 'webhook.event', duplicate: result.duplicate, deliveries: result.deliveries });
  });
  return router;
}
