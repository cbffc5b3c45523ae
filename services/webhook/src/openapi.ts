import { ApiDocument, errors, EVENT_TYPES, jsonBody, jsonResponse } from '@tollgate/common';
import { z } from 'zod';
import {
  createEndpointBody,
  internalEventBody,
  listDeliveriesQuery,
  listEndpointsQuery,
  replayBody,
  rotateSecretBody,
  updateEndpointBody,
} from './api-schemas';

const api = new ApiDocument({
  title: 'Tollgate Webhook',
  description:
    'Signed, retried Standard Webhooks deliveries of platform events. Each delivery is a POST of `{"type","timestamp","data"}` with ' +
    '`webhook-id` (the event id, stable across retries), `webhook-timestamp` and `webhook-signature` (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, ' +
    'one per valid secret during a rotation). Only 2xx counts as delivered; redirects are not followed; 410 disables the endpoint; ' +
    '`Retry-After` on 429/503 is honoured. Failed attempts are retried on a schedule (by default immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h, with jitter).',
});

const timestamp = z.iso.datetime({ offset: true });
const endpointFields = {
  id: z.string(),
  object: z.literal('webhook.endpoint'),
  url: z.url(),
  description: z.string().optional(),
  event_types: z.array(z.string()).meta({ example: ['image.*', 'credits.topped_up'] }),
  enabled: z.boolean(),
  disabled_reason: z
    .enum(['manual', 'failing', 'gone'])
    .nullable()
    .optional()
    .meta({ description: '`failing`: every attempt failed for the failure window; `gone`: the endpoint answered 410' }),
  disabled_at: timestamp.nullable().optional(),
  failing_since: timestamp.nullable().optional().meta({ description: 'Start of the current run of failed attempts' }),
  previous_secret_expires_at: timestamp
    .nullable()
    .optional()
    .meta({ description: 'During a rotation, until when the previous secret also signs' }),
  created_at: timestamp,
  updated_at: timestamp.optional(),
};
const endpoint = api.schema('Endpoint', z.object(endpointFields));
const endpointWithSecret = api.schema(
  'EndpointWithSecret',
  z.object({
    ...endpointFields,
    secret: z
      .string()
      .regex(/^whsec_/)
      .meta({ description: 'Shown only here' }),
  }),
);

const attempt = api.schema(
  'Attempt',
  z
    .object({
      id: z.string(),
      object: z.literal('webhook.attempt'),
      attempt: z.number().int().meta({ description: 'Ordinal over the delivery’s whole life' }),
      round: z.number().int(),
      trigger: z.enum(['event', 'manual', 'replay']),
      started_at: timestamp,
      latency_ms: z.number().int(),
      status_code: z.number().int().nullable(),
      outcome: z.enum(['succeeded', 'failed']),
      error_class: z
        .enum([
          'http_status',
          'redirect',
          'timeout',
          'connection_refused',
          'connection_error',
          'dns_error',
          'tls_error',
          'blocked_target',
          'invalid_target',
        ])
        .nullable(),
      error_message: z.string().nullable(),
      response_body: z.string().nullable().meta({ description: 'The first 16 KB of the response body' }),
      response_body_truncated: z.boolean(),
    })
    .partial(),
);

const deliveryFields = {
  id: z.string(),
  object: z.literal('webhook.delivery'),
  endpoint_id: z.string(),
  event_id: z.string().meta({ description: 'Also the `webhook-id` header of every attempt' }),
  event_type: z.enum(EVENT_TYPES),
  status: z.enum(['pending', 'succeeded', 'failed']),
  attempts: z.number().int(),
  round: z.number().int().meta({ description: 'Incremented by a manual retry or a replay, each with a fresh retry schedule' }),
  next_attempt_at: timestamp.nullable(),
  last_attempt_at: timestamp.nullable(),
  last_status_code: z.number().int().nullable(),
  last_error: z.string().nullable(),
  event_created_at: timestamp,
  succeeded_at: timestamp.nullable(),
  failed_at: timestamp.nullable(),
  created_at: timestamp,
  updated_at: timestamp,
};
const delivery = api.schema('Delivery', z.object(deliveryFields).partial());
const deliveryWithAttempts = api.schema('DeliveryWithAttempts', z.object({ ...deliveryFields, attempt_log: z.array(attempt) }).partial());
const page = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), next_cursor: z.string().nullable() });

const endpointParams = z.object({ id: z.string().meta({ example: 'ep_3kT9xQ2mZ8pL1vB6nR4sW0yC' }) });
const deliveryParams = z.object({ id: z.string().meta({ example: 'dlv_3kT9xQ2mZ8pL1vB6nR4sW0yC' }) });
const notFound = errors([404, 'No such endpoint or delivery for this tenant']);
const disabled = errors([409, 'The endpoint is disabled']);

api.route({
  method: 'post',
  path: '/v1/webhooks/endpoints',
  summary: 'Create a webhook endpoint',
  tags: ['webhook'],
  scope: 'write',
  request: { body: jsonBody(api.schema('CreateEndpoint', createEndpointBody)) },
  responses: { 201: jsonResponse('Created; the secret is shown once', endpointWithSecret), ...errors([409, 'Too many endpoints']) },
});
api.route({
  method: 'get',
  path: '/v1/webhooks/endpoints',
  summary: 'List webhook endpoints',
  tags: ['webhook'],
  scope: 'read',
  request: { query: listEndpointsQuery },
  responses: { 200: jsonResponse('A page of endpoints, newest first', page(endpoint)) },
});
api.route({
  method: 'get',
  path: '/v1/webhooks/endpoints/{id}',
  summary: 'Get an endpoint',
  tags: ['webhook'],
  scope: 'read',
  request: { params: endpointParams },
  responses: { 200: jsonResponse('The endpoint', endpoint), ...notFound },
});
api.route({
  method: 'patch',
  path: '/v1/webhooks/endpoints/{id}',
  summary: 'Update an endpoint (`enabled: true` re-enables a disabled one)',
  tags: ['webhook'],
  scope: 'write',
  request: { params: endpointParams, body: jsonBody(api.schema('UpdateEndpoint', updateEndpointBody)) },
  responses: { 200: jsonResponse('The endpoint', endpoint), ...notFound },
});
api.route({
  method: 'delete',
  path: '/v1/webhooks/endpoints/{id}',
  summary: 'Delete an endpoint and its delivery history',
  tags: ['webhook'],
  scope: 'write',
  request: { params: endpointParams },
  responses: {
    200: jsonResponse('Deleted', z.object({ id: z.string(), object: z.literal('webhook.endpoint'), deleted: z.literal(true) })),
    ...notFound,
  },
});
api.route({
  method: 'post',
  path: '/v1/webhooks/endpoints/{id}/rotate-secret',
  summary: 'Rotate the signing secret; the previous one keeps signing for 24 h',
  tags: ['webhook'],
  scope: 'write',
  request: {
    params: endpointParams,
    body: { required: false, content: { 'application/json': { schema: api.schema('RotateSecret', rotateSecretBody) } } },
  },
  responses: {
    200: jsonResponse(
      'The new secret',
      z.object({ id: z.string(), object: z.literal('webhook.endpoint.secret'), secret: z.string(), previous_secret_expires_at: timestamp }),
    ),
    ...notFound,
  },
});
api.route({
  method: 'post',
  path: '/v1/webhooks/endpoints/{id}/test',
  summary: 'Send a `webhook.test` event to this endpoint',
  tags: ['webhook'],
  scope: 'write',
  request: { params: endpointParams },
  responses: { 202: jsonResponse('Queued', z.object({ event_id: z.string(), delivery_id: z.string() })), ...notFound, ...disabled },
});
api.route({
  method: 'post',
  path: '/v1/webhooks/endpoints/{id}/replay',
  summary: 'Resend the failed deliveries of an endpoint created in [since, until)',
  tags: ['webhook'],
  scope: 'write',
  request: { params: endpointParams, body: jsonBody(api.schema('Replay', replayBody)) },
  responses: {
    202: jsonResponse(
      'Queued',
      z.object({ replayed: z.number().int(), truncated: z.boolean().meta({ description: 'More than 10,000 matched; call again' }) }),
    ),
    ...notFound,
    ...disabled,
  },
});
api.route({
  method: 'get',
  path: '/v1/webhooks/endpoints/{id}/deliveries',
  summary: 'The delivery log of an endpoint, newest first',
  tags: ['webhook'],
  scope: 'read',
  request: { params: endpointParams, query: listDeliveriesQuery },
  responses: { 200: jsonResponse('A page of deliveries', page(delivery)), ...notFound },
});
api.route({
  method: 'get',
  path: '/v1/webhooks/deliveries/{id}',
  summary: 'A delivery with every attempt (status, latency, error class, first 16 KB of the response)',
  tags: ['webhook'],
  scope: 'read',
  request: { params: deliveryParams },
  responses: { 200: jsonResponse('The delivery', deliveryWithAttempts), ...notFound },
});
api.route({
  method: 'post',
  path: '/v1/webhooks/deliveries/{id}/retry',
  summary: 'Resend a finished delivery now, with a fresh retry schedule',
  tags: ['webhook'],
  scope: 'write',
  request: { params: deliveryParams },
  responses: { 202: jsonResponse('Queued', delivery), ...notFound, ...errors([409, 'Already scheduled, or the endpoint is disabled']) },
});

// Service-to-service (scope `service`): x-internal-paths, never in the public document.
api.route({
  method: 'post',
  path: '/internal/v1/events',
  summary: 'Publish a platform event (scope `service`); stored and fanned out before the answer',
  scope: 'service',
  request: { body: jsonBody(internalEventBody) },
  responses: {
    202: jsonResponse('Accepted', z.object({ id: z.string(), duplicate: z.boolean(), deliveries: z.number().int() }).partial()),
  },
});

// What Tollgate sends to a subscriber's endpoint.
api.registry.registerWebhook({
  method: 'post',
  path: 'event',
  summary: 'A delivery to your endpoint',
  request: {
    headers: z.object({
      'webhook-id': z.string(),
      'webhook-timestamp': z.string().meta({ description: 'Unix seconds' }),
      'webhook-signature': z.string().meta({ example: 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=' }),
    }),
    body: jsonBody(z.object({ type: z.enum(EVENT_TYPES), timestamp, data: z.looseObject({}) })),
  },
  responses: { '2XX': { description: 'Delivered' }, 410: { description: 'Disables the endpoint' } },
});

/** This service's OpenAPI 3.1 document, generated from the zod schemas above and the routes'. */
export const openapiDocument = api.build();
