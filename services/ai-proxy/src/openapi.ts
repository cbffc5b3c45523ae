import { ERROR_ENVELOPE_SCHEMA } from '@tollgate/common';
import { z } from 'zod';
import { chatRequestSchema, embeddingsRequestSchema } from './openai/schema';

const jsonSchema = (schema: z.ZodType) =>
  z.toJSONSchema(schema, { target: 'draft-2020-12', unrepresentable: 'any', io: 'input' }) as Record<string, unknown>;

const openAiError = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['message', 'type', 'code'],
      properties: {
        message: { type: 'string' },
        type: { type: 'string', examples: ['invalid_request_error', 'insufficient_quota', 'rate_limit_error', 'api_error'] },
        code: { type: 'string' },
        param: { type: ['string', 'null'] },
        request_id: { type: 'string' },
      },
    },
  },
};

/** Attribution kept on the call's usage row (also on embeddings and queued completions). */
const tagsHeader = {
  name: 'x-tollgate-tags',
  in: 'header',
  required: false,
  description: 'Up to 10 name=value pairs separated by commas (names 1-64 of [A-Za-z0-9_.-], values 1-128 of [A-Za-z0-9_.:/@+-]); 400 when malformed. Reports group by them with `group_by=tag:<name>`.',
  schema: { type: 'string', maxLength: 1024, examples: ['team=search,feature=summary'] },
};
const rangeParams = [
  { name: 'from', in: 'query', description: 'RFC 3339 time or UTC date (inclusive); default: 30 days before `to`', schema: { type: 'string' } },
  { name: 'to', in: 'query', description: 'RFC 3339 time or UTC date (exclusive); default: now', schema: { type: 'string' } },
];
const requestFilters = [
  { name: 'model', in: 'query', schema: { type: 'string' } },
  { name: 'key_id', in: 'query', schema: { type: 'string' } },
  {
    name: 'status',
    in: 'query',
    schema: { enum: ['success', 'error', 'stream_error', 'client_disconnect', 'insufficient_credits', 'rate_limited', 'cache_hit', 'billing_error'] },
  },
];
const usageSums = {
  requests: { type: 'integer' },
  input_tokens: { type: 'integer' },
  output_tokens: { type: 'integer' },
  cost: { type: 'integer', description: 'micro-credits captured' },
};
const usageReport = {
  type: 'object',
  properties: {
    object: { const: 'list' },
    group_by: { type: 'string' },
    from: { type: 'string', format: 'date-time' },
    to: { type: 'string', format: 'date-time' },
    data: { type: 'array', items: { type: 'object', properties: { group: { type: ['string', 'null'] }, ...usageSums } } },
    totals: { type: 'object', properties: usageSums },
  },
};
const usageRequest = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { const: 'usage.request' },
    created_at: { type: 'string', format: 'date-time' },
    kind: { enum: ['chat', 'embedding', 'async_chat'] },
    model: { type: 'string' },
    key_id: { type: 'string' },
    status: { type: 'string' },
    input_tokens: { type: 'integer' },
    output_tokens: { type: 'integer' },
    cost: { type: 'integer' },
    latency_ms: { type: 'integer' },
    request_id: { type: 'string' },
    cached: { type: 'boolean' },
    tags: { type: 'object', additionalProperties: { type: 'string' } },
    user: { type: ['string', 'null'] },
    metadata: { type: ['object', 'null'], additionalProperties: { type: 'string' } },
  },
};

const usage = {
  type: 'object',
  properties: {
    prompt_tokens: { type: 'integer' },
    completion_tokens: { type: 'integer' },
    total_tokens: { type: 'integer' },
    cost: { type: 'integer', description: 'Tollgate: what the call cost, in micro-credits (streams: in the final usage chunk)' },
  },
};

const chatCompletion = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { const: 'chat.completion' },
    created: { type: 'integer' },
    model: { type: 'string' },
    choices: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          index: { type: 'integer' },
          message: {
            type: 'object',
            properties: {
              role: { const: 'assistant' },
              content: { type: ['string', 'null'] },
              tool_calls: { type: 'array', items: { type: 'object' } },
            },
          },
          finish_reason: { enum: ['stop', 'length', 'tool_calls', 'content_filter', null] },
        },
      },
    },
    usage,
  },
};

const asyncJob = {
  type: 'object',
  properties: {
    id: { type: 'string', examples: ['acmpl_3kT9aQ...'] },
    object: { const: 'async.job' },
    status: { enum: ['queued', 'running', 'succeeded', 'failed'] },
    model: { type: 'string' },
    status_url: { type: 'string' },
    created_at: { type: 'integer' },
    completed_at: { type: ['integer', 'null'] },
    result: { oneOf: [chatCompletion, { type: 'null' }] },
    error: { oneOf: [{ type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } }, { type: 'null' }] },
    cost: { type: ['integer', 'null'] },
  },
};

const errors = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((s) => [
      String(s),
      { description: ERROR_TEXT[s] ?? 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/OpenAiError' } } } },
    ]),
  );

/** /v1/async is Tollgate's own API, not OpenAI's: its errors come in the platform's envelope. */
const envelopeErrors = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((s) => [String(s), { description: ERROR_TEXT[s] ?? 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }]),
  );

const errorEnvelope = ERROR_ENVELOPE_SCHEMA;

const ERROR_TEXT: Record<number, string> = {
  400: 'Invalid request (validation, prompt size cap, null bytes, refused by the upstream)',
  401: 'No valid identity',
  402: 'insufficient_credits: the worst-case hold was refused',
  403: 'The credential lacks the `completion` scope',
  404: 'Unknown model (or not allowed for this tenant), or unknown job',
  429: 'Token-per-minute limit of the key reached (Retry-After, x-ratelimit-*-tokens), or every upstream rate limiting',
  502: 'Every upstream failed',
  503: 'Every upstream breaker open, or billing unavailable',
  504: 'The request deadline passed',
};

const costHeaders = {
  'x-tollgate-cost': { description: 'Micro-credits charged for this call', schema: { type: 'integer' } },
  'x-tollgate-prompt-tokens': { schema: { type: 'integer' } },
  'x-tollgate-completion-tokens': { schema: { type: 'integer' } },
  'x-tollgate-cache': { description: '`hit` or `miss` when the request opted in to the cache', schema: { enum: ['hit', 'miss'] } },
};

/** This service's OpenAPI 3.1 document; the gateway merges every service's paths. */
export const openapiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Tollgate AI proxy',
    version: '0.1.0',
    description:
      'OpenAI-compatible chat completions, embeddings and async jobs, routed over providers with fallbacks and billed through credits',
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API key (tg_...) or JWT, checked by the edge gateway' } },
    schemas: {
      OpenAiError: openAiError,
      Error: errorEnvelope,
      ChatCompletion: chatCompletion,
      AsyncJob: asyncJob,
      ChatCompletionRequest: jsonSchema(chatRequestSchema),
      EmbeddingsRequest: jsonSchema(embeddingsRequestSchema),
    },
  },
  security: [{ bearer: [] }],
  paths: {
    '/v1/chat/completions': {
      post: {
        summary: 'Create a chat completion (OpenAI-compatible)',
        description:
          'With `stream: true` the answer is `text/event-stream`: `data: <chat.completion.chunk>` events as the upstream produces them, ending with `data: [DONE]`. With `stream_options.include_usage` a last chunk with empty `choices` carries `usage` including `cost`. A stream that fails after its first chunk ends with a `data: {"error": {...}}` event and no `[DONE]`. Send `x-tollgate-cache: on` to use the exact-match response cache (non-streaming).',
        parameters: [{ name: 'x-tollgate-cache', in: 'header', required: false, schema: { enum: ['on', 'off'] } }, tagsHeader],
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/ChatCompletionRequest' } } },
        },
        responses: {
          '200': {
            description: 'The completion, or an SSE stream of chunks',
            headers: costHeaders,
            content: {
              'application/json': { schema: { $ref: '#/components/schemas/ChatCompletion' } },
              'text/event-stream': { schema: { type: 'string' } },
            },
          },
          ...errors(400, 401, 402, 403, 404, 429, 502, 503, 504),
        },
      },
    },
    '/v1/embeddings': {
      post: {
        summary: 'Create embeddings (OpenAI-compatible)',
        parameters: [tagsHeader],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/EmbeddingsRequest' } } } },
        responses: {
          '200': {
            description: 'Embeddings list',
            headers: costHeaders,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: { object: { const: 'list' }, data: { type: 'array' }, model: { type: 'string' }, usage },
                },
              },
            },
          },
          ...errors(400, 401, 402, 403, 404, 429, 502, 503, 504),
        },
      },
    },
    '/v1/models': {
      get: {
        summary: 'The models this tenant may use',
        responses: {
          '200': {
            description: 'OpenAI model list',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: {
                    object: { const: 'list' },
                    data: {
                      type: 'array',
                      items: {
                        type: 'object',
                        properties: {
                          id: { type: 'string' },
                          object: { const: 'model' },
                          created: { type: 'integer' },
                          owned_by: { type: 'string' },
                        },
                      },
                    },
                  },
                },
              },
            },
          },
          ...errors(401, 403),
        },
      },
    },
    '/v1/models/{model}': {
      get: {
        summary: 'One model',
        parameters: [{ name: 'model', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': { description: 'The model' }, ...errors(401, 403, 404) },
      },
    },
    '/v1/async/chat/completions': {
      post: {
        summary: 'Queue a chat completion',
        parameters: [tagsHeader],
        description:
          'Validated and accepted at once; the `ai-completions` worker runs it with the same billing. `completion.completed` / `completion.failed` webhook events announce the end.',
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/ChatCompletionRequest' } } },
        },
        responses: {
          '202': {
            description: 'Queued',
            headers: { Location: { schema: { type: 'string' } } },
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: { id: { type: 'string' }, status: { const: 'queued' }, status_url: { type: 'string' } },
                },
              },
            },
          },
          ...envelopeErrors(400, 401, 403, 404, 503),
        },
      },
    },
    '/v1/async/jobs/{id}': {
      get: {
        summary: 'Status and result of a queued completion',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          '200': { description: 'The job', content: { 'application/json': { schema: { $ref: '#/components/schemas/AsyncJob' } } } },
          ...envelopeErrors(401, 403, 404),
        },
      },
    },
    '/v1/usage': {
      get: {
        summary: 'What this tenant spent, grouped by model, key, UTC day or one tag (scope read)',
        description:
          'Sums over [from, to): `totals.cost` equals what the ledger captured for those calls, in micro-credits. Days older than the raw-row retention (USAGE_RETENTION_DAYS) are answered from daily rollups, whole days only.',
        parameters: [
          ...rangeParams,
          { name: 'group_by', in: 'query', schema: { type: 'string', default: 'model', pattern: '^(model|key|day|tag:[A-Za-z0-9_.-]{1,64})$' } },
        ],
        responses: {
          '200': { description: 'The report', content: { 'application/json': { schema: usageReport } } },
          ...envelopeErrors(400, 401, 403),
        },
      },
    },
    '/v1/usage/requests': {
      get: {
        summary: 'One row per call, newest first (cursor-paginated)',
        parameters: [
          ...rangeParams,
          ...requestFilters,
          { name: 'cursor', in: 'query', schema: { type: 'string' } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
        ],
        responses: {
          '200': {
            description: 'A page of calls',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: { data: { type: 'array', items: usageRequest }, next_cursor: { type: ['string', 'null'] } },
                },
              },
            },
          },
          ...envelopeErrors(400, 401, 403),
        },
      },
    },
    '/v1/usage/export': {
      get: {
        summary: 'The same rows as CSV, streamed (oldest first)',
        parameters: [...rangeParams, ...requestFilters, { name: 'format', in: 'query', schema: { const: 'csv', default: 'csv' } }],
        responses: {
          '200': { description: 'CSV: id,created_at,kind,model,key_id,status,input_tokens,output_tokens,cost,latency_ms,request_id,cached,user,tags', content: { 'text/csv': { schema: { type: 'string' } } } },
          ...envelopeErrors(400, 401, 403),
        },
      },
    },
    '/v1/admin/usage': {
      get: {
        summary: 'Usage across tenants, grouped by tenant, model or UTC day (scope admin)',
        parameters: [
          ...rangeParams,
          { name: 'group_by', in: 'query', schema: { enum: ['tenant', 'model', 'day'], default: 'tenant' } },
          { name: 'tenant_id', in: 'query', schema: { type: 'string' } },
        ],
        responses: {
          '200': { description: 'The report', content: { 'application/json': { schema: usageReport } } },
          ...envelopeErrors(400, 401, 403),
        },
      },
    },
  } as Record<string, unknown>,
};
