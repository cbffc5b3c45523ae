import { z } from 'zod';

/**
 * OpenAI-compatible request bodies, validated before anything is billed or sent upstream.
 * Unknown top-level fields are kept (passed on to OpenAI-compatible upstreams only), so newer
 * SDK parameters do not break clients; every field we read is checked.
 */

const MAX_TEXT = 2_000_000;
const text = z.string().max(MAX_TEXT);

const textPart = z.object({ type: z.literal('text'), text }).strict();
const imagePart = z
  .object({
    type: z.literal('image_url'),
    image_url: z.object({ url: z.string().min(1).max(MAX_TEXT), detail: z.enum(['auto', 'low', 'high']).optional() }).strict(),
  })
  .strict();
const audioPart = z
  .object({
    type: z.literal('input_audio'),
    input_audio: z.object({ data: z.string().max(MAX_TEXT), format: z.enum(['wav', 'mp3']) }).strict(),
  })
  .strict();
const refusalPart = z.object({ type: z.literal('refusal'), refusal: text }).strict();

const userContent = z.union([
  text,
  z
    .array(z.discriminatedUnion('type', [textPart, imagePart, audioPart]))
    .min(1)
    .max(256),
]);
const textContent = z.union([text, z.array(textPart).min(1).max(256)]);

const name = z.string().min(1).max(64).optional();

export const toolCallSchema = z
  .object({
    id: z.string().min(1).max(200),
    type: z.literal('function'),
    function: z.object({ name: z.string().min(1).max(64), arguments: z.string().max(MAX_TEXT) }).strict(),
  })
  .strict();

export const messageSchema = z.discriminatedUnion('role', [
  z.object({ role: z.literal('system'), content: textContent, name }).strict(),
  z.object({ role: z.literal('developer'), content: textContent, name }).strict(),
  z.object({ role: z.literal('user'), content: userContent, name }).strict(),
  z
    .object({
      role: z.literal('assistant'),
      content: z
        .union([text, z.array(z.discriminatedUnion('type', [textPart, refusalPart])).max(256)])
        .nullable()
        .optional(),
      name,
      refusal: z.string().nullable().optional(),
      tool_calls: z.array(toolCallSchema).max(128).optional(),
    })
    .strict()
    .refine((m) => (m.content !== null && m.content !== undefined) || (m.tool_calls?.length ?? 0) > 0, {
      message: 'an assistant message needs content or tool_calls',
      path: ['content'],
    }),
  z.object({ role: z.literal('tool'), content: textContent, tool_call_id: z.string().min(1).max(200) }).strict(),
]);

const functionName = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, _ or -');

export const toolSchema = z
  .object({
    type: z.literal('function'),
    function: z
      .object({
        name: functionName,
        description: z.string().max(10_000).optional(),
        parameters: z.record(z.string(), z.unknown()).optional(),
        strict: z.boolean().nullable().optional(),
      })
      .strict(),
  })
  .strict();

export const toolChoiceSchema = z.union([
  z.enum(['none', 'auto', 'required']),
  z.object({ type: z.literal('function'), function: z.object({ name: functionName }).strict() }).strict(),
]);

const responseFormat = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }).strict(),
  z.object({ type: z.literal('json_object') }).strict(),
  z
    .object({
      type: z.literal('json_schema'),
      json_schema: z
        .object({
          name: functionName,
          description: z.string().optional(),
          schema: z.record(z.string(), z.unknown()).optional(),
          strict: z.boolean().nullable().optional(),
        })
        .strict(),
    })
    .strict(),
]);

export const chatRequestSchema = z.looseObject({
  model: z.string().min(1).max(256),
  messages: z.array(messageSchema).min(1).max(4_096),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).strict().nullable().optional(),
  max_tokens: z.number().int().min(1).nullable().optional(),
  max_completion_tokens: z.number().int().min(1).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  n: z.literal(1, 'only n = 1 is supported').nullable().optional(),
  stop: z
    .union([z.string().min(1).max(1_000), z.array(z.string().min(1).max(1_000)).max(4)])
    .nullable()
    .optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  logit_bias: z.record(z.string(), z.number().min(-100).max(100)).nullable().optional(),
  logprobs: z.boolean().nullable().optional(),
  top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
  seed: z.number().int().nullable().optional(),
  user: z.string().max(256).optional(),
  /** OpenAI's shape: at most 16 pairs, names up to 64 and values up to 512 characters; kept on the usage row. */
  metadata: z
    .record(z.string().min(1).max(64), z.string().max(512))
    .refine((m) => Object.keys(m).length <= 16, 'at most 16 metadata pairs')
    .optional(),
  response_format: responseFormat.optional(),
  tools: z.array(toolSchema).max(128).optional(),
  tool_choice: toolChoiceSchema.optional(),
  parallel_tool_calls: z.boolean().optional(),
});

export type ChatRequest = z.infer<typeof chatRequestSchema>;
export type ChatMessage = z.infer<typeof messageSchema>;
export type ToolCall = z.infer<typeof toolCallSchema>;
export type Tool = z.infer<typeof toolSchema>;

export const embeddingsRequestSchema = z.looseObject({
  model: z.string().min(1).max(256),
  input: z.union([
    z.string().min(1).max(MAX_TEXT),
    z.array(z.string().min(1).max(MAX_TEXT)).min(1).max(2_048),
    z.array(z.number().int().min(0)).min(1).max(100_000),
    z
      .array(z.array(z.number().int().min(0)).min(1).max(100_000))
      .min(1)
      .max(2_048),
  ]),
  encoding_format: z.enum(['float', 'base64']).optional(),
  dimensions: z.number().int().min(1).max(16_384).optional(),
  user: z.string().max(256).optional(),
});

export type EmbeddingsRequest = z.infer<typeof embeddingsRequestSchema>;

/** Wire types of what we answer (OpenAI's shapes). */
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Added by Tollgate: what the call cost, in micro-credits. */
  cost?: number;
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: {
    index: number;
    message: { role: 'assistant'; content: string | null; refusal?: string | null; tool_calls?: ToolCall[] };
    logprobs: unknown;
    finish_reason: FinishReason | null;
  }[];
  usage?: Usage;
  system_fingerprint?: string | null;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call';

export interface ChunkToolCall {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  system_fingerprint?: string | null;
  choices: {
    index: number;
    delta: { role?: 'assistant'; content?: string | null; refusal?: string | null; tool_calls?: ChunkToolCall[] };
    logprobs?: unknown;
    finish_reason: FinishReason | null;
  }[];
  usage?: Usage | null;
}

export interface EmbeddingsResponse {
  object: 'list';
  data: { object: 'embedding'; index: number; embedding: number[] | string }[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number; cost?: number };
}

/** Text of a message's content, for token counting and the providers that want plain text. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let out = '';
  for (const part of content as { type?: string; text?: string; refusal?: string }[]) {
    if (part?.type === 'text' && typeof part.text === 'string') out += part.text;
    else if (part?.type === 'refusal' && typeof part.refusal === 'string') out += part.refusal;
  }
  return out;
}
