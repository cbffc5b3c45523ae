import { EVENT_TYPES } from '@tollgate/common';
import { z } from 'zod';
import { createEndpointBody, internalEventBody, replayBody, rotateSecretBody, updateEndpointBody } from './api-schemas';

const schema = (s: z.ZodType) => z.toJSONSchema(s, { target: 'draft-2020-12', io: 'input' });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (s: unknown) => ({ 'application/json': { schema: s } });
const errorResponse = (description: string) => ({ description, content: json(ref('Error')) });
const nullable = (type: string, extra: Record<string, unknown> = {}) => ({ type: [type, 'null'], ...extra });
const timestamp = { type: 'string', format: 'date-time' };

const endpointId = { name: 'id', in: 'path', required: true, schema: { type: 'string', example: 'ep_3kT9xQ2mZ8pL1vB6nR4sW0yC' } };
const deliveryId = { name: 'id', in: 'path', required: true, schema: { type: 'string', example: 'dlv_3kT9xQ2mZ8pL1vB6nR4sW0yC' } };
const pagination = [
  { name: 'cursor', in: 'query', required: false, schema: { type: 'string' } },
  { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
];
const commonErrors = {
  '400': errorResponse('Invalid input'),
  '401': errorResponse('Missing or invalid credential'),
  '403': errorResponse('Missing scope'),
};
const notFound = { '404': errorResponse('No such endpoint or delivery for this tenant') };
const security = [{ identity: [] }];

const endpointObject = {
  type: 'object',
  required: ['id', 'object', 'url', 'event_types', 'enabled', 'created_at'],
  properties: {
    id: { type: 'string' },
    object: { const: 'webhook.endpoint' },
    url: { type: 'string', format: 'uri' },
    description: { type: 'string' },
    event_types: { type: 'array', items: { type: 'string' }, example: ['image.*', 'credits.topped_up'] },
    enabled: { type: 'boolean' },
    disabled_reason: nullable('string', {
      enum: ['manual', 'failing', 'gone', null],
      description: '`failing`: every attempt failed for the failure window; `gone`: the endpoint answered 410',
    }),
    disabled_at: nullable('string', { format: 'date-time' }),
    failing_since: nullable('string', { format: 'date-time', description: 'Start of the current run of failed attempts' }),
    previous_secret_expires_at: nullable('string', {
      format: 'date-time',
      description: 'During a rotation, until when the previous secret also signs',
    }),
    created_at: timestamp,
    updated_at: timestamp,
  },
};

const attemptObject = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { const: 'webhook.attempt' },
    attempt: { type: 'integer', description: 'Ordinal over the delivery’s whole life' },
    round: { type: 'integer' },
    trigger: { enum: ['event', 'manual', 'replay'] },
    started_at: timestamp,
    latency_ms: { type: 'integer' },
    status_code: nullable('integer'),
    outcome: { enum: ['succeeded', 'failed'] },
    error_class: nullable('string', {
      enum: [
        'http_status',
        'redirect',
        'timeout',
        'connection_refused',
        'connection_error',
        'dns_error',
        'tls_error',
        'blocked_target',
        'invalid_target',
        null,
      ],
    }),
    error_message: nullable('string'),
    response_body: nullable('string', { description: 'The first 16 KB of the response body' }),
    response_body_truncated: { type: 'boolean' },
  },
};

const deliveryObject = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { const: 'webhook.delivery' },
    endpoint_id: { type: 'string' },
    event_id: { type: 'string', description: 'Also the `webhook-id` header of every attempt' },
    event_type: { enum: [...EVENT_TYPES] },
    status: { enum: ['pending', 'succeeded', 'failed'] },
    attempts: { type: 'integer' },
    round: { type: 'integer', description: 'Incremented by a manual retry or a replay, each with a fresh retry schedule' },
    next_attempt_at: nullable('string', { format: 'date-time' }),
    last_attempt_at: nullable('string', { format: 'date-time' }),
    last_status_code: nullable('integer'),
    last_error: nullable('string'),
    event_created_at: timestamp,
    succeeded_at: nullable('string', { format: 'date-time' }),
    failed_at: nullable('string', { format: 'date-time' }),
    created_at: timestamp,
    updated_at: timestamp,
  },
};

const page = (item: unknown) => ({
  type: 'object',
  required: ['data', 'next_cursor'],
  properties: { data: { type: 'array', items: item }, next_cursor: nullable('string') },
});

/** This service's OpenAPI 3.1 document; the gateway merges every service's paths. */
export const openapiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Tollgate Webhook',
    version: '0.1.0',
    description:
      'Signed, retried Standard Webhooks deliveries of platform events. Each delivery is a POST of `{"type","timestamp","data"}` with ' +
      '`webhook-id` (the event id, stable across retries), `webhook-timestamp` and `webhook-signature` (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, ' +
      'one per valid secret during a rotation). Only 2xx counts as delivered; redirects are not followed; 410 disables the endpoint; ' +
      '`Retry-After` on 429/503 is honoured. Failed attempts are retried on a schedule (by default immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h, with jitter).',
  },
  components: {
    securitySchemes: {
      identity: {
        type: 'apiKey',
        in: 'header',
        name: 'X-Tollgate-Identity',
        description: 'Internal identity token minted by the edge gateway',
      },
    },
    schemas: {
      Error: {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            properties: {
              code: { type: 'string' },
              message: { type: 'string' },
              request_id: { type: 'string' },
              details: { type: 'object', additionalProperties: true },
            },
          },
        },
      },
      Endpoint: endpointObject,
      EndpointWithSecret: {
        allOf: [
          ref('Endpoint'),
          {
            type: 'object',
            required: ['secret'],
            properties: { secret: { type: 'string', pattern: '^whsec_', description: 'Shown only here' } },
          },
        ],
      },
      Delivery: deliveryObject,
      Attempt: attemptObject,
      DeliveryWithAttempts: {
        allOf: [ref('Delivery'), { type: 'object', properties: { attempt_log: { type: 'array', items: ref('Attempt') } } }],
      },
      CreateEndpoint: schema(createEndpointBody),
      UpdateEndpoint: schema(updateEndpointBody),
      RotateSecret: schema(rotateSecretBody),
      Replay: schema(replayBody),
      InternalEvent: schema(internalEventBody),
    },
  },
  paths: {
    '/v1/webhooks/endpoints': {
      post: {
        summary: 'Create a webhook endpoint',
        security,
        requestBody: { required: true, content: json(ref('CreateEndpoint')) },
        responses: {
          '201': { description: 'Created; the secret is shown once', content: json(ref('EndpointWithSecret')) },
          ...commonErrors,
          '409': errorResponse('Too many endpoints'),
        },
      },
      get: {
        summary: 'List webhook endpoints',
        security,
        parameters: pagination,
        responses: { '200': { description: 'A page of endpoints, newest first', content: json(page(ref('Endpoint'))) }, ...commonErrors },
      },
    },
    '/v1/webhooks/endpoints/{id}': {
      get: {
        summary: 'Get an endpoint',
        security,
        parameters: [endpointId],
        responses: { '200': { description: 'The endpoint', content: json(ref('Endpoint')) }, ...commonErrors, ...notFound },
      },
      patch: {
        summary: 'Update an endpoint (`enabled: true` re-enables a disabled one)',
        security,
        parameters: [endpointId],
        requestBody: { required: true, content: json(ref('UpdateEndpoint')) },
        responses: { '200': { description: 'The endpoint', content: json(ref('Endpoint')) }, ...commonErrors, ...notFound },
      },
      delete: {
        summary: 'Delete an endpoint and its delivery history',
        security,
        parameters: [endpointId],
        responses: {
          '200': {
            description: 'Deleted',
            content: json({
              type: 'object',
              properties: { id: { type: 'string' }, object: { const: 'webhook.endpoint' }, deleted: { const: true } },
            }),
          },
          ...commonErrors,
          ...notFound,
        },
      },
    },
    '/v1/webhooks/endpoints/{id}/rotate-secret': {
      post: {
        summary: 'Rotate the signing secret; the previous one keeps signing for 24 h',
        security,
        parameters: [endpointId],
        requestBody: { required: false, content: json(ref('RotateSecret')) },
        responses: {
          '200': {
            description: 'The new secret',
            content: json({
              type: 'object',
              properties: {
                id: { type: 'string' },
                object: { const: 'webhook.endpoint.secret' },
                secret: { type: 'string' },
                previous_secret_expires_at: timestamp,
              },
            }),
          },
          ...commonErrors,
          ...notFound,
        },
      },
    },
    '/v1/webhooks/endpoints/{id}/test': {
      post: {
        summary: 'Send a `webhook.test` event to this endpoint',
        security,
        parameters: [endpointId],
        responses: {
          '202': {
            description: 'Queued',
            content: json({ type: 'object', properties: { event_id: { type: 'string' }, delivery_id: { type: 'string' } } }),
          },
          ...commonErrors,
          ...notFound,
          '409': errorResponse('The endpoint is disabled'),
        },
      },
    },
    '/v1/webhooks/endpoints/{id}/replay': {
      post: {
        summary: 'Resend the failed deliveries of an endpoint created in [since, until)',
        security,
        parameters: [endpointId],
        requestBody: { required: true, content: json(ref('Replay')) },
        responses: {
          '202': {
            description: 'Queued',
            content: json({
              type: 'object',
              properties: {
                replayed: { type: 'integer' },
                truncated: { type: 'boolean', description: 'More than 10,000 matched; call again' },
              },
            }),
          },
          ...commonErrors,
          ...notFound,
          '409': errorResponse('The endpoint is disabled'),
        },
      },
    },
    '/v1/webhooks/endpoints/{id}/deliveries': {
      get: {
        summary: 'The delivery log of an endpoint, newest first',
        security,
        parameters: [
          endpointId,
          ...pagination,
          { name: 'status', in: 'query', required: false, schema: { enum: ['pending', 'succeeded', 'failed'] } },
          { name: 'event_type', in: 'query', required: false, schema: { enum: [...EVENT_TYPES] } },
          { name: 'since', in: 'query', required: false, schema: timestamp },
          { name: 'until', in: 'query', required: false, schema: timestamp },
        ],
        responses: { '200': { description: 'A page of deliveries', content: json(page(ref('Delivery'))) }, ...commonErrors, ...notFound },
      },
    },
    '/v1/webhooks/deliveries/{id}': {
      get: {
        summary: 'A delivery with every attempt (status, latency, error class, first 16 KB of the response)',
        security,
        parameters: [deliveryId],
        responses: { '200': { description: 'The delivery', content: json(ref('DeliveryWithAttempts')) }, ...commonErrors, ...notFound },
      },
    },
    '/v1/webhooks/deliveries/{id}/retry': {
      post: {
        summary: 'Resend a finished delivery now, with a fresh retry schedule',
        security,
        parameters: [deliveryId],
        responses: {
          '202': { description: 'Queued', content: json(ref('Delivery')) },
          ...commonErrors,
          ...notFound,
          '409': errorResponse('Already scheduled, or the endpoint is disabled'),
        },
      },
    },
    '/internal/v1/events': {
      post: {
        summary: 'Publish a platform event (scope `service`); stored and fanned out before the answer',
        security,
        requestBody: { required: true, content: json(ref('InternalEvent')) },
        responses: {
          '202': {
            description: 'Accepted',
            content: json({
              type: 'object',
              properties: { id: { type: 'string' }, duplicate: { type: 'boolean' }, deliveries: { type: 'integer' } },
            }),
          },
          ...commonErrors,
        },
      },
    },
  } as Record<string, unknown>,
  webhooks: {
    event: {
      post: {
        summary: 'A delivery to your endpoint',
        parameters: [
          { name: 'webhook-id', in: 'header', required: true, schema: { type: 'string' } },
          { name: 'webhook-timestamp', in: 'header', required: true, schema: { type: 'string', description: 'Unix seconds' } },
          {
            name: 'webhook-signature',
            in: 'header',
            required: true,
            schema: { type: 'string', example: 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=' },
          },
        ],
        requestBody: {
          content: json({
            type: 'object',
            required: ['type', 'timestamp', 'data'],
            properties: { type: { enum: [...EVENT_TYPES] }, timestamp: timestamp, data: { type: 'object' } },
          }),
        },
        responses: { '2XX': { description: 'Delivered' }, '410': { description: 'Disables the endpoint' } },
      },
    },
  },
};
