import { z } from 'zod';
import { createKeyBody, rotateKeyBody, updateKeyBody } from './keys/schemas';
import { createTenantBody, rateLimitsSchema, updateTenantBody } from './tenants/schemas';

const schema = (s: z.ZodType) => z.toJSONSchema(s, { target: 'draft-2020-12', io: 'input' });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (s: unknown) => ({ 'application/json': { schema: s } });
const errorResponse = (description: string) => ({ description, content: json(ref('Error')) });

const idempotencyKey = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description: 'Retries with the same key replay the first response for 24 h (Idempotent-Replayed: true)',
  schema: { type: 'string', maxLength: 255 },
};
const tenantId = { name: 'id', in: 'path', required: true, schema: { type: 'string', example: 'ten_3kT9xQ2mZ8pL1vB6nR4sW0yC' } };
const keyId = { name: 'id', in: 'path', required: true, schema: { type: 'string', example: 'key_3kT9xQ2mZ8pL1vB6nR4sW0yC' } };
const pagination = [
  { name: 'cursor', in: 'query', required: false, schema: { type: 'string' } },
  { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
];
const adminErrors = {
  '400': errorResponse('Invalid input'),
  '401': errorResponse('Missing or invalid credential'),
  '403': errorResponse('The credential is not an admin'),
  '429': errorResponse('Rate limited'),
};

/** The gateway's own OpenAPI document; /openapi.json merges every service's paths into it. */
export const openapiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Tollgate API',
    version: '0.1.0',
    description:
      'The public API of Tollgate, served through the edge gateway. Authenticate with `Authorization: Bearer <API key or JWT>`. ' +
      'Rate-limited routes return `RateLimit-Policy`, `RateLimit` and `X-RateLimit-*`; a 429 carries `Retry-After`. ' +
      'Any POST accepts `Idempotency-Key`.',
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API key (tg_...), a JWT, or the admin token' } },
    schemas: {
      Error: {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            properties: {
              code: { type: 'string', example: 'RATE_LIMITED' },
              message: { type: 'string' },
              request_id: { type: 'string' },
              details: { type: 'object', additionalProperties: true },
            },
          },
        },
      },
      RateLimits: schema(rateLimitsSchema),
      CreateTenant: schema(createTenantBody),
      UpdateTenant: schema(updateTenantBody),
      Tenant: {
        type: 'object',
        required: ['id', 'object', 'name', 'rate_limits', 'created_at', 'updated_at'],
        properties: {
          id: { type: 'string', example: 'ten_3kT9xQ2mZ8pL1vB6nR4sW0yC' },
          object: { const: 'tenant' },
          name: { type: 'string' },
          rate_limits: ref('RateLimits'),
          created_at: { type: 'string', format: 'date-time' },
          updated_at: { type: 'string', format: 'date-time' },
        },
      },
      CreateKey: schema(createKeyBody),
      ApiKey: {
        type: 'object',
        required: ['id', 'object', 'tenant_id', 'name', 'prefix', 'scopes', 'expires_at', 'revoked_at', 'created_at'],
        properties: {
          id: { type: 'string', example: 'key_3kT9xQ2mZ8pL1vB6nR4sW0yC' },
          object: { const: 'api_key' },
          tenant_id: { type: 'string' },
          name: { type: ['string', 'null'] },
          prefix: { type: 'string', example: 'tg_AbC12345', description: 'The first characters of the key' },
          scopes: { type: 'array', items: { enum: ['read', 'write', 'completion', 'generation'] } },
          expires_at: { type: ['string', 'null'], format: 'date-time' },
          revoked_at: { type: ['string', 'null'], format: 'date-time' },
          created_at: { type: 'string', format: 'date-time' },
          allowed_models: {
            type: ['array', 'null'],
            items: { type: 'string' },
            description: 'Model aliases this key may use; null: all of its tenant’s',
          },
          rate_limits: ref('RateLimits'),
          tokens_per_minute: { type: ['integer', 'null'] },
          budget: {
            type: ['object', 'null'],
            description: 'Micro-credits per UTC day, Monday week or calendar month, reserved with each call; over it: 402 budget_exceeded',
            properties: { amount: { type: 'integer', minimum: 1 }, period: { enum: ['day', 'week', 'month'] } },
          },
          previous_key_expires_at: {
            type: ['string', 'null'],
            format: 'date-time',
            description: 'After a rotation: when the replaced secret stops working',
          },
        },
      },
      UpdateKey: schema(updateKeyBody),
      RotateKey: schema(rotateKeyBody),
      AuditEvent: {
        type: 'object',
        properties: {
          id: { type: 'string', example: 'aud_42' },
          object: { const: 'audit_event' },
          at: { type: 'string', format: 'date-time' },
          actor: { type: 'string', description: '`admin_token`, `jwt:<subject>` or the admin key id' },
          request_id: { type: 'string' },
          action: { type: 'string', example: 'key.update' },
          target: { type: 'string', example: 'key:key_3kT9xQ2mZ8pL1vB6nR4sW0yC' },
          tenant_id: { type: ['string', 'null'] },
          changes: {
            type: 'object',
            additionalProperties: true,
            description: 'Field → {from, to} for updates; the values set for creations and proxied actions',
          },
        },
      },
      CreatedKey: {
        allOf: [
          ref('ApiKey'),
          {
            type: 'object',
            required: ['key'],
            properties: {
              key: {
                type: ['string', 'null'],
                description: 'The secret, shown only in this response (null in an idempotent replay: the secret is never stored)',
                example: 'tg_AbC12345dEf67890gHi12345jKl67890Mn0PqR7',
              },
            },
          },
        ],
      },
      TenantPage: {
        type: 'object',
        required: ['data', 'next_cursor'],
        properties: { data: { type: 'array', items: ref('Tenant') }, next_cursor: { type: ['string', 'null'] } },
      },
      KeyPage: {
        type: 'object',
        required: ['data', 'next_cursor'],
        properties: { data: { type: 'array', items: ref('ApiKey') }, next_cursor: { type: ['string', 'null'] } },
      },
    },
  },
  security: [{ bearer: [] }],
  tags: [{ name: 'admin', description: 'Tenants and API keys (ADMIN_TOKEN or a JWT with scope admin)' }],
  paths: {
    '/v1/admin/tenants': {
      post: {
        tags: ['admin'],
        summary: 'Create a tenant',
        parameters: [idempotencyKey],
        requestBody: { required: true, content: json(ref('CreateTenant')) },
        responses: { '201': { description: 'The tenant', content: json(ref('Tenant')) }, ...adminErrors },
      },
      get: {
        tags: ['admin'],
        summary: 'List tenants, newest first',
        parameters: pagination,
        responses: { '200': { description: 'A page of tenants', content: json(ref('TenantPage')) }, ...adminErrors },
      },
    },
    '/v1/admin/tenants/{id}': {
      get: {
        tags: ['admin'],
        summary: 'Get a tenant',
        parameters: [tenantId],
        responses: {
          '200': { description: 'The tenant', content: json(ref('Tenant')) },
          '404': errorResponse('No such tenant'),
          ...adminErrors,
        },
      },
      patch: {
        tags: ['admin'],
        summary: 'Rename a tenant or change its rate limits (effective on every replica at once)',
        parameters: [tenantId],
        requestBody: { required: true, content: json(ref('UpdateTenant')) },
        responses: {
          '200': { description: 'The tenant', content: json(ref('Tenant')) },
          '404': errorResponse('No such tenant'),
          ...adminErrors,
        },
      },
    },
    '/v1/admin/tenants/{id}/keys': {
      post: {
        tags: ['admin'],
        summary: 'Create an API key (the secret is returned once)',
        parameters: [tenantId, idempotencyKey],
        requestBody: { required: false, content: json(ref('CreateKey')) },
        responses: {
          '201': { description: 'The key, with its secret', content: json(ref('CreatedKey')) },
          '404': errorResponse('No such tenant'),
          ...adminErrors,
        },
      },
      get: {
        tags: ['admin'],
        summary: "List a tenant's keys (never their secrets)",
        parameters: [tenantId, ...pagination],
        responses: {
          '200': { description: 'A page of keys', content: json(ref('KeyPage')) },
          '404': errorResponse('No such tenant'),
          ...adminErrors,
        },
      },
    },
    '/v1/admin/keys/{id}': {
      get: {
        tags: ['admin'],
        summary: 'Get an API key',
        parameters: [keyId],
        responses: { '200': { description: 'The key', content: json(ref('ApiKey')) }, '404': errorResponse('No such key'), ...adminErrors },
      },
      delete: {
        tags: ['admin'],
        summary: 'Revoke an API key (every gateway replica refuses it within a second)',
        parameters: [keyId],
        responses: {
          '200': { description: 'The revoked key', content: json(ref('ApiKey')) },
          '404': errorResponse('No such key'),
          ...adminErrors,
        },
      },
      patch: {
        tags: ['admin'],
        summary:
          'Change a key: name, scopes, allowed_models (null: all), rate_limits, tokens_per_minute, budget, expires_at (every replica applies it at once)',
        parameters: [keyId],
        requestBody: { required: true, content: json(ref('UpdateKey')) },
        responses: {
          '200': { description: 'The key', content: json(ref('ApiKey')) },
          '404': errorResponse('No such key'),
          '409': errorResponse('The key is revoked'),
          ...adminErrors,
        },
      },
    },
    '/v1/admin/keys/{id}/rotate': {
      post: {
        tags: ['admin'],
        summary: 'A new secret for the key (shown once); the replaced one works for grace_s more seconds',
        parameters: [keyId, idempotencyKey],
        requestBody: { required: false, content: json(ref('RotateKey')) },
        responses: {
          '200': { description: 'The key with its new secret', content: json(ref('CreatedKey')) },
          '404': errorResponse('No such key'),
          '409': errorResponse('The key is revoked'),
          ...adminErrors,
        },
      },
    },
    '/v1/admin/audit-log': {
      get: {
        tags: ['admin'],
        summary: 'Every admin action (tenants, keys, credits, limits), newest first; append-only',
        parameters: [
          { name: 'target', in: 'query', required: false, schema: { type: 'string', example: 'key:key_3kT9xQ2mZ8pL1vB6nR4sW0yC' } },
          { name: 'actor', in: 'query', required: false, schema: { type: 'string' } },
          ...pagination,
        ],
        responses: {
          '200': {
            description: 'A page of events',
            content: json({
              type: 'object',
              properties: { data: { type: 'array', items: ref('AuditEvent') }, next_cursor: { type: ['string', 'null'] } },
            }),
          },
          ...adminErrors,
        },
      },
    },
  } as Record<string, unknown>,
};
