import { ApiDocument, type ApiRoute, errors, jsonBody, jsonResponse, paginationQuery } from '@tollgate/common';
import { z } from 'zod';
import { auditQuery } from './audit/routes';
import { createKeyBody, keyIdParam, rotateKeyBody, updateKeyBody } from './keys/schemas';
import { createTenantBody, rateLimitsSchema, tenantIdParam, updateTenantBody } from './tenants/schemas';

const api = new ApiDocument(
  {
    title: 'Tollgate API',
    description:
      'The public API of Tollgate, served through the edge gateway. Authenticate with `Authorization: Bearer <API key or JWT>`. ' +
      'Rate-limited routes return `RateLimit-Policy`, `RateLimit` and `X-RateLimit-*`; a 429 carries `Retry-After`. ' +
      'Any POST accepts `Idempotency-Key`.',
    tags: [{ name: 'admin', description: 'Tenants and API keys (ADMIN_TOKEN or a JWT with scope admin)' }],
  },
  // Every admin route is rate limited by the gateway as well.
  {
    errorAnswers: (route) =>
      errors(
        ...(route.request ? [400] : []),
        401,
        [403, 'The credential is not an admin'],
        ...(route.request?.body ? [413] : []),
        429,
        500,
        503,
      ),
  },
);

const timestamp = z.iso.datetime({ offset: true });
const rateLimits = api.schema('RateLimits', rateLimitsSchema);
const tenant = api.schema(
  'Tenant',
  z.object({
    id: z.string().meta({ example: 'ten_3kT9xQ2mZ8pL1vB6nR4sW0yC' }),
    object: z.literal('tenant'),
    name: z.string(),
    rate_limits: rateLimits,
    created_at: timestamp,
    updated_at: timestamp,
  }),
);
const keyFields = {
  id: z.string().meta({ example: 'key_3kT9xQ2mZ8pL1vB6nR4sW0yC' }),
  object: z.literal('api_key'),
  tenant_id: z.string(),
  name: z.string().nullable(),
  prefix: z.string().meta({ example: 'tg_AbC12345', description: 'The first characters of the key' }),
  scopes: z.array(z.enum(['read', 'write', 'completion', 'generation'])),
  expires_at: timestamp.nullable(),
  revoked_at: timestamp.nullable(),
  created_at: timestamp,
  allowed_models: z
    .array(z.string())
    .nullable()
    .optional()
    .meta({ description: 'Model aliases this key may use; null: all of its tenant’s' }),
  rate_limits: rateLimits.optional(),
  tokens_per_minute: z.number().int().nullable().optional(),
  budget: z
    .object({ amount: z.number().int().min(1), period: z.enum(['day', 'week', 'month']) })
    .nullable()
    .optional()
    .meta({
      description: 'Micro-credits per UTC day, Monday week or calendar month, reserved with each call; over it: 402 budget_exceeded',
    }),
  previous_key_expires_at: timestamp
    .nullable()
    .optional()
    .meta({ description: 'After a rotation: when the replaced secret stops working' }),
};
const apiKey = api.schema('ApiKey', z.object(keyFields));
const createdKey = api.schema(
  'CreatedKey',
  z.object({
    ...keyFields,
    key: z.string().nullable().meta({
      description: 'The secret, shown only in this response (null in an idempotent replay: the secret is never stored)',
      example: 'tg_AbC12345dEf67890gHi12345jKl67890Mn0PqR7',
    }),
  }),
);
const auditEvent = api.schema(
  'AuditEvent',
  z
    .object({
      id: z.string().meta({ example: 'aud_42' }),
      object: z.literal('audit_event'),
      at: timestamp,
      actor: z.string().meta({ description: '`admin_token`, `jwt:<subject>` or the admin key id' }),
      request_id: z.string(),
      action: z.string().meta({ example: 'key.update' }),
      target: z.string().meta({ example: 'key:key_3kT9xQ2mZ8pL1vB6nR4sW0yC' }),
      tenant_id: z.string().nullable(),
      changes: z
        .record(z.string(), z.unknown())
        .meta({ description: 'Field → {from, to} for updates; the values set for creations and proxied actions' }),
    })
    .partial(),
);
const page = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), next_cursor: z.string().nullable() });

const idempotencyHeader = z.object({
  'Idempotency-Key': z
    .string()
    .max(255)
    .optional()
    .meta({ description: 'Retries with the same key replay the first response for 24 h (Idempotent-Replayed: true)' }),
});
const tenantParams = z.object({ id: tenantIdParam.meta({ example: 'ten_3kT9xQ2mZ8pL1vB6nR4sW0yC' }) });
const keyParams = z.object({ id: keyIdParam.meta({ example: 'key_3kT9xQ2mZ8pL1vB6nR4sW0yC' }) });
const optionalBody = (schema: z.ZodType) => ({ required: false, content: { 'application/json': { schema } } });
const noTenant = errors([404, 'No such tenant']);
const noKey = errors([404, 'No such key']);
const revoked = errors([409, 'The key is revoked']);
const admin: Pick<ApiRoute, 'tags' | 'scope'> = { tags: ['admin'], scope: 'admin' };

api.route({
  ...admin,
  method: 'post',
  path: '/v1/admin/tenants',
  summary: 'Create a tenant',
  request: { headers: idempotencyHeader, body: jsonBody(api.schema('CreateTenant', createTenantBody)) },
  responses: { 201: jsonResponse('The tenant', tenant), ...errors([409, 'A tenant with this id exists'], 422) },
});
api.route({
  ...admin,
  method: 'get',
  path: '/v1/admin/tenants',
  summary: 'List tenants, newest first',
  request: { query: paginationQuery },
  responses: { 200: jsonResponse('A page of tenants', api.schema('TenantPage', page(tenant))) },
});
api.route({
  ...admin,
  method: 'get',
  path: '/v1/admin/tenants/{id}',
  summary: 'Get a tenant',
  request: { params: tenantParams },
  responses: { 200: jsonResponse('The tenant', tenant), ...noTenant },
});
api.route({
  ...admin,
  method: 'patch',
  path: '/v1/admin/tenants/{id}',
  summary: 'Rename a tenant or change its rate limits (effective on every replica at once)',
  request: { params: tenantParams, body: jsonBody(api.schema('UpdateTenant', updateTenantBody)) },
  responses: { 200: jsonResponse('The tenant', tenant), ...noTenant },
});
api.route({
  ...admin,
  method: 'post',
  path: '/v1/admin/tenants/{id}/keys',
  summary: 'Create an API key (the secret is returned once)',
  request: { params: tenantParams, headers: idempotencyHeader, body: optionalBody(api.schema('CreateKey', createKeyBody)) },
  responses: { 201: jsonResponse('The key, with its secret', createdKey), ...noTenant, ...errors(422) },
});
api.route({
  ...admin,
  method: 'get',
  path: '/v1/admin/tenants/{id}/keys',
  summary: "List a tenant's keys (never their secrets)",
  request: { params: tenantParams, query: paginationQuery },
  responses: { 200: jsonResponse('A page of keys', api.schema('KeyPage', page(apiKey))), ...noTenant },
});
api.route({
  ...admin,
  method: 'get',
  path: '/v1/admin/keys/{id}',
  summary: 'Get an API key',
  request: { params: keyParams },
  responses: { 200: jsonResponse('The key', apiKey), ...noKey },
});
api.route({
  ...admin,
  method: 'delete',
  path: '/v1/admin/keys/{id}',
  summary: 'Revoke an API key (every gateway replica refuses it within a second)',
  request: { params: keyParams },
  responses: { 200: jsonResponse('The revoked key', apiKey), ...noKey },
});
api.route({
  ...admin,
  method: 'patch',
  path: '/v1/admin/keys/{id}',
  summary:
    'Change a key: name, scopes, allowed_models (null: all), rate_limits, tokens_per_minute, budget, expires_at (every replica applies it at once)',
  request: { params: keyParams, body: jsonBody(api.schema('UpdateKey', updateKeyBody)) },
  responses: { 200: jsonResponse('The key', apiKey), ...noKey, ...revoked },
});
api.route({
  ...admin,
  method: 'post',
  path: '/v1/admin/keys/{id}/rotate',
  summary: 'A new secret for the key (shown once); the replaced one works for grace_s more seconds',
  request: { params: keyParams, headers: idempotencyHeader, body: optionalBody(api.schema('RotateKey', rotateKeyBody)) },
  responses: { 200: jsonResponse('The key with its new secret', createdKey), ...noKey, ...revoked, ...errors(422) },
});
api.route({
  ...admin,
  method: 'get',
  path: '/v1/admin/audit-log',
  summary: 'Every admin action (tenants, keys, credits, limits), newest first; append-only',
  request: { query: auditQuery },
  responses: { 200: jsonResponse('A page of events', page(auditEvent)) },
});

/**
 * The gateway's own document; GET /openapi.json merges every service's public paths into it.
 * Its server is the gateway itself: the merged document's paths are relative to it.
 */
export const openapiDocument = { ...api.build(), servers: [{ url: '/', description: 'The edge gateway this document was fetched from' }] };
