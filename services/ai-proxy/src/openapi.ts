import { type ApiRoute, ApiDocument, errorResponse, errors as envelopeErrors, jsonBody, jsonResponse } from '@tollgate/common';
import { z } from 'zod';
import { chatRequestSchema, embeddingsRequestSchema } from './openai/schema';
import { adminUsageReportQuery, usageExportQuery, usageReportQuery, usageRequestsQuery } from './usage/reports';

/** OpenAI's error object (errors.ts, toOpenAiError): what the OpenAI-compatible routes answer. */
const openAiError = z
  .object({
    error: z.object({
      message: z.string(),
      type: z.string().meta({ examples: ['invalid_request_error', 'insufficient_quota', 'rate_limit_error', 'api_error'] }),
      code: z.string(),
      param: z.string().nullable(),
      request_id: z.string().optional(),
    }),
  })
  .openapi('OpenAiError');

const ERROR_TEXT: Record<number, string> = {
  400: 'Invalid request (validation, prompt size cap, null bytes, refused by the upstream)',
  401: 'No valid identity',
  402: 'insufficient_credits: the worst-case hold was refused',
  403: 'The credential lacks the `completion` scope',
  404: 'Unknown model (or not allowed for this tenant), or unknown job',
  409: 'The same Idempotency-Key was retried too often, or while its call still runs',
  429: 'Token-per-minute limit of the key reached (Retry-After, x-ratelimit-*-tokens), or every upstream rate limiting',
  500: 'Internal error',
  502: 'Every upstream failed',
  503: 'Every upstream breaker open, or billing unavailable',
  504: 'The request deadline passed',
};
const openAiErrors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [String(s), errorResponse(ERROR_TEXT[s] ?? 'Error', openAiError)]));
/** /v1/chat/completions, /v1/embeddings and /v1/models answer errors in OpenAI's shape; the rest (async, usage) in the envelope. */
const isOpenAiRoute = (route: ApiRoute) => /^\/v1\/(chat|embeddings|models)/.test(route.path);

const api = new ApiDocument(
  {
    title: 'Tollgate AI proxy',
    description:
      'OpenAI-compatible chat completions, embeddings and async jobs, routed over providers with fallbacks and billed through credits',
  },
  { errorAnswers: (route) => (isOpenAiRoute(route) ? openAiErrors(400, 401, 403, 500, 503) : envelopeErrors(400, 401, 403, 500, 503)) },
);

const tagsHeader = z.object({
  'x-tollgate-tags': z
    .string()
    .max(1024)
    .optional()
    .meta({
      description:
        'Up to 10 name=value pairs separated by commas (names 1-64 of [A-Za-z0-9_.-], values 1-128 of [A-Za-z0-9_.:/@+-]); 400 when malformed. Reports group by them with `group_by=tag:<name>`.',
      examples: ['team=search,feature=summary'],
    }),
});
const usage = z
  .object({
    prompt_tokens: z.number().int(),
    completion_tokens: z.number().int(),
    total_tokens: z.number().int(),
    cost: z.number().int().meta({ description: 'Tollgate: what the call cost, in micro-credits (streams: in the final usage chunk)' }),
  })
  .partial();
const chatCompletion = api.schema(
  'ChatCompletion',
  z
    .object({
      id: z.string(),
      object: z.literal('chat.completion'),
      created: z.number().int(),
      model: z.string(),
      choices: z.array(
        z
          .object({
            index: z.number().int(),
            message: z
              .object({ role: z.literal('assistant'), content: z.string().nullable(), tool_calls: z.array(z.looseObject({})).optional() })
              .partial(),
            finish_reason: z.enum(['stop', 'length', 'tool_calls', 'content_filter']).nullable(),
          })
          .partial(),
      ),
      usage: usage.optional(),
    })
    .partial(),
);
const asyncJob = api.schema(
  'AsyncJob',
  z
    .object({
      id: z.string().meta({ examples: ['acmpl_3kT9aQ...'] }),
      object: z.literal('async.job'),
      status: z.enum(['queued', 'running', 'succeeded', 'failed']),
      model: z.string(),
      status_url: z.string(),
      created_at: z.number().int(),
      completed_at: z.number().int().nullable(),
      // Unions, not .nullable(): zod-to-openapi renders a nullable $ref as allOf[$ref, object|null], which refuses null.
      result: z.union([chatCompletion, z.null()]),
      error: z.object({ code: z.string(), message: z.string() }).partial().nullable(),
      cost: z.number().int().nullable(),
    })
    .partial(),
);
const usageSums = {
  requests: z.number().int(),
  input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  cost: z.number().int().meta({ description: 'micro-credits captured' }),
};
const usageReport = api.schema(
  'UsageReport',
  z
    .object({
      object: z.literal('list'),
      group_by: z.string(),
      from: z.iso.datetime({ offset: true }),
      to: z.iso.datetime({ offset: true }),
      data: z.array(z.object({ group: z.string().nullable(), ...usageSums }).partial()),
      totals: z.object(usageSums).partial(),
    })
    .partial(),
);
const usageRequest = api.schema(
  'UsageRequest',
  z
    .object({
      id: z.string(),
      object: z.literal('usage.request'),
      created_at: z.iso.datetime({ offset: true }),
      kind: z.enum(['chat', 'embedding', 'async_chat']),
      model: z.string(),
      key_id: z.string(),
      status: z.string(),
      input_tokens: z.number().int(),
      output_tokens: z.number().int(),
      cost: z.number().int(),
      latency_ms: z.number().int(),
      request_id: z.string(),
      cached: z.boolean(),
      tags: z.record(z.string(), z.string()),
      user: z.string().nullable(),
      metadata: z.record(z.string(), z.string()).nullable(),
    })
    .partial(),
);
const modelObject = z.object({ id: z.string(), object: z.literal('model'), created: z.number().int(), owned_by: z.string() });

const costHeaders = z.object({
  'x-tollgate-cost': z.number().int().meta({ description: 'Micro-credits charged for this call' }),
  'x-tollgate-prompt-tokens': z.number().int(),
  'x-tollgate-completion-tokens': z.number().int(),
  'x-tollgate-cache': z.enum(['hit', 'miss']).optional().meta({ description: '`hit` or `miss` when the request opted in to the cache' }),
});
const completionErrors = openAiErrors(402, 404, 409, 429, 502, 504);

api.route({
  method: 'post',
  path: '/v1/chat/completions',
  summary: 'Create a chat completion (OpenAI-compatible)',
  description:
    'With `stream: true` the answer is `text/event-stream`: `data: <chat.completion.chunk>` events as the upstream produces them, ending with `data: [DONE]`. With `stream_options.include_usage` a last chunk with empty `choices` carries `usage` including `cost`. A stream that fails after its first chunk ends with a `data: {"error": {...}}` event and no `[DONE]`. Send `x-tollgate-cache: on` to use the exact-match response cache (non-streaming).',
  tags: ['ai-proxy'],
  scope: 'completion',
  request: {
    headers: tagsHeader.extend({ 'x-tollgate-cache': z.enum(['on', 'off']).optional() }),
    body: jsonBody(api.schema('ChatCompletionRequest', chatRequestSchema)),
  },
  responses: {
    200: {
      description: 'The completion, or an SSE stream of chunks',
      headers: costHeaders,
      content: {
        'application/json': { schema: chatCompletion },
        'text/event-stream': { schema: { type: 'string', description: '`data: <chat.completion.chunk>` events, then `data: [DONE]`' } },
      },
    },
    ...completionErrors,
  },
});
api.route({
  method: 'post',
  path: '/v1/embeddings',
  summary: 'Create embeddings (OpenAI-compatible)',
  tags: ['ai-proxy'],
  scope: 'completion',
  request: { headers: tagsHeader, body: jsonBody(api.schema('EmbeddingsRequest', embeddingsRequestSchema)) },
  responses: {
    200: {
      ...jsonResponse(
        'Embeddings list',
        z.object({ object: z.literal('list'), data: z.array(z.looseObject({})), model: z.string(), usage }).partial(),
      ),
      headers: costHeaders,
    },
    ...completionErrors,
  },
});
api.route({
  method: 'get',
  path: '/v1/models',
  summary: 'The models this tenant may use',
  tags: ['ai-proxy'],
  scope: ['completion', 'read'],
  responses: { 200: jsonResponse('OpenAI model list', z.object({ object: z.literal('list'), data: z.array(modelObject) })) },
});
api.route({
  method: 'get',
  path: '/v1/models/{model}',
  summary: 'One model',
  tags: ['ai-proxy'],
  scope: ['completion', 'read'],
  request: { params: z.object({ model: z.string().meta({ description: 'The alias; it may hold slashes (`openai/gpt-4o`)' }) }) },
  responses: { 200: jsonResponse('The model', modelObject), ...openAiErrors(404) },
});
api.route({
  method: 'post',
  path: '/v1/async/chat/completions',
  summary: 'Queue a chat completion',
  description:
    'Validated and accepted at once; the `ai-completions` worker runs it with the same billing. `completion.completed` / `completion.failed` webhook events announce the end.',
  tags: ['ai-proxy'],
  scope: 'completion',
  request: { headers: tagsHeader, body: jsonBody(chatRequestSchema) },
  responses: {
    202: {
      ...jsonResponse(
        'Queued',
        z
          .object({
            id: z.string(),
            object: z.literal('async.job'),
            status: z.literal('queued'),
            status_url: z.string(),
            model: z.string(),
            created_at: z.number().int(),
          })
          .partial(),
      ),
      headers: { Location: { schema: { type: 'string' } } },
    },
    ...envelopeErrors([404, ERROR_TEXT[404]!]),
  },
});
api.route({
  method: 'get',
  path: '/v1/async/jobs/{id}',
  summary: 'Status and result of a queued completion',
  tags: ['ai-proxy'],
  scope: ['completion', 'read'],
  request: { params: z.object({ id: z.string() }) },
  responses: { 200: jsonResponse('The job', asyncJob), ...envelopeErrors([404, 'No such job for this tenant']) },
});
api.route({
  method: 'get',
  path: '/v1/usage',
  summary: 'What this tenant spent, grouped by model, key, UTC day or one tag (scope read)',
  description:
    'Sums over [from, to): `totals.cost` equals what the ledger captured for those calls, in micro-credits. Days older than the raw-row retention (USAGE_RETENTION_DAYS) are answered from daily rollups, whole days only.',
  tags: ['ai-proxy'],
  scope: 'read',
  request: { query: usageReportQuery },
  responses: { 200: jsonResponse('The report', usageReport) },
});
api.route({
  method: 'get',
  path: '/v1/usage/requests',
  summary: 'One row per call, newest first (cursor-paginated)',
  tags: ['ai-proxy'],
  scope: 'read',
  request: { query: usageRequestsQuery },
  responses: { 200: jsonResponse('A page of calls', z.object({ data: z.array(usageRequest), next_cursor: z.string().nullable() })) },
});
api.route({
  method: 'get',
  path: '/v1/usage/export',
  summary: 'The same rows as CSV, streamed (oldest first)',
  tags: ['ai-proxy'],
  scope: 'read',
  request: { query: usageExportQuery },
  responses: {
    200: {
      description: 'CSV: id,created_at,kind,model,key_id,status,input_tokens,output_tokens,cost,latency_ms,request_id,cached,user,tags',
      content: { 'text/csv': { schema: { type: 'string' } } },
    },
  },
});
api.route({
  method: 'get',
  path: '/v1/admin/usage',
  summary: 'Usage across tenants, grouped by tenant, model or UTC day (scope admin)',
  tags: ['admin'],
  scope: 'admin',
  request: { query: adminUsageReportQuery },
  responses: { 200: jsonResponse('The report', usageReport) },
});

/** This service's OpenAPI 3.1 document, generated from the zod schemas above and the routes'. */
export const openapiDocument = api.build();
