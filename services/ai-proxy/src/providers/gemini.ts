import { randomBytes } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { embeddingInputs, estimateTextTokens } from '../billing/tokens';
import type { ChatCompletion, ChatCompletionChunk, ChatRequest, FinishReason, ToolCall } from '../openai/schema';
import { contentText } from '../openai/schema';
import { UpstreamError } from './errors';
import { parseEventJson, readJson, readSse, upstreamRequest } from './http';
import { assistantCompletion, parseImageUrl, parseToolArguments, upstreamErrorMessage, usageOf } from './translate';
import { outputCapOf, type Provider, type UpstreamCall } from './types';

/** Gemini API generateContent / streamGenerateContent (alt=sse) / batchEmbedContents, translated both ways. */

type Part =
  | { text: string }
  | { inlineData: { mimeType: string; data: string } }
  | { fileData: { mimeType?: string; fileUri: string } }
  | { functionCall: { name: string; args: unknown; id?: string } }
  | { functionResponse: { name: string; response: unknown; id?: string } };

interface Content {
  role: 'user' | 'model';
  parts: Part[];
}

export interface GeminiRequest {
  contents: Content[];
  systemInstruction?: { parts: { text: string }[] };
  generationConfig: Record<string, unknown>;
  tools?: { functionDeclarations: { name: string; description?: string; parameters?: unknown }[] }[];
  toolConfig?: { functionCallingConfig: { mode: 'AUTO' | 'ANY' | 'NONE'; allowedFunctionNames?: string[] } };
}

interface GeminiResponse {
  candidates?: {
    content?: {
      role?: string;
      parts?: Partial<{ text: string; thought: boolean; functionCall: { name: string; args?: unknown; id?: string } }>[];
    };
    finishReason?: string;
    index?: number;
  }[];
  usageMetadata?: { promptTokenCount?: number; candidatesTokenCount?: number; thoughtsTokenCount?: number; totalTokenCount?: number };
  modelVersion?: string;
  responseId?: string;
  error?: { code?: number; message?: string; status?: string };
}

const unsupported = (what: string) =>
  new UpstreamError(`gemini: ${what}`, 'http', { status: 400, upstreamMessage: `${what} is not supported by this model's provider` });

/** Gemini takes an OpenAPI subset for function parameters; JSON-Schema-only keywords are dropped. */
const SCHEMA_KEYS = new Set([
  'type',
  'format',
  'description',
  'nullable',
  'enum',
  'properties',
  'required',
  'items',
  'minItems',
  'maxItems',
  'minimum',
  'maximum',
  'anyOf',
  'propertyOrdering',
  'title',
  'minLength',
  'maxLength',
  'pattern',
  'default',
]);
export function toGeminiSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toGeminiSchema);
  if (!schema || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema as Record<string, unknown>)) {
    if (!SCHEMA_KEYS.has(key)) continue;
    if (key === 'properties' && value && typeof value === 'object') {
      out[key] = Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, toGeminiSchema(v)]));
    } else out[key] = key === 'items' || key === 'anyOf' ? toGeminiSchema(value) : value;
  }
  return out;
}

function imagePart(url: string): Part {
  const image = parseImageUrl(url);
  if (!image) throw unsupported('an image URL that is neither https nor a base64 data URL');
  if ('url' in image) return { fileData: { fileUri: image.url } };
  return { inlineData: { mimeType: image.inline.mediaType, data: image.inline.data } };
}

export function toGeminiRequest(request: ChatRequest): GeminiRequest {
  const toolNames = new Map<string, string>();
  const system: string[] = [];
  const contents: Content[] = [];
  const push = (role: Content['role'], parts: Part[]) => {
    if (parts.length === 0) return;
    const last = contents[contents.length - 1];
    if (last && last.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };
  for (const message of request.messages) {
    switch (message.role) {
      case 'system':
      case 'developer':
        system.push(contentText(message.content));
        break;
      case 'user':
        if (typeof message.content === 'string') push('user', [{ text: message.content }]);
        else
          push(
            'user',
            message.content.map((part): Part => {
              if (part.type === 'text') return { text: part.text };
              if (part.type === 'image_url') return imagePart(part.image_url.url);
              return { inlineData: { mimeType: `audio/${part.input_audio.format}`, data: part.input_audio.data } };
            }),
          );
        break;
      case 'assistant': {
        const parts: Part[] = [];
        const text = contentText(message.content);
        if (text) parts.push({ text });
        for (const call of message.tool_calls ?? []) {
          toolNames.set(call.id, call.function.name);
          parts.push({ functionCall: { name: call.function.name, args: parseToolArguments(call.function.arguments) } });
        }
        push('model', parts);
        break;
      }
      case 'tool': {
        const text = contentText(message.content);
        let response: unknown = parseToolArguments(text);
        if (!text.trim().startsWith('{')) response = { content: text };
        push('user', [{ functionResponse: { name: toolNames.get(message.tool_call_id) ?? message.tool_call_id, response } }]);
        break;
      }
    }
  }
  const generationConfig: Record<string, unknown> = { candidateCount: 1, maxOutputTokens: outputCapOf(request) };
  if (request.temperature != null) generationConfig['temperature'] = request.temperature;
  if (request.top_p != null) generationConfig['topP'] = request.top_p;
  if (request.stop != null) generationConfig['stopSequences'] = Array.isArray(request.stop) ? request.stop : [request.stop];
  if (request.seed != null) generationConfig['seed'] = request.seed;
  if (request.presence_penalty != null) generationConfig['presencePenalty'] = request.presence_penalty;
  if (request.frequency_penalty != null) generationConfig['frequencyPenalty'] = request.frequency_penalty;
  if (request.response_format?.type === 'json_object') generationConfig['responseMimeType'] = 'application/json';
  if (request.response_format?.type === 'json_schema') {
    generationConfig['responseMimeType'] = 'application/json';
    if (request.response_format.json_schema.schema)
      generationConfig['responseSchema'] = toGeminiSchema(request.response_format.json_schema.schema);
  }
  const out: GeminiRequest = { contents, generationConfig };
  if (system.length) out.systemInstruction = { parts: [{ text: system.join('\n\n') }] };
  if (request.tools?.length) {
    out.tools = [
      {
        functionDeclarations: request.tools.map((t) => ({
          name: t.function.name,
          ...(t.function.description ? { description: t.function.description } : {}),
          ...(t.function.parameters ? { parameters: toGeminiSchema(t.function.parameters) } : {}),
        })),
      },
    ];
    const choice = request.tool_choice;
    if (choice === 'none') out.toolConfig = { functionCallingConfig: { mode: 'NONE' } };
    else if (choice === 'required') out.toolConfig = { functionCallingConfig: { mode: 'ANY' } };
    else if (typeof choice === 'object')
      out.toolConfig = { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [choice.function.name] } };
  }
  return out;
}

export function finishReasonOf(reason: string | undefined, hasToolCalls: boolean): FinishReason | null {
  if (!reason || reason === 'FINISH_REASON_UNSPECIFIED') return null;
  if (reason === 'STOP') return hasToolCalls ? 'tool_calls' : 'stop';
  if (reason === 'MAX_TOKENS') return 'length';
  if (['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY'].includes(reason)) return 'content_filter';
  return 'stop';
}

const callId = () => `call_${randomBytes(12).toString('base64url')}`;

function tokensOf(meta: GeminiResponse['usageMetadata']): { prompt: number; completion: number } | undefined {
  if (!meta) return undefined;
  return { prompt: meta.promptTokenCount ?? 0, completion: (meta.candidatesTokenCount ?? 0) + (meta.thoughtsTokenCount ?? 0) };
}

export function fromGeminiResponse(body: GeminiResponse, model: string): ChatCompletion {
  const candidate = body.candidates?.[0];
  let text = '';
  const toolCalls: ToolCall[] = [];
  for (const part of candidate?.content?.parts ?? []) {
    if (part.thought) continue;
    if (typeof part.text === 'string') text += part.text;
    if (part.functionCall)
      toolCalls.push({
        id: part.functionCall.id ?? callId(),
        type: 'function',
        function: { name: part.functionCall.name, arguments: JSON.stringify(part.functionCall.args ?? {}) },
      });
  }
  const usage = tokensOf(body.usageMetadata) ?? { prompt: 0, completion: 0 };
  return assistantCompletion({
    id: body.responseId ?? '',
    model: body.modelVersion ?? model,
    text,
    toolCalls,
    finishReason: finishReasonOf(candidate?.finishReason, toolCalls.length > 0) ?? 'stop',
    promptTokens: usage.prompt,
    completionTokens: usage.completion,
  });
}

function describeGeminiError(status: number, body: string): string {
  return upstreamErrorMessage(status, body, (parsed) => {
    const response = parsed as GeminiResponse | GeminiResponse[] | null;
    return (Array.isArray(response) ? response[0]?.error : response?.error)?.message;
  });
}

function headers(call: UpstreamCall, accept: string): Record<string, string> {
  return { accept, ...(call.target.apiKey ? { 'x-goog-api-key': call.target.apiKey } : {}) };
}

const modelPath = (call: UpstreamCall) => `${call.target.baseUrl}/v1beta/models/${encodeURIComponent(call.target.model)}`;

export function createGeminiProvider(agent: Dispatcher): Provider {
  return {
    async chat(request, call) {
      const res = await upstreamRequest(
        agent,
        {
          url: `${modelPath(call)}:generateContent`,
          headers: headers(call, 'application/json'),
          body: toGeminiRequest(request),
          signal: call.signal,
        },
        describeGeminiError,
      );
      const body = await readJson<GeminiResponse>(res, 'gemini generateContent', call.signal);
      if (!body?.candidates?.length) throw new UpstreamError('gemini returned no candidates', 'protocol');
      return fromGeminiResponse(body, request.model);
    },

    async *streamChat(request, call) {
      const res = await upstreamRequest(
        agent,
        {
          url: `${modelPath(call)}:streamGenerateContent?alt=sse`,
          headers: headers(call, 'text/event-stream'),
          body: toGeminiRequest(request),
          signal: call.signal,
          idleTimeoutMs: call.target.timeoutMs,
        },
        describeGeminiError,
      );
      const created = Math.floor(Date.now() / 1000);
      let id = '';
      let model = request.model;
      let started = false;
      let finishReason: string | undefined;
      let usage: { prompt: number; completion: number } | undefined;
      let toolCalls = 0;
      const chunk = (delta: ChatCompletionChunk['choices'][number]['delta'], finish: FinishReason | null = null): ChatCompletionChunk => ({
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      });
      // Gemini's SSE has no terminator: a stream is complete when a candidate carried a finishReason.
      for await (const sse of readSse(res.body, 'gemini stream', call.signal)) {
        const event = parseEventJson<GeminiResponse>(sse.data, 'gemini stream');
        if (event.error)
          throw new UpstreamError('gemini stream reported an error', 'upstream_error_event', {
            upstreamMessage: event.error.message ?? 'stream error',
          });
        id ||= event.responseId ?? '';
        model = event.modelVersion ?? model;
        if (!started) {
          started = true;
          yield chunk({ role: 'assistant', content: '' });
        }
        const candidate = event.candidates?.[0];
        for (const part of candidate?.content?.parts ?? []) {
          if (part.thought) continue;
          if (typeof part.text === 'string' && part.text) yield chunk({ content: part.text });
          if (part.functionCall) {
            yield chunk({
              tool_calls: [
                {
                  index: toolCalls++,
                  id: part.functionCall.id ?? callId(),
                  type: 'function',
                  function: { name: part.functionCall.name, arguments: JSON.stringify(part.functionCall.args ?? {}) },
                },
              ],
            });
          }
        }
        usage = tokensOf(event.usageMetadata) ?? usage;
        if (candidate?.finishReason) finishReason = candidate.finishReason;
      }
      if (!finishReason) throw new UpstreamError('gemini stream ended without a finishReason', 'protocol');
      yield chunk({}, finishReasonOf(finishReason, toolCalls > 0) ?? 'stop');
      if (usage)
        yield {
          id,
          object: 'chat.completion.chunk',
          created,
          model,
          choices: [],
          usage: usageOf(usage.prompt, usage.completion),
        };
    },

    async embed(request, call) {
      const { texts, tokenArrays } = embeddingInputs(request);
      if (tokenArrays.length) throw unsupported('token-array input');
      const model = `models/${call.target.model}`;
      const body = {
        requests: texts.map((text) => ({
          model,
          content: { parts: [{ text }] },
          ...(request.dimensions ? { outputDimensionality: request.dimensions } : {}),
        })),
      };
      const res = await upstreamRequest(
        agent,
        { url: `${modelPath(call)}:batchEmbedContents`, headers: headers(call, 'application/json'), body, signal: call.signal },
        describeGeminiError,
      );
      const parsed = await readJson<{ embeddings?: { values: number[] }[] }>(res, 'gemini embeddings', call.signal);
      if (!Array.isArray(parsed.embeddings)) throw new UpstreamError('gemini embeddings returned no data', 'protocol');
      // The embeddings API reports no usage: we count.
      const tokens = texts.reduce((n, t) => n + Math.max(1, estimateTextTokens(t)), 0);
      return {
        object: 'list',
        data: parsed.embeddings.map((e, index) => ({ object: 'embedding', index, embedding: e.values })),
        model: call.target.model,
        usage: { prompt_tokens: tokens, total_tokens: tokens },
      };
    },
  };
}
