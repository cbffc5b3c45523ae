import { EVENT_TYPES, paginationQuery } from '@tollgate/common';
import { z } from 'zod';
import { EVENT_PATTERN } from './endpoints/event-filter';

const eventTypes = z.array(z.string().max(100).regex(EVENT_PATTERN, 'must be *, an event type or a prefix such as image.*')).min(1).max(50);

export const createEndpointBody = z
  .object({
    url: z.string().min(1).max(2048),
    description: z.string().max(1000).optional(),
    event_types: eventTypes.optional().describe('Patterns: `*`, an exact type, or `prefix.*`; default `["*"]`'),
    enabled: z.boolean().optional(),
    secret: z.string().max(200).optional().describe('A `whsec_` secret to use instead of a generated one'),
  })
  .strict();

export const updateEndpointBody = z
  .object({
    url: z.string().min(1).max(2048).optional(),
    description: z.string().max(1000).optional(),
    event_types: eventTypes.optional(),
    enabled: z.boolean().optional().describe('`true` re-enables a disabled endpoint'),
  })
  .strict();

export const rotateSecretBody = z.object({ secret: z.string().max(200).optional() }).strict();

export const replayBody = z
  .object({
    since: z.string().datetime({ offset: true }),
    until: z.string().datetime({ offset: true }).optional(),
  })
  .strict();

export const listEndpointsQuery = paginationQuery;

export const listDeliveriesQuery = paginationQuery.extend({
  status: z.enum(['pending', 'succeeded', 'failed']).optional(),
  event_type: z.enum(EVENT_TYPES).optional(),
  since: z.string().datetime({ offset: true }).optional(),
  until: z.string().datetime({ offset: true }).optional(),
});

/** `POST /internal/v1/events`: a platform event; the id and time are filled in when absent. */
export const internalEventBody = z
  .object({
    id: z
      .string()
      .regex(/^evt_[A-Za-z0-9_]{16,80}$/)
      .optional(),
    type: z.enum(EVENT_TYPES),
    tenant_id: z.string().min(1).max(128),
    created_at: z.string().datetime({ offset: true }).optional(),
    data: z.record(z.string(), z.unknown()),
  })
  .strict();
